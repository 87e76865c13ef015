"""Pages never silently fail: the real incident-lifecycle ASL on the emulator, its Lambda tasks and the page queue's
consumer run in-process, Telegram is the fake Bot API on 127.0.0.1 and mail an SMTP server on 127.0.0.1.

- a storm of incidents for one person: pages that meet the chat's full window are queued and go out as digests as
  soon as the window opens, none is left "rate limited", and the person is not reported unreachable;
- Telegram failing (5xx, refused): the page goes to the person's email at once; with no other channel the level is
  "nobody reachable" at once, the timeline names each failure, and the next level is paged;
- a queued page that finally fails fails the waiting Page task (``NobodyReachable``): the lifecycle escalates without
  waiting for the level's timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from oncall.domain.escalation import Level, Target, TargetType
from oncall.domain.users import Role, User
from tests.support.identity import login_as, make_user
from tests.support.lambdas import call_api
from tests.support.lifecycle import Stack, lifecycle_stack, wait_until
from tests.support.receivers import SmtpCapture
from tests.support.telegram import callback_update, linked_user, post_update

#: long enough that nothing here escalates by timeout: every escalation seen is "nobody reachable"
LONG = 600


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCapture]:
    capture = SmtpCapture().start()
    try:
        yield capture
    finally:
        capture.stop()


@pytest.fixture(scope="module")
def stack(smtp: SmtpCapture) -> Iterator[Stack]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONCALL_SMTP_HOST", "127.0.0.1")
        mp.setenv("ONCALL_SMTP_PORT", str(smtp.port))
        with lifecycle_stack() as s:
            yield s


@pytest.fixture(autouse=True)
def healthy_telegram(stack: Stack) -> Iterator[None]:
    yield
    stack.telegram.clear_failures()


@pytest.fixture(scope="module")
def admin(stack: Stack) -> User:
    return make_user(Role.ADMIN)


def service_with(admin: User, levels: list[Level]) -> str:
    from oncall import wiring

    catalog = wiring.incidents.catalog_service()
    policy = catalog.create_policy(admin, name="p", levels=levels)
    service, _ = catalog.create_service(admin, name="svc", escalation_policy_id=policy.id)
    return service.id


def level_of(*users: User, timeout: int = LONG) -> Level:
    return Level(tuple(Target(TargetType.USER, u.id) for u in users), timeout)


def email_only(name: str) -> User:
    return make_user(Role.RESPONDER, email=f"{name}@example.org")


def open_incident(headers: dict[str, str], service_id: str, title: str) -> dict[str, Any]:
    got = call_api(
        "POST", "/incidents", headers=headers, body={"title": title, "service_id": service_id, "severity": "high"}
    )
    assert got.status == 201, got.raw
    return got.json  # type: ignore[no-any-return]


def timeline(incident_id: str) -> list[dict[str, Any]]:
    from oncall import wiring

    entries, _ = wiring.incidents.incident_store().timeline(incident_id, 500, None)
    return [e.to_dict() for e in entries]


def entries(incident_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in timeline(incident_id) if e["kind"] == kind]


def incident_ids_in(message: dict[str, Any]) -> set[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["callback_data"].split(":", 2)[2] for row in rows for b in row if b["callback_data"].startswith("inc:")}


def mail_to(smtp: SmtpCapture, address: str) -> list[Any]:
    return [m for m in smtp.messages if address in str(m["To"])]


def test_a_storm_for_one_person_is_delivered_in_digests_and_nothing_stays_rate_limited(
    stack: Stack, admin: User
) -> None:
    from oncall import wiring

    person, chat = linked_user()
    service = service_with(admin, [level_of(person)])
    session = login_as(Role.RESPONDER)
    started = time.monotonic()
    ids = [open_incident(session.headers, service, f"Disk full on node {i:02d}")["id"] for i in range(20)]

    def delivered() -> set[str]:
        seen: set[str] = set()
        for message in stack.telegram.sent(chat):
            seen |= incident_ids_in(message)
        return seen

    wait_until(lambda: delivered() >= set(ids), timeout=30, what="every incident on the person's phone")
    took = time.monotonic() - started
    messages = stack.telegram.sent(chat)
    # one chat takes one message a second: 20 single pages would need 20 windows; digests need a handful
    assert len(messages) <= 10, [m["text"][:40] for m in messages]
    assert any(len(incident_ids_in(m)) > 1 for m in messages), "no digest was sent"
    assert took < 25
    for incident_id in ids:
        key = f"{incident_id}:1:0:step0:{person.id}"
        # recorded just after the send
        wait_until(
            lambda k=key: (wiring.notifications.delivery_log().get(person.id, k) or {}).get("status") == "sent",
            timeout=5,
        )
        assert not entries(incident_id, "nobody_reachable")
        assert not entries(incident_id, "escalated")
        wait_until(
            lambda i=incident_id: any(e["data"]["status"] == "sent" for e in entries(i, "page")),
            timeout=5,
            what="the sent page on the timeline",
        )
    # nothing is left waiting in the person's queue
    client = wiring.notifications.delivery_log().client
    left = client.query(
        TableName=wiring.notifications.delivery_log().table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"QUEUE#{person.id}#telegram"}},
    )["Items"]
    assert left == []


def test_a_press_in_a_digest_acts_on_that_incident_and_keeps_the_others(stack: Stack, admin: User) -> None:
    from oncall import wiring

    person, chat = linked_user(role=Role.RESPONDER)
    service = service_with(admin, [level_of(person)])
    session = login_as(Role.RESPONDER)
    # opened at once, so their pages meet the chat's one-second window together even on a loaded machine (opened
    # one by one, each open may outlast the window and every page then goes alone)
    with ThreadPoolExecutor(4) as pool:
        opened = pool.map(lambda i: open_incident(session.headers, service, f"Queue backlog {i}"), range(4))
        ids = [inc["id"] for inc in opened]
    digest = wait_until(
        lambda: next((m for m in stack.telegram.sent(chat) if len(incident_ids_in(m)) > 1), None),
        timeout=20,
        what="a digest",
    )
    listed = sorted(incident_ids_in(digest))
    target = listed[0]
    message_id = next(
        mid for (c, mid), m in stack.telegram.messages.items() if c == str(chat) and m["text"] == digest["text"]
    )
    shown = {
        "message_id": message_id,
        "chat": {"id": chat},
        "text": digest["text"],
        "reply_markup": digest["reply_markup"],
    }
    press = callback_update(chat, f"inc:ack:{target}", shown)
    assert post_update(press).status == 200
    assert wiring.incidents.incident_store().get(target).status.value == "acknowledged"
    edited = stack.telegram.messages[(str(chat), message_id)]
    assert edited["text"].startswith(digest["text"])
    assert "Acknowledged by" in edited["text"]
    remaining = {b["callback_data"] for row in edited["reply_markup"]["inline_keyboard"] for b in row}
    assert f"inc:ack:{target}" not in remaining and f"inc:res:{target}" in remaining
    for other in listed[1:]:
        assert {f"inc:ack:{other}", f"inc:res:{other}"} <= remaining
        assert wiring.incidents.incident_store().get(other).status.value == "triggered"
    assert set(ids) >= set(listed)


def test_telegram_5xx_pages_go_to_email_at_once(stack: Stack, admin: User, smtp: SmtpCapture) -> None:
    person, _chat = linked_user(email="dana@example.org")
    service = service_with(admin, [level_of(person)])
    stack.telegram.fail("sendMessage", 502, times=1000)
    started = time.monotonic()
    inc = open_incident(login_as(Role.RESPONDER).headers, service, "Checkout returns 502")
    wait_until(lambda: mail_to(smtp, "dana@example.org"), timeout=20, what="the page by mail")
    assert time.monotonic() - started < 15
    page = wait_until(lambda: entries(inc["id"], "page"), what="page entry")[0]
    assert page["data"]["status"] == "sent" and page["data"]["channel"] == "email"
    assert not entries(inc["id"], "nobody_reachable")


def test_telegram_refused_and_no_other_channel_escalates_at_once_naming_the_failure(
    stack: Stack, admin: User, smtp: SmtpCapture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring

    telegram_only, _ = linked_user()
    backup = email_only("backup-refused")
    service = service_with(admin, [level_of(telegram_only), level_of(backup)])
    with socket_closed() as dead_url:
        monkeypatch.setenv("TELEGRAM_API_URL", dead_url)
        wiring.reset()
        try:
            inc = open_incident(login_as(Role.RESPONDER).headers, service, "Search is down")
            wait_until(lambda: mail_to(smtp, "backup-refused@example.org"), timeout=20, what="level 2 by mail")
        finally:
            monkeypatch.undo()
            wiring.reset()
    unreachable = entries(inc["id"], "nobody_reachable")
    assert unreachable and unreachable[0]["data"]["level"] == 1
    assert "telegram" in unreachable[0]["text"] and "ConnectionRefusedError" in unreachable[0]["text"]
    failed = next(e for e in entries(inc["id"], "page") if e["data"]["user_id"] == telegram_only.id)
    assert failed["data"]["status"] == "failed" and "ConnectionRefusedError" in failed["data"]["detail"]
    assert any(e["data"].get("level") == 2 for e in entries(inc["id"], "escalated"))


def test_a_queued_page_that_finally_fails_escalates_without_waiting_for_the_timeout(
    stack: Stack, admin: User, smtp: SmtpCapture
) -> None:
    from oncall import wiring

    telegram_only, chat = linked_user()
    backup = email_only("backup-queued")
    service = service_with(admin, [level_of(telegram_only), level_of(backup)])
    # the chat's windows for the next seconds are taken (another sender's pages): this page is queued
    now = int(time.time())
    limiter = wiring.notifications.notification_service().limiter
    for second in range(now, now + 3):
        assert limiter.acquire([(f"tg:chat:{chat}", 1)], second + 0.5) == 0
    stack.telegram.fail("sendMessage", 502, times=1000)
    inc = open_incident(login_as(Role.RESPONDER).headers, service, "Payments queue stuck")
    queued = wait_until(lambda: entries(inc["id"], "page"), what="the queued page")[0]
    assert queued["data"]["status"] == "queued"
    wait_until(lambda: mail_to(smtp, "backup-queued@example.org"), timeout=25, what="level 2 by mail")
    settled = [e for e in entries(inc["id"], "page") if e["data"].get("queued")]
    assert settled and settled[0]["data"]["status"] == "failed" and "502" in settled[0]["data"]["detail"]
    assert entries(inc["id"], "nobody_reachable")
    stored = wiring.notifications.delivery_log().get(telegram_only.id, f"{inc['id']}:1:0:step0:{telegram_only.id}")
    assert stored is not None and stored["status"] == "failed"


def test_a_queued_page_is_dropped_when_the_incident_is_acknowledged_first(stack: Stack, admin: User) -> None:
    from oncall import wiring

    person, chat = linked_user()
    service = service_with(admin, [level_of(person)])
    now = int(time.time())
    limiter = wiring.notifications.notification_service().limiter
    for second in range(now, now + 3):
        limiter.acquire([(f"tg:chat:{chat}", 1)], second + 0.5)
    session = login_as(Role.RESPONDER)
    inc = open_incident(session.headers, service, "Cache stampede")
    wait_until(lambda: entries(inc["id"], "page"), what="the queued page")
    assert call_api("POST", f"/incidents/{inc['id']}/acknowledge", headers=session.headers).status == 200
    record = wait_until(
        lambda: (
            (r := wiring.notifications.delivery_log().get(person.id, f"{inc['id']}:1:0:step0:{person.id}"))
            and r["status"] == "cancelled"
            and r
        ),
        timeout=15,
        what="the queued page cancelled",
    )
    assert record["status"] == "cancelled"
    assert not [m for m in stack.telegram.sent(chat) if inc["id"] in incident_ids_in(m)]


class socket_closed:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused)."""

    def __enter__(self) -> str:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        return None
