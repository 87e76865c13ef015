"""One simulated day: 50 people on 10 schedules, the reminder function invoked once per simulated minute with real
Scheduled Event payloads, some ticks dropped, some delivered twice, and one 3-hour outage of the scheduler; a shift
moved and one deleted along the way. Afterwards, from what is stored and what the fake Bot API received: every
reminder sent exactly once, at the first tick at or after its due time, never at or after its shift's start, marked
late exactly when that tick came a minute or more after the due time; the rest missed only when no tick ran between
due and start."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.domain.reminders import LATE_AFTER, ReminderStatus
from oncall.domain.users import Role
from tests.support.fake_telegram import FakeTelegram
from tests.support.identity import FakeClock, make_user
from tests.support.reminders import deliver_shift_events, tick
from tests.support.telegram import linked_user, telegram_env

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
PEOPLE = 50
SCHEDULES = 10
OUTAGE = (T0 + timedelta(hours=9), T0 + timedelta(hours=12))
DROP, DUPLICATE = 0.04, 0.08


@pytest.fixture
def env(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from oncall import wiring

    with telegram_env(monkeypatch) as fake:
        clock = FakeClock(T0 - timedelta(minutes=5))
        wiring.override(clock=clock)
        yield {"tg": fake, "clock": clock, "outbox": aws["ONCALL_TABLE_OUTBOX"], "seen": set()}
        wiring.reset()


def test_one_day_of_reminders_with_drops_duplicates_and_an_outage(env: dict[str, Any]) -> None:
    from oncall import wiring

    tg: FakeTelegram = env["tg"]
    clock: FakeClock = env["clock"]
    rng = random.Random(6)
    admin = make_user(Role.ADMIN)
    people = [linked_user() for _ in range(PEOPLE)]
    chat_of = {user.id: chat for user, chat in people}
    schedules = wiring.core.schedule_service()
    # 3-hour shifts every 5 hours from 00:30; person 5*s + k % 5 holds shift k of schedule s
    shifts: dict[tuple[int, int], Any] = {}
    for s in range(SCHEDULES):
        sid = schedules.create_schedule(admin, name=f"Team {s}", timezone="Europe/Berlin").id
        for k in range(6):
            start = T0 + timedelta(minutes=30) + timedelta(hours=5 * k)
            holder = people[5 * s + k % 5][0]
            shifts[(s, k)] = schedules.put_on_duty(
                admin, schedule_id=sid, user_id=holder.id, start=start, end=start + timedelta(hours=3)
            )
    assert set(deliver_shift_events(env["outbox"], env["seen"])) == {"planned"}

    executed: list[datetime] = []
    duplicated = dropped = 0
    minute = T0
    while minute < T0 + timedelta(days=1):
        if minute == T0 + timedelta(hours=8):
            # the operator moves one shift into the outage's shadow and deletes another
            clock.now = minute
            moving = shifts[(1, 2)]
            schedules.move_shift(
                admin,
                schedule_id=moving.schedule_id,
                shift_id=moving.id,
                start=T0 + timedelta(hours=12, minutes=30),
                end=T0 + timedelta(hours=15),
            )
            schedules.delete_shift(admin, schedule_id=shifts[(0, 3)].schedule_id, shift_id=shifts[(0, 3)].id)
            assert sorted(deliver_shift_events(env["outbox"], env["seen"])) == ["cancelled", "planned"]
        in_outage = OUTAGE[0] <= minute < OUTAGE[1]
        if not in_outage:
            if rng.random() < DROP:
                dropped += 1
            else:
                tick(minute)
                executed.append(minute)
                if rng.random() < DUPLICATE:
                    tick(minute)
                    duplicated += 1
        minute += timedelta(minutes=1)
    assert dropped > 10 and duplicated > 50

    reminders = wiring.reminders.reminder_service().store.all()  # type: ignore[attr-defined]
    by_status = Counter(r.status for r in reminders)
    telegram_reminders = Counter(str(m["chat_id"]) for m in tg.sent() if str(m["text"]).startswith("⏰"))

    def first_tick_at_or_after(when: datetime) -> datetime | None:
        return next((t for t in executed if t >= when), None)

    late = on_time = 0
    for r in reminders:
        if r.status is ReminderStatus.SENT:
            assert r.sent_at is not None and r.due_at <= r.sent_at < r.shift_start
            assert r.sent_at == first_tick_at_or_after(r.due_at)
            assert r.late == (r.sent_at - r.due_at >= LATE_AFTER)
            late += r.late
            on_time += not r.late
        elif r.status is ReminderStatus.MISSED:
            first = first_tick_at_or_after(r.due_at)
            assert first is None or first >= r.shift_start, "a tick ran while it could still have been sent"
        elif r.status is ReminderStatus.SKIPPED:
            assert r.due_at <= T0 - timedelta(minutes=5)
        elif r.status is ReminderStatus.PENDING:
            assert r.due_at > executed[-1], f"left pending although due: {r}"
        else:
            assert r.status is ReminderStatus.CANCELLED and r.shift_id == shifts[(0, 3)].id

    # exactly one Telegram message per sent reminder, to the right person
    sent_per_user = Counter(r.user_id for r in reminders if r.status is ReminderStatus.SENT)
    assert telegram_reminders == Counter({str(chat_of[u]): n for u, n in sent_per_user.items()})
    # the day exercised every path
    assert by_status[ReminderStatus.SENT] >= 90 and late >= 10 and on_time >= 70
    assert by_status[ReminderStatus.MISSED] >= 1 and by_status[ReminderStatus.SKIPPED] > 50
    assert by_status[ReminderStatus.CANCELLED] >= 1
    moved = {r.offset_minutes: r for r in reminders if r.shift_id == shifts[(1, 2)].id}
    assert moved[1440].status is ReminderStatus.SKIPPED
    # due 10:30, during the outage: sent late by the first tick after it, before the 12:30 start
    assert moved[120].status is ReminderStatus.SENT and moved[120].late
    assert moved[120].sent_at == first_tick_at_or_after(OUTAGE[1])
    assert moved[10].status is ReminderStatus.SENT
