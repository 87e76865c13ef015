"""A lifecycle that cannot end unpaged: the real incident-lifecycle ASL on the emulator's Step Functions, its tasks run
in-process, pages delivered to a fake Telegram Bot API on 127.0.0.1, faults injected through ``infra.local.faults``.

- a ``Plan`` that keeps failing → the fallback pages everyone on the policy and the timeline says why;
- a policy that cannot be read → the fallback pages the admins;
- ``StartExecution`` throttled past every retry → the sweep starts the lifecycle once the bound has passed, never
  before, and never a second one for an incident that has one;
- even the fallback failing → the execution fails, and the sweep starts a restart that pages.

Retry intervals run on the emulator's clock: ``drive`` moves it on while waiting, so no test sleeps through them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.local.faults import FAULTS
from oncall.domain.escalation import Level, Target, TargetType
from oncall.domain.users import Role, User
from tests.support.identity import login_as, make_user
from tests.support.lambdas import call_api
from tests.support.lifecycle import Stack, lifecycle_stack, wait_until
from tests.support.telegram import linked_user


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with lifecycle_stack() as s:
        yield s


@pytest.fixture(autouse=True)
def no_faults() -> Iterator[None]:
    FAULTS.clear()
    yield
    FAULTS.clear()


@pytest.fixture(scope="module")
def admin(stack: Stack) -> User:
    return make_user(Role.ADMIN)


def service_with(admin: User, levels: list[Level]) -> str:
    from oncall import wiring

    catalog = wiring.incidents.catalog_service()
    created = catalog.create_policy(admin, name="p", levels=levels)
    service, _ = catalog.create_service(admin, name="svc", escalation_policy_id=created.id)
    return service.id


def person(timeout: int) -> tuple[User, int, Level]:
    user, chat = linked_user()
    return user, chat, Level((Target(TargetType.USER, user.id),), timeout)


def open_incident(service_id: str) -> dict[str, Any]:
    session = login_as(Role.RESPONDER)
    got = call_api(
        "POST",
        "/incidents",
        headers=session.headers,
        body={"title": "Checkout returns 502", "service_id": service_id, "severity": "high"},
    )
    assert got.status == 201, got.raw
    return got.json  # type: ignore[no-any-return]


def timeline(incident_id: str) -> list[dict[str, Any]]:
    from oncall import wiring

    entries, _ = wiring.incidents.incident_store().timeline(incident_id, 500, None)
    return [e.to_dict() for e in entries]


def of_kind(incident_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in timeline(incident_id) if e["kind"] == kind]


def pages_to(stack: Stack, chat: int, incident_id: str) -> list[dict[str, Any]]:
    def is_page(m: dict[str, Any]) -> bool:
        rows = (m.get("reply_markup") or {}).get("inline_keyboard", [])
        return any(b.get("callback_data") == f"inc:ack:{incident_id}" for row in rows for b in row)

    return [m for m in stack.telegram.sent(chat) if is_page(m)]


def states(stack: Stack, name: str) -> list[str]:
    arn = next(
        e["executionArn"]
        for e in stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"]
        if e["name"] == name
    )
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in stack.history(arn)
        if e["type"].endswith("StateEntered") and "stateEnteredEventDetails" in e
    ]


def drive[T](stack: Stack, predicate: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Wait for ``predicate``, moving the emulator's clock 5 s on every 0.1 s so retry intervals pass at once."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        stack.emulator.advance_clock(timedelta(seconds=5))
        time.sleep(0.1)


def sweep_at(stack: Stack, at: datetime) -> dict[str, Any]:
    """The lifecycle-sweep schedule's invocation of ``incident_starter``, as EventBridge sends it at ``at``."""
    event = {
        "version": "0",
        "id": "sweep",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": [],
        "detail": {},
    }
    result = stack.invoker.invoke("incident_starter", event)
    assert result.ok, result.payload
    return result.payload  # type: ignore[no-any-return]


def test_a_failing_plan_pages_everyone_on_the_policy_and_says_why(stack: Stack, admin: User) -> None:
    _, chat1, level1 = person(3600)
    _, chat2, level2 = person(3600)
    service = service_with(admin, [level1, level2])
    FAULTS.fail_task("escalation", "plan", error="PlanBroken")
    inc = open_incident(service)
    name = f"{inc['id']}-1"
    drive(stack, lambda: of_kind(inc["id"], "fallback"), what="the fallback")
    # both levels paged at once, not level 1 and then level 2 after its hour
    wait_until(lambda: pages_to(stack, chat1, inc["id"]) and pages_to(stack, chat2, inc["id"]), what="both pages")
    fallback = of_kind(inc["id"], "fallback")
    assert len(fallback) == 1
    assert fallback[0]["data"]["error"] == "PlanBroken" and fallback[0]["data"]["to_admins"] is False
    assert "Escalation failed (PlanBroken)" in fallback[0]["text"] and "2 reached" in fallback[0]["text"]
    pages = of_kind(inc["id"], "page")
    assert {p["data"]["status"] for p in pages} == {"sent"} and all(p["data"]["fallback"] for p in pages)
    assert len(pages) == 2
    # Plan was tried 4 times (1 + 3 retries) before the fallback; nothing paged by the policy's levels
    assert FAULTS.injected.count("escalation:plan:PlanBroken") == 4
    assert not of_kind(inc["id"], "paging")
    wait_until(lambda: states(stack, name)[-1] == "Hold", what="hold after the fallback")
    assert stack.executions(inc["id"])[0]["status"] == "RUNNING"
    # the fault is fixed; an acknowledgement ends the hold and the lifecycle goes on normally
    FAULTS.clear()
    session = login_as(Role.RESPONDER)
    assert call_api("POST", f"/incidents/{inc['id']}/acknowledge", headers=session.headers).status == 200
    wait_until(lambda: states(stack, name).count("Hold") == 2, what="acknowledged hold")

    # the fallback's pages were rewritten as acknowledged (their refs are on the timeline)
    def acknowledged_on_phone(chat: int) -> bool:
        found = [m for (c, _), m in stack.telegram.messages.items() if c == str(chat) and inc["id"] in m["text"]]
        return bool(found) and all("Acknowledged by" in m["text"] for m in found)

    wait_until(lambda: acknowledged_on_phone(chat1) and acknowledged_on_phone(chat2), what="pages edited")
    assert len(pages_to(stack, chat1, inc["id"])) == 1 and len(pages_to(stack, chat2, inc["id"])) == 1


def test_a_policy_that_cannot_be_read_pages_the_admins(stack: Stack, admin: User) -> None:
    from oncall import wiring

    on_call, _, level1 = person(3600)
    boss, boss_chat = linked_user(role=Role.ADMIN)
    service_id = service_with(admin, [level1])
    catalog = wiring.incidents.catalog_store()
    service = catalog.get_service(service_id)
    assert service is not None
    catalog.update_service(service, replace(service, escalation_policy_id="gone", version=service.version + 1))
    inc = open_incident(service_id)
    wait_until(lambda: pages_to(stack, boss_chat, inc["id"]), what="the admin's page")
    fallback = wait_until(lambda: of_kind(inc["id"], "fallback"), what="fallback entry")
    assert fallback[0]["data"]["error"] == "PolicyUnavailable" and fallback[0]["data"]["to_admins"] is True
    assert boss.id in fallback[0]["data"]["notified"] and on_call.id not in fallback[0]["data"]["notified"]
    assert "every admin" in fallback[0]["text"]

    # PolicyUnavailable is not retried: one Plan, then the fallback (the fallback's line is written before its task
    # returns, so the execution may not have entered the next state yet when the line is seen)
    def past_the_fallback() -> list[str]:
        history = states(stack, f"{inc['id']}-1")
        return history if len(history) >= 3 else []

    assert wait_until(past_the_fallback, what="the state after the fallback")[:3] == ["Plan", "Fallback", "Route"]


def test_a_start_refused_past_its_retries_is_made_by_the_sweep_within_its_bound(stack: Stack, admin: User) -> None:
    _, chat, level1 = person(3600)
    service = service_with(admin, [level1])
    FAULTS.throttle_start_execution(per_second=0, burst=0)
    try:
        inc = open_incident(service)
        opened = datetime.now(UTC)

        # the publisher tried for its second and gave up without holding its batch back: the event went on to the
        # bus, no lifecycle, nobody paged
        def batches() -> list[Any]:
            return [c for c in stack.invoker.calls if c.function == "publisher" and inc["id"] in json.dumps(c.event)]

        published = wait_until(batches, what="the publisher's batch")
        assert all(c.result.ok and c.result.payload == {"batchItemFailures": []} for c in published)
        assert FAULTS.injected.count("StartExecution:ThrottlingException") >= 1
        assert stack.executions(inc["id"]) == []
        assert not pages_to(stack, chat, inc["id"])
        FAULTS.clear()
        # within the bound the sweep leaves it alone
        early = sweep_at(stack, opened + timedelta(minutes=1))
        assert f"{inc['id']}-1" not in early["started"]
        assert stack.executions(inc["id"]) == []
        # past it, the sweep starts the lifecycle, which pages
        late = sweep_at(stack, opened + timedelta(minutes=3))
        assert f"{inc['id']}-1" in late["started"]
        wait_until(lambda: pages_to(stack, chat, inc["id"]), what="the page")
        assert [e["name"] for e in stack.executions(inc["id"])] == [f"{inc['id']}-1"]
    finally:
        FAULTS.clear()


def test_the_sweep_never_starts_a_second_lifecycle(stack: Stack, admin: User) -> None:
    _, chat, level1 = person(3600)
    service = service_with(admin, [level1])
    inc = open_incident(service)
    wait_until(lambda: pages_to(stack, chat, inc["id"]), what="the page")
    later = datetime.now(UTC) + timedelta(minutes=5)
    for _ in range(2):
        swept = sweep_at(stack, later)
        assert not [n for n in swept["started"] if n.startswith(inc["id"])]
    assert swept["running"] >= 1
    assert [e["name"] for e in stack.executions(inc["id"])] == [f"{inc['id']}-1"]
    time.sleep(0.3)
    assert len(pages_to(stack, chat, inc["id"])) == 1


def test_a_failed_execution_is_restarted_once_by_the_sweep(stack: Stack, admin: User) -> None:
    _, chat, level1 = person(3600)
    service = service_with(admin, [level1])
    FAULTS.fail_task("escalation", "plan", error="PlanBroken")
    FAULTS.fail_task("escalation", "fallback", error="FallbackBroken")
    inc = open_incident(service)

    def failed() -> bool:
        found = stack.executions(inc["id"])
        return bool(found) and found[0]["status"] == "FAILED"

    drive(stack, failed, what="the failed execution", timeout=60)
    assert states(stack, f"{inc['id']}-1")[-2:] == ["Fallback", "LifecycleFailed"]
    assert FAULTS.injected.count("escalation:fallback:FallbackBroken") == 5  # 1 + 4 retries
    assert not pages_to(stack, chat, inc["id"])
    FAULTS.clear()
    later = datetime.now(UTC) + timedelta(minutes=5)
    sweep_at(stack, later)
    wait_until(lambda: pages_to(stack, chat, inc["id"]), what="the page of the restart")
    again = sweep_at(stack, later)
    assert not [n for n in again["started"] if n.startswith(inc["id"])]
    names = [(e["name"], e["status"]) for e in stack.executions(inc["id"])]
    assert names == [(f"{inc['id']}-1", "FAILED"), (f"{inc['id']}-1-r1", "RUNNING")]
    assert len(pages_to(stack, chat, inc["id"])) == 1


def test_a_failing_fallback_is_logged_and_counted(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    # a state the fallback cannot work with (no incident id): the task fails, and says so loudly first
    result = stack.invoker.invoke("escalation", {"action": "fallback", "state": {"generation": 1}})
    assert not result.ok and result.error_type == "KeyError"
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    counted = [m for m in metrics if m.get("LifecycleFallbackFailed") == [1.0] or m.get("LifecycleFallbackFailed") == 1]
    assert counted and counted[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OnCallHub"
