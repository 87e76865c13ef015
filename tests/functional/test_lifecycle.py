"""The real incident-lifecycle ASL executed by the emulator's Step Functions, its Lambda tasks run in-process, pages
delivered to a fake Telegram Bot API on 127.0.0.1, with second-scale timeouts.

Each test opens its own incident on its own service and policy; one emulator serves the module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.domain.escalation import Level, Target, TargetType
from oncall.domain.users import Role, User
from tests.support.identity import login_as, make_user
from tests.support.lambdas import call_api
from tests.support.lifecycle import Stack, lifecycle_stack, wait_until
from tests.support.telegram import callback_update, linked_user, post_update


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with lifecycle_stack() as s:
        yield s


@pytest.fixture(scope="module")
def admin(stack: Stack) -> User:
    return make_user(Role.ADMIN)


def service_with(admin: User, levels: list[Level], **policy: Any) -> str:
    from oncall import wiring

    catalog = wiring.incidents.catalog_service()
    created = catalog.create_policy(admin, name="p", levels=levels, **policy)
    service, _ = catalog.create_service(admin, name="svc", escalation_policy_id=created.id)
    return service.id


def person(timeout: int) -> tuple[User, int, Level]:
    user, chat = linked_user()
    return user, chat, Level((Target(TargetType.USER, user.id),), timeout)


def open_incident(headers: dict[str, str], service_id: str, title: str = "Checkout returns 502") -> dict[str, Any]:
    got = call_api(
        "POST", "/incidents", headers=headers, body={"title": title, "service_id": service_id, "severity": "high"}
    )
    assert got.status == 201, got.raw
    return got.json  # type: ignore[no-any-return]


def timeline(incident_id: str) -> list[dict[str, Any]]:
    from oncall import wiring

    entries, _ = wiring.incidents.incident_store().timeline(incident_id, 500, None)
    return [e.to_dict() for e in entries]


def kinds(incident_id: str) -> list[str]:
    return [e["kind"] for e in timeline(incident_id)]


def pages_to(stack: Stack, chat: int, incident_id: str) -> list[dict[str, Any]]:
    """Pages (and the exhausted notice) about ``incident_id``: messages carrying its Acknowledge button, so other
    messages about the incident (e.g. fan-out notifications) do not count."""

    def is_page(m: dict[str, Any]) -> bool:
        rows = (m.get("reply_markup") or {}).get("inline_keyboard", [])
        return any(b.get("callback_data") == f"inc:ack:{incident_id}" for row in rows for b in row)

    return [m for m in stack.telegram.sent(chat) if is_page(m)]


def incident(incident_id: str) -> Any:
    from oncall import wiring

    return wiring.incidents.incident_store().get(incident_id)


def execution_states(stack: Stack, incident_id: str, generation: int = 1) -> list[str]:
    arn = next(e["executionArn"] for e in stack.executions(incident_id) if e["name"] == f"{incident_id}-{generation}")
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in stack.history(arn)
        if e["type"].endswith("StateEntered") and "stateEnteredEventDetails" in e
    ]


def test_no_ack_pages_level_2_after_level_1_timeout(stack: Stack, admin: User) -> None:
    _, chat1, level1 = person(2)
    _, chat2, level2 = person(2)
    service = service_with(admin, [level1, level2])
    session = login_as(Role.RESPONDER)
    opened_before = time.monotonic()
    inc = open_incident(session.headers, service)
    wait_until(lambda: pages_to(stack, chat1, inc["id"]), what="level 1 page")
    page = pages_to(stack, chat1, inc["id"])[0]
    buttons = page["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == [f"inc:ack:{inc['id']}", f"inc:res:{inc['id']}"]
    assert not pages_to(stack, chat2, inc["id"])
    wait_until(lambda: pages_to(stack, chat2, inc["id"]), what="level 2 page")
    # level 1's 2-second wait ran. It counts from when the incident entered level 1, as an escalation timeout does,
    # not from when level 1's page was delivered (a slow first page must not delay level 2), so level 2 is timed
    # from before the incident was opened, where the sandbox answered its page (a loaded machine notices late)
    level_2_page = next(
        c.at for c in stack.telegram.of("sendMessage") if c.params is pages_to(stack, chat2, inc["id"])[0]
    )
    assert level_2_page - opened_before >= 1.9
    stored = incident(inc["id"])
    assert stored.escalation_level == 2 and stored.status.value == "triggered"
    expected = ["triggered", "paging", "page", "escalated", "page"]
    wait_until(lambda: kinds(inc["id"])[:5] == expected, timeout=2, what=f"timeline {expected}")
    # after level 2 also times out, the policy is exhausted: everyone on it is told once and it is marked
    wait_until(lambda: incident(inc["id"]).exhausted, what="exhausted")
    assert "exhausted" in kinds(inc["id"])
    wait_until(lambda: len(pages_to(stack, chat1, inc["id"])) == 2 and len(pages_to(stack, chat2, inc["id"])) == 2)
    assert "Nobody acknowledged" in pages_to(stack, chat1, inc["id"])[1]["text"]
    assert [e["name"] for e in stack.executions(inc["id"])] == [f"{inc['id']}-1"]
    # exhausted is not the end: an acknowledgement still works and ends the hold
    acked = call_api("POST", f"/incidents/{inc['id']}/acknowledge", headers=session.headers)
    assert acked.status == 200
    wait_until(lambda: execution_states(stack, inc["id"]).count("Hold") >= 2, what="hold after ack")


def test_ack_by_api_at_level_1_stops_paging(stack: Stack, admin: User) -> None:
    _, chat1, level1 = person(2)
    _, chat2, level2 = person(2)
    service = service_with(admin, [level1, level2])
    session = login_as(Role.RESPONDER)
    inc = open_incident(session.headers, service)
    wait_until(lambda: pages_to(stack, chat1, inc["id"]), what="level 1 page")
    acked = call_api("POST", f"/incidents/{inc['id']}/acknowledge", headers=session.headers)
    assert acked.status == 200 and acked.json["status"] == "acknowledged"
    # the token was answered: the execution moves on to Hold at once, not after the 2-second timeout
    wait_until(lambda: "Hold" in execution_states(stack, inc["id"]), timeout=1.5, what="hold")
    time.sleep(2.5)  # past level 1's timeout: nothing more is paged
    assert not pages_to(stack, chat2, inc["id"])
    assert len(pages_to(stack, chat1, inc["id"])) == 1
    assert "escalated" not in kinds(inc["id"])
    assert stack.executions(inc["id"])[0]["status"] == "RUNNING"  # holding until resolve
    # the page on the phone now says who acknowledged (acked over HTTP, not from this message); Resolve stays
    page = next(m for (c, _), m in stack.telegram.messages.items() if c == str(chat1) and inc["id"] in m["text"])
    assert f"Acknowledged by {session.user.display_name} at" in page["text"]
    assert [b["callback_data"] for b in page["reply_markup"]["inline_keyboard"][0]] == [f"inc:res:{inc['id']}"]
    assert call_api("POST", f"/incidents/{inc['id']}/resolve", headers=session.headers).status == 200

    def resolved_on_phone() -> bool:
        current = stack.telegram.messages[(str(chat1), page["message_id"])]
        return "Resolved by" in current["text"] and "reply_markup" not in current

    wait_until(resolved_on_phone, timeout=5, what="the page rewritten as resolved, without buttons")


def test_ack_by_telegram_button_stops_paging_and_edits_the_message(stack: Stack, admin: User) -> None:
    user, chat1, level1 = person(2)
    _, chat2, level2 = person(2)
    service = service_with(admin, [level1, level2])
    inc = open_incident(login_as(Role.RESPONDER).headers, service)
    wait_until(lambda: pages_to(stack, chat1, inc["id"]), what="level 1 page")
    page = pages_to(stack, chat1, inc["id"])[0]
    message = next(m for (c, _), m in stack.telegram.messages.items() if c == str(chat1) and inc["id"] in m["text"])
    result = post_update(callback_update(chat1, f"inc:ack:{inc['id']}", message))
    assert result.status == 200
    stored = incident(inc["id"])
    assert stored.status.value == "acknowledged" and stored.acknowledged_by == user.id
    answers = [c.params for c in stack.telegram.of("answerCallbackQuery")]
    assert "Acknowledged" in answers[-1]["text"]
    edited = stack.telegram.messages[(str(chat1), message["message_id"])]
    assert f"Acknowledged by {user.display_name} at" in edited["text"]
    assert edited["text"] != page["text"]
    # only Resolve is left on the pressed message
    assert [b["callback_data"] for b in edited["reply_markup"]["inline_keyboard"][0]] == [f"inc:res:{inc['id']}"]
    wait_until(lambda: "Hold" in execution_states(stack, inc["id"]), timeout=1.5, what="hold")
    time.sleep(2.5)
    assert not pages_to(stack, chat2, inc["id"])
    ack = [e for e in timeline(inc["id"]) if e["kind"] == "acknowledge"]
    assert len(ack) == 1 and ack[0]["data"]["channel"] == "telegram"
    # a second press of a stale button changes nothing and says why
    post_update(callback_update(chat1, f"inc:ack:{inc['id']}", message))
    assert "Already acknowledged" in stack.telegram.of("answerCallbackQuery")[-1].params["text"]
    # a viewer's linked chat may not act
    viewer, viewer_chat = linked_user(role=Role.VIEWER)
    viewers_copy = {**message, "chat": {"id": viewer_chat, "type": "private"}}
    post_update(callback_update(viewer_chat, f"inc:res:{inc['id']}", viewers_copy))
    assert incident(inc["id"]).status.value == "acknowledged"
    assert "requires role" in stack.telegram.of("answerCallbackQuery")[-1].params["text"]
    del viewer


def test_resolve_then_auto_close_ends_the_execution(stack: Stack, admin: User) -> None:
    _, chat1, level1 = person(30)
    service = service_with(admin, [level1], auto_close_seconds=2)
    session = login_as(Role.RESPONDER)
    inc = open_incident(session.headers, service)
    wait_until(lambda: pages_to(stack, chat1, inc["id"]), what="page")
    resolved = call_api("POST", f"/incidents/{inc['id']}/resolve", headers=session.headers)
    assert resolved.status == 200
    resolved_at = time.monotonic()
    wait_until(lambda: incident(inc["id"]).status.value == "closed", timeout=10, what="auto-close")
    assert time.monotonic() - resolved_at >= 1.5
    wait_until(lambda: stack.executions(inc["id"])[0]["status"] == "SUCCEEDED", what="execution done")
    assert [k for k in kinds(inc["id"]) if k in ("resolve", "auto_close")] == ["resolve", "auto_close"]
    assert incident(inc["id"]).closed_at is not None


def test_close_by_hand_ends_the_wait_at_once(stack: Stack, admin: User) -> None:
    _, chat1, level1 = person(30)
    service = service_with(admin, [level1], auto_close_seconds=3600)
    session = login_as(Role.RESPONDER)
    inc = open_incident(session.headers, service)
    wait_until(lambda: pages_to(stack, chat1, inc["id"]), what="page")
    assert call_api("POST", f"/incidents/{inc['id']}/resolve", headers=session.headers).status == 200
    wait_until(lambda: execution_states(stack, inc["id"]).count("Hold") == 1, what="resolved hold")
    assert call_api("POST", f"/incidents/{inc['id']}/close", headers=session.headers).status == 200
    wait_until(lambda: stack.executions(inc["id"])[0]["status"] == "SUCCEEDED", timeout=3, what="execution done")


def test_reopen_starts_a_new_execution(stack: Stack, admin: User) -> None:
    _, chat1, level1 = person(30)
    service = service_with(admin, [level1], auto_close_seconds=3600)
    session = login_as(Role.RESPONDER)
    inc = open_incident(session.headers, service)
    wait_until(lambda: pages_to(stack, chat1, inc["id"]), what="page")
    assert call_api("POST", f"/incidents/{inc['id']}/resolve", headers=session.headers).status == 200
    wait_until(lambda: execution_states(stack, inc["id"]).count("Hold") == 1, what="resolved hold")
    reopened = call_api("POST", f"/incidents/{inc['id']}/reopen", headers=session.headers)
    assert reopened.status == 200 and reopened.json["generation"] == 2
    wait_until(lambda: len(stack.executions(inc["id"])) == 2, what="second execution")
    names = [e["name"] for e in stack.executions(inc["id"])]
    assert names == [f"{inc['id']}-1", f"{inc['id']}-2"]
    # the old generation's wait ended cleanly; the new one pages again
    wait_until(lambda: stack.executions(inc["id"])[0]["status"] == "SUCCEEDED", timeout=3, what="gen 1 done")
    wait_until(lambda: len(pages_to(stack, chat1, inc["id"])) == 2, what="page of generation 2")
    # a redelivered reopen event starts nothing new (ExecutionAlreadyExists is success)
    from oncall import wiring
    from oncall.services.escalation import start_lifecycle

    start_lifecycle(wiring.incidents.lifecycle(), {"id": inc["id"], "generation": 2, "trigger_reason": "reopened"})
    assert len(stack.executions(inc["id"])) == 2


def test_a_level_with_nobody_on_call_escalates_at_once(stack: Stack, admin: User) -> None:
    from oncall import wiring

    empty = wiring.core.schedule_service().create_schedule(admin, name="nobody", timezone="UTC")
    _, chat2, level2 = person(30)
    service = service_with(admin, [Level((Target(TargetType.SCHEDULE, empty.id),), 30), level2])
    inc = open_incident(login_as(Role.RESPONDER).headers, service)
    started = time.monotonic()
    wait_until(lambda: pages_to(stack, chat2, inc["id"]), timeout=8, what="level 2 page")
    assert time.monotonic() - started < 8  # not level 1's 30 seconds
    expected = ["triggered", "paging", "nobody_on_call", "escalated", "page"]
    wait_until(lambda: kinds(inc["id"])[:5] == expected, timeout=2, what=f"timeline {expected}")
    text = next(e["text"] for e in timeline(inc["id"]) if e["kind"] == "nobody_on_call")
    assert "nobody on call" in text


def test_schedule_targets_page_whoever_is_on_call_now(stack: Stack, admin: User) -> None:
    from oncall import wiring

    on_duty, chat, _ = person(30)
    schedules = wiring.core.schedule_service()
    schedule = schedules.create_schedule(admin, name="primary", timezone="UTC")
    now = datetime.now(UTC)
    schedules.put_on_duty(
        admin, schedule_id=schedule.id, user_id=on_duty.id, start=now - timedelta(hours=1), end=now + timedelta(hours=1)
    )
    service = service_with(admin, [Level((Target(TargetType.SCHEDULE, schedule.id),), 30)])
    inc = open_incident(login_as(Role.RESPONDER).headers, service)
    wait_until(lambda: pages_to(stack, chat, inc["id"]), what="on-call page")
    wait_until(lambda: "page" in kinds(inc["id"]), timeout=2, what="page entry")
    page = next(e for e in timeline(inc["id"]) if e["kind"] == "page")
    assert page["data"]["user_id"] == on_duty.id and page["data"]["status"] == "sent"


def test_an_unreachable_level_escalates_and_says_so(stack: Stack, admin: User) -> None:
    unlinked = make_user(Role.RESPONDER)  # no Telegram chat, no email: no channel
    _, chat2, level2 = person(30)
    service = service_with(admin, [Level((Target(TargetType.USER, unlinked.id),), 30), level2])
    inc = open_incident(login_as(Role.RESPONDER).headers, service)
    wait_until(lambda: pages_to(stack, chat2, inc["id"]), timeout=8, what="level 2 page")
    wait_until(lambda: "page" in kinds(inc["id"]), timeout=2, what="page entry")
    k = kinds(inc["id"])
    assert "nobody_reachable" in k and k.index("nobody_reachable") < k.index("escalated")


def test_ack_timeout_re_triggers_and_pages_from_level_1(stack: Stack, admin: User) -> None:
    _, chat1, level1 = person(30)
    service = service_with(admin, [level1], ack_timeout_seconds=2)
    session = login_as(Role.RESPONDER)
    inc = open_incident(session.headers, service)
    wait_until(lambda: pages_to(stack, chat1, inc["id"]), what="page")
    assert call_api("POST", f"/incidents/{inc['id']}/acknowledge", headers=session.headers).status == 200
    wait_until(lambda: incident(inc["id"]).status.value == "triggered", timeout=8, what="ack timeout")
    assert incident(inc["id"]).trigger_reason == "ack_timeout"
    wait_until(lambda: len(pages_to(stack, chat1, inc["id"])) == 2, what="page after ack timeout")
    assert "ack_timeout" in kinds(inc["id"])
    assert len(stack.executions(inc["id"])) == 1


def test_unacknowledge_resumes_paging_in_the_same_execution(stack: Stack, admin: User) -> None:
    _, chat1, level1 = person(30)
    service = service_with(admin, [level1])
    session = login_as(Role.RESPONDER)
    inc = open_incident(session.headers, service)
    wait_until(lambda: pages_to(stack, chat1, inc["id"]), what="page")
    assert call_api("POST", f"/incidents/{inc['id']}/acknowledge", headers=session.headers).status == 200
    wait_until(lambda: "Hold" in execution_states(stack, inc["id"]), what="hold")
    assert call_api("POST", f"/incidents/{inc['id']}/unacknowledge", headers=session.headers).status == 200
    wait_until(lambda: len(pages_to(stack, chat1, inc["id"])) == 2, timeout=5, what="page after un-ack")
    time.sleep(0.3)
    assert len(stack.executions(inc["id"])) == 1


def test_a_late_token_is_a_no_op(stack: Stack, admin: User) -> None:
    from oncall import wiring

    _, chat1, level1 = person(1)
    _, chat2, level2 = person(30)
    service = service_with(admin, [level1, level2])
    inc = open_incident(login_as(Role.RESPONDER).headers, service)
    wait_until(lambda: pages_to(stack, chat1, inc["id"]), what="page 1")
    first_token = wait_until(lambda: incident(inc["id"]).task_token, what="token")
    wait_until(lambda: pages_to(stack, chat2, inc["id"]), what="page 2")
    states = execution_states(stack, inc["id"])
    # AWS answers TaskTimedOut, moto may accept it: either way the timed-out wait is over and nothing moves
    wiring.incidents.lifecycle().answer(first_token, {"status": "acknowledged"})
    time.sleep(0.5)
    assert execution_states(stack, inc["id"]) == states
    assert incident(inc["id"]).status.value == "triggered"


def test_racing_ack_and_escalation_record_exactly_one_outcome(stack: Stack, admin: User) -> None:
    """Acks land around the moment level 1 times out; whichever wins, the record says one consistent story: one
    acknowledgement, and no escalation (so no page) decided after it."""
    session = login_as(Role.RESPONDER)
    runs = []
    for offset in (0.85, 0.95, 1.0, 1.05, 1.15):
        _, chat1, level1 = person(1)
        _, chat2, level2 = person(30)
        service = service_with(admin, [level1, level2])
        inc = open_incident(session.headers, service)
        runs.append((offset, inc["id"], chat1, chat2))
    errors: list[BaseException] = []

    def ack_at(offset: float, incident_id: str, chat1: int) -> None:
        try:
            wait_until(lambda: incident(incident_id).task_token, what="armed")
            time.sleep(offset)
            from oncall import wiring
            from oncall.domain.incidents import Action

            wiring.incidents.incident_service().act(session.user, incident_id, Action.ACKNOWLEDGE)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=ack_at, args=(o, i, c1)) for o, i, c1, _ in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors, errors
    for _, incident_id, _, _ in runs:
        wait_until(lambda incident_id=incident_id: "Hold" in execution_states(stack, incident_id), what="hold")
        entries = timeline(incident_id)
        acks = [e for e in entries if e["kind"] == "acknowledge"]
        assert len(acks) == 1
        ack_version = acks[0]["data"]["version"]
        escalations = [e for e in entries if e["kind"] == "escalated"]
        # an escalation either happened before the ack (a lower version) or not at all
        assert all(e["data"]["version"] < ack_version for e in escalations)
        # a page may finish after the ack only if the escalation that sent it came before the ack: a send already
        # under way when the ack lands cannot be called back, but nothing decided after the ack pages anyone
        decided = {e["data"]["step"] for e in entries if e["kind"] in ("paging", "escalated")}
        before_ack = {
            e["data"]["step"]
            for e in entries
            if e["kind"] in ("paging", "escalated") and e["data"]["version"] < ack_version
        }
        pages_after = [e for e in entries if e["kind"] == "page" and e["at"] > acks[0]["at"]]
        assert decided == before_ack, entries
        assert all(e["data"]["step"] in before_ack for e in pages_after), entries
        versions = [e["data"]["version"] for e in entries if "version" in e["data"]]
        assert versions == sorted(versions) and len(versions) == len(set(versions))
        assert incident(incident_id).status.value == "acknowledged"
