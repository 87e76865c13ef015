"""Shift reminders end to end inside one process: shifts written by the real schedule service, their outbox events
handed to the real planner handler as bus envelopes, the real tick handler invoked with Scheduled Events, messages
sent to a fake Bot API on 127.0.0.1. Assertions read what Telegram received and what is stored."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.domain.reminders import ReminderStatus
from oncall.domain.users import Role
from tests.support.fake_telegram import FakeTelegram
from tests.support.identity import FakeClock, make_user
from tests.support.reminders import deliver_shift_events, outbox_events, plan, tick
from tests.support.telegram import linked_user, telegram_env

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def env(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from oncall import wiring

    with telegram_env(monkeypatch) as fake:
        clock = FakeClock(T0)
        wiring.override(clock=clock)
        yield {"tg": fake, "clock": clock, "outbox": aws["ONCALL_TABLE_OUTBOX"], "seen": set()}
        wiring.reset()


def _admin():  # type: ignore[no-untyped-def]
    return make_user(Role.ADMIN)


def _schedule(name: str = "Payments primary", tz: str = "Europe/Berlin") -> str:
    from oncall import wiring

    return wiring.core.schedule_service().create_schedule(_admin(), name=name, timezone=tz).id


def _shift(schedule_id: str, user_id: str, start: datetime, hours: float = 8):  # type: ignore[no-untyped-def]
    from oncall import wiring

    return wiring.core.schedule_service().put_on_duty(
        _admin(), schedule_id=schedule_id, user_id=user_id, start=start, end=start + timedelta(hours=hours)
    )


def _publish(env: dict[str, Any]) -> list[str]:
    return deliver_shift_events(env["outbox"], env["seen"])


def _reminders(shift_id: str) -> dict[int, Any]:
    from oncall import wiring

    return {r.offset_minutes: r for r in wiring.reminders.reminder_service().store.of_shift(shift_id)}  # type: ignore[attr-defined]


def _texts(tg: FakeTelegram, chat: int) -> list[str]:
    return [str(m["text"]) for m in tg.sent(chat) if str(m["text"]).startswith("⏰")]


def test_ten_minute_reminder_is_sent_once_and_only_it(env: dict[str, Any]) -> None:
    tg = env["tg"]
    user, chat = linked_user()
    shift = _shift(_schedule(), user.id, T0 + timedelta(minutes=10, seconds=30))
    assert _publish(env) == ["planned"]
    stored = _reminders(shift.id)
    assert stored[1440].status is ReminderStatus.SKIPPED and stored[120].status is ReminderStatus.SKIPPED
    assert stored[10].status is ReminderStatus.PENDING

    assert tick(T0)["sent"] == 0
    first = tick(T0 + timedelta(minutes=1))
    assert first["sent"] == 1 and first["late"] == 0
    assert tick(T0 + timedelta(minutes=1))["sent"] == 0  # EventBridge delivered the same minute twice
    for m in range(2, 15):
        assert tick(T0 + timedelta(minutes=m))["sent"] == 0
    texts = _texts(tg, chat)
    assert len(texts) == 1
    assert "starts in 10 minutes" in texts[0] and "Payments primary" in texts[0]
    assert "Tue 01 Dec 2026, 06:10 UTC" in texts[0]  # the person's zone (UTC by default)
    after = _reminders(shift.id)[10]
    assert after.status is ReminderStatus.SENT and not after.late and after.sent_at == T0 + timedelta(minutes=1)
    # announced on the bus, written with the "sent" mark
    (announced,) = outbox_events(env["outbox"], set(), prefix="reminder.")
    assert announced["detail-type"] == "reminder.sent" and announced["time"] == "2026-12-01T06:01:00Z"
    detail = announced["detail"]
    assert (detail["shift_id"], detail["user_id"], detail["offset_minutes"], detail["late"]) == (
        shift.id,
        user.id,
        10,
        False,
    )
    assert detail["delivery"].startswith(f"tg:{chat}:") and detail["version"] == shift.version


def test_all_offsets_in_the_persons_zone_with_handover(env: dict[str, Any]) -> None:
    from oncall import wiring

    tg = env["tg"]
    outgoing = make_user()
    user, chat = linked_user()
    wiring.core.user_service().update(user, user.id, {"timezone": "America/New_York"})
    schedule = _schedule()
    start = T0 + timedelta(days=2)
    _shift(schedule, outgoing.id, start - timedelta(hours=8))
    shift = _shift(schedule, user.id, start, hours=12)
    assert _publish(env) == ["planned", "planned"]
    for due in (start - timedelta(hours=24), start - timedelta(hours=2), start - timedelta(minutes=10)):
        tick(due - timedelta(minutes=1))
        tick(due)
    texts = _texts(tg, chat)
    assert [t.splitlines()[0].rsplit(" ", 2)[-2:] for t in texts] == [
        ["24", "hours"],
        ["2", "hours"],
        ["10", "minutes"],
    ]
    assert all(f"Handover from: {outgoing.display_name}" in t for t in texts)
    assert all("Thu 03 Dec 2026, 01:00 EST" in t and "13:00 EST" in t for t in texts)  # 06:00 UTC in New York
    assert {r.status for r in _reminders(shift.id).values()} == {ReminderStatus.SENT}


def test_moving_a_shift_moves_its_reminders_and_deleting_cancels_them(env: dict[str, Any]) -> None:
    from oncall import wiring

    tg = env["tg"]
    user, chat = linked_user()
    schedule = _schedule()
    start = T0 + timedelta(hours=5)
    shift = _shift(schedule, user.id, start)
    _publish(env)
    admin = _admin()
    moved = wiring.core.schedule_service().move_shift(
        admin, schedule_id=schedule, shift_id=shift.id, start=start + timedelta(hours=1), end=start + timedelta(hours=9)
    )
    assert _publish(env) == ["planned"]
    assert _reminders(shift.id)[120].due_at == start + timedelta(hours=1) - timedelta(hours=2)
    assert tick(start - timedelta(hours=2))["sent"] == 0  # the old due time: nothing
    assert tick(moved.start - timedelta(hours=2))["sent"] == 1
    wiring.core.schedule_service().delete_shift(admin, schedule_id=schedule, shift_id=shift.id)
    assert _publish(env) == ["cancelled"]
    assert _reminders(shift.id)[10].status is ReminderStatus.CANCELLED
    assert tick(moved.start - timedelta(minutes=10))["sent"] == 0
    assert len(_texts(tg, chat)) == 1


def test_stale_and_duplicate_shift_events_are_dropped(env: dict[str, Any]) -> None:
    from oncall import wiring

    user, _chat = linked_user()
    schedule = _schedule()
    start = T0 + timedelta(hours=5)
    shift = _shift(schedule, user.id, start)
    wiring.core.schedule_service().move_shift(
        _admin(),
        schedule_id=schedule,
        shift_id=shift.id,
        start=start + timedelta(hours=2),
        end=start + timedelta(hours=9),
    )
    created, updated = outbox_events(env["outbox"], env["seen"])
    assert (created["detail-type"], updated["detail-type"]) == ("shift.created", "shift.updated")
    assert plan(updated) == "planned"
    assert plan(created) == "stale"  # arrived after the newer version
    assert plan(updated) == "stale"  # delivered twice
    assert _reminders(shift.id)[10].due_at == start + timedelta(hours=2) - timedelta(minutes=10)


def test_late_when_ticks_were_missed_and_never_after_the_start(env: dict[str, Any]) -> None:
    tg = env["tg"]
    user, chat = linked_user()
    start = T0 + timedelta(hours=3)
    shift = _shift(_schedule(), user.id, start)
    _publish(env)
    # the scheduler was down from before the 2-hour reminder until after the start
    report = tick(start - timedelta(minutes=90))
    assert report["sent"] == 1 and report["late"] == 1
    assert tick(start + timedelta(minutes=1))["missed"] == 1
    stored = _reminders(shift.id)
    assert stored[120].status is ReminderStatus.SENT and stored[120].late
    assert stored[10].status is ReminderStatus.MISSED
    texts = _texts(tg, chat)
    assert len(texts) == 1 and "(late)" in texts[0] and "starts in 90 minutes" in texts[0]


def test_offsets_are_per_person_and_opting_out_stops_them(env: dict[str, Any]) -> None:
    from oncall import wiring

    tg = env["tg"]
    quiet, quiet_chat = linked_user()
    wiring.core.user_service().update(quiet, quiet.id, {"reminder_offsets_minutes": []})
    custom, custom_chat = linked_user()
    wiring.core.user_service().update(custom, custom.id, {"reminder_offsets_minutes": [45, 10]})
    start = T0 + timedelta(hours=4)
    quiet_shift = _shift(_schedule("A"), quiet.id, start)
    custom_shift = _shift(_schedule("B"), custom.id, start)
    _publish(env)
    assert _reminders(quiet_shift.id) == {}
    assert sorted(_reminders(custom_shift.id)) == [10, 45]
    tick(start - timedelta(minutes=45))
    # changed their mind after planning: the 10-minute reminder is cancelled when due
    current = wiring.core.user_service().get(custom, custom.id)
    wiring.core.user_service().update(current, custom.id, {"reminder_offsets_minutes": [45]})
    assert tick(start - timedelta(minutes=10))["cancelled"] == 1
    assert len(_texts(tg, custom_chat)) == 1 and _texts(tg, quiet_chat) == []


def test_a_person_without_telegram_is_recorded_as_no_channel(env: dict[str, Any]) -> None:
    unlinked = make_user()
    start = T0 + timedelta(hours=1)
    shift = _shift(_schedule(), unlinked.id, start)
    _publish(env)
    assert tick(start - timedelta(minutes=10))["no_channel"] == 1
    assert _reminders(shift.id)[10].status is ReminderStatus.NO_CHANNEL
    assert tick(start - timedelta(minutes=9))["candidates"] == 0  # not retried every minute


def test_rate_limited_send_is_retried_on_the_next_tick(env: dict[str, Any]) -> None:
    tg = env["tg"]
    user, chat = linked_user()
    start = T0 + timedelta(hours=1)
    shift = _shift(_schedule(), user.id, start)
    _publish(env)
    tg.fail("sendMessage", 429, retry_after=40)
    assert tick(start - timedelta(minutes=10))["retry"] == 1
    assert _reminders(shift.id)[10].status is ReminderStatus.PENDING
    report = tick(start - timedelta(minutes=9))
    assert report["sent"] == 1 and report["late"] == 1
    assert len(_texts(tg, chat)) == 1


def test_concurrent_duplicate_ticks_send_each_reminder_once(env: dict[str, Any]) -> None:
    from infra.local import dynamo_lock
    from oncall import wiring

    tg = env["tg"]
    people = [linked_user() for _ in range(6)]
    start = T0 + timedelta(hours=2)
    for i, (user, _chat) in enumerate(people):
        _shift(_schedule(f"S{i}"), user.id, start)
    _publish(env)
    service = wiring.reminders.reminder_service()
    reports: list[Any] = []
    barrier = threading.Barrier(4)
    now = start - timedelta(minutes=10)

    def go() -> None:
        barrier.wait()
        reports.append(service.tick(now))

    dynamo_lock.install()
    try:
        threads = [threading.Thread(target=go) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        dynamo_lock.uninstall()
    assert sum(r.sent for r in reports) == 6
    assert all(len(_texts(tg, chat)) == 1 for _user, chat in people)


def test_a_planning_cut_off_midway_is_done_again_by_the_redelivery(env: dict[str, Any]) -> None:
    """The planner stops after its first reminder write (a Ctrl-C, a crash, a timeout): the event's redelivery plans
    the rest instead of being dropped as already applied, and the reconciler sees the shift as not yet planned."""
    from oncall import wiring

    user, _chat = linked_user()
    shift = _shift(_schedule(), user.id, T0 + timedelta(days=2))
    (created,) = outbox_events(env["outbox"], env["seen"])
    store = wiring.reminders.reminder_planner().store
    puts: list[str] = []

    def stop_after_the_first_put(**_: Any) -> None:
        puts.append("PutItem")
        if len(puts) > 1:
            raise KeyboardInterrupt  # the process goes away between two writes

    events = store.client.meta.events  # type: ignore[attr-defined]
    events.register("before-call.dynamodb.PutItem", stop_after_the_first_put)
    try:
        with pytest.raises(KeyboardInterrupt):
            plan(created)
    finally:
        events.unregister("before-call.dynamodb.PutItem", stop_after_the_first_put)
    assert len(_reminders(shift.id)) == 1
    assert store.planned_version(shift.id) is None  # not recorded as applied: the reconciler would plan it too

    assert plan(created) == "planned"  # the redelivery
    assert sorted(_reminders(shift.id)) == [10, 120, 24 * 60]
    assert plan(created) == "stale"  # and now it is applied
