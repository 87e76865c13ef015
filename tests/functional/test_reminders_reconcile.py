"""The reminder sweep: upcoming shifts whose ``shift.*`` event never reached the planner get their reminders, once.
Shifts are written by the real schedule service; the real planner handler receives the sweep's Scheduled Event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.local.context import LambdaContext
from infra.local.loader import load_handler
from oncall.domain.reminders import ReminderStatus
from oncall.domain.users import Role
from tests.support.identity import FakeClock, make_user
from tests.support.reminders import deliver_shift_events, scheduled_event

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def env(aws: dict[str, str]) -> Iterator[dict[str, Any]]:
    from oncall import wiring

    clock = FakeClock(T0)
    wiring.override(clock=clock)
    yield {"clock": clock, "outbox": aws["ONCALL_TABLE_OUTBOX"], "seen": set()}
    wiring.reset()


def _sweep(at: datetime) -> dict[str, Any]:
    result: dict[str, Any] = load_handler("reminder_planner")(
        scheduled_event(at), LambdaContext(function_name="reminder_planner")
    )
    return result


def _shift(schedule_id: str, user_id: str, start: datetime) -> Any:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    return wiring.core.schedule_service().put_on_duty(
        admin, schedule_id=schedule_id, user_id=user_id, start=start, end=start + timedelta(hours=8)
    )


def _reminders(shift_id: str) -> dict[int, Any]:
    from oncall import wiring

    return {r.offset_minutes: r for r in wiring.reminders.reminder_planner().store.of_shift(shift_id)}


def test_the_sweep_plans_shifts_whose_event_was_lost_and_only_those(env: dict[str, Any]) -> None:
    from oncall import wiring

    schedule = wiring.core.schedule_service().create_schedule(make_user(Role.ADMIN), name="Primary", timezone="UTC")
    alice, bob, carol = make_user(), make_user(), make_user()
    heard = _shift(schedule.id, alice.id, T0 + timedelta(days=2))
    assert deliver_shift_events(env["outbox"], env["seen"]) == ["planned"]  # its event reached the planner
    lost = _shift(schedule.id, bob.id, T0 + timedelta(days=3))
    started = _shift(schedule.id, carol.id, T0 - timedelta(hours=1))  # already on duty: nothing left to remind
    assert _reminders(lost.id) == {}  # the events of these two were never delivered

    first = _sweep(T0)
    assert first == {"checked": 2, "planned": 1}
    planned = _reminders(lost.id)
    assert planned and all(r.status is ReminderStatus.PENDING for r in planned.values())
    assert {r.due_at for r in planned.values()} == {lost.start - timedelta(minutes=m) for m in planned}
    assert _reminders(started.id) == {}
    before = _reminders(heard.id)

    assert _sweep(T0 + timedelta(minutes=15)) == {"checked": 2, "planned": 0}  # idempotent
    assert _reminders(lost.id) == planned and _reminders(heard.id) == before
    # late events: the swept shift's is a duplicate of what was applied; the started one's is planned as usual
    assert deliver_shift_events(env["outbox"], env["seen"]) == ["stale", "planned"]


def test_a_shift_moved_without_its_event_reaching_the_planner_is_replanned(env: dict[str, Any]) -> None:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    service = wiring.core.schedule_service()
    schedule = service.create_schedule(admin, name="Secondary", timezone="UTC")
    dana = make_user()
    shift = _shift(schedule.id, dana.id, T0 + timedelta(days=1))
    assert deliver_shift_events(env["outbox"], env["seen"]) == ["planned"]
    moved = service.move_shift(
        admin, schedule_id=schedule.id, shift_id=shift.id, start=shift.start + timedelta(hours=5)
    )
    assert _sweep(T0) == {"checked": 1, "planned": 1}
    assert {r.due_at + timedelta(minutes=m) for m, r in _reminders(shift.id).items()} == {moved.start}
