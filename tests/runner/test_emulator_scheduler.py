"""Due times of EventBridge schedule expressions and the scheduler's catch-up on a clock jump."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from infra.local.clock import ManualClock, ShiftedClock
from infra.local.scheduler import ScheduledRule, Scheduler, next_due


def dt(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "after", "due"),
    [
        ("rate(1 minute)", dt(2026, 1, 5, 9, 0, 30), dt(2026, 1, 5, 9, 1)),
        ("rate(1 minute)", dt(2026, 1, 5, 9, 1), dt(2026, 1, 5, 9, 2)),  # strictly after
        ("rate(5 minutes)", dt(2026, 1, 5, 9, 3), dt(2026, 1, 5, 9, 5)),
        ("rate(2 hours)", dt(2026, 1, 5, 9, 3), dt(2026, 1, 5, 10, 0)),
        ("rate(1 day)", dt(2026, 1, 5, 9, 3), dt(2026, 1, 6)),
        ("cron(0 9 ? * MON-FRI *)", dt(2026, 1, 9, 9, 0), dt(2026, 1, 12, 9, 0)),  # Friday 09:00 → Monday
        ("cron(0 12 L * ? *)", dt(2026, 2, 1), dt(2026, 2, 28, 12)),  # last day of the month
        ("cron(30 8 ? * MON#1 *)", dt(2026, 1, 6), dt(2026, 2, 2, 8, 30)),  # first Monday
        ("cron(*/10 * * * ? *)", dt(2026, 1, 5, 9, 1), dt(2026, 1, 5, 9, 10)),
    ],
)
def test_next_due(expression: str, after: datetime, due: datetime) -> None:
    assert next_due(expression, after) == due


@pytest.mark.parametrize(
    "expression", ["rate(1 minutes)", "rate(2 minute)", "rate(0 minutes)", "at(2026-01-01T00:00:00)", "cron(bad)"]
)
def test_invalid_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message depends on the parser
        next_due(expression, dt(2026, 1, 1))


def _scheduler(clock: ManualClock, fired: list[tuple[str, datetime, bool]], max_catch_up: int = 1000) -> Scheduler:
    rules = [
        ScheduledRule(arn="arn:every-minute", name="every-minute", expression="rate(1 minute)"),
        ScheduledRule(arn="arn:quarter", name="quarter", expression="cron(0/15 * * * ? *)"),
    ]
    return Scheduler(
        clock=clock,
        rules=lambda: rules,
        fire=lambda rule, due, wait: fired.append((rule.name, due, wait)),
        max_catch_up=max_catch_up,
    )


def test_advance_fires_everything_due_in_order_synchronously() -> None:
    clock = ManualClock(dt(2026, 1, 5, 9, 13, 30))
    fired: list[tuple[str, datetime, bool]] = []
    scheduler = _scheduler(clock, fired)
    out = scheduler.advance(timedelta(minutes=3))
    assert [str(f) for f in out] == [
        "every-minute@2026-01-05T09:14:00Z",
        "every-minute@2026-01-05T09:15:00Z",
        "quarter@2026-01-05T09:15:00Z",
        "every-minute@2026-01-05T09:16:00Z",
    ]
    assert fired == [(f.rule.name, f.due, True) for f in out]
    assert scheduler.tick() == []  # nothing due twice


def test_tick_fires_asynchronously_what_is_due() -> None:
    clock = ManualClock(dt(2026, 1, 5, 9, 0, 30))
    fired: list[tuple[str, datetime, bool]] = []
    scheduler = _scheduler(clock, fired)
    assert scheduler.tick() == []
    clock.advance(timedelta(seconds=40))
    assert [str(f) for f in scheduler.tick()] == ["every-minute@2026-01-05T09:01:00Z"]
    assert fired == [("every-minute", dt(2026, 1, 5, 9, 1), False)]


def test_a_huge_jump_is_capped_per_rule_keeping_the_latest() -> None:
    clock = ManualClock(dt(2026, 1, 5, 0, 0, 30))
    fired: list[tuple[str, datetime, bool]] = []
    scheduler = _scheduler(clock, fired, max_catch_up=5)
    out = scheduler.advance(timedelta(days=1))
    minutes = [f.due for f in out if f.rule.name == "every-minute"]
    assert len(minutes) == 5
    assert minutes[-1] == dt(2026, 1, 6, 0, 0)


def test_a_jump_may_ask_for_only_the_latest_occurrence_of_each_rule() -> None:
    """A fast-forward (``POST /_local/clock {"catch_up": 1}``): like EventBridge after an outage, no replay of the
    missed minutes; the latest occurrence of each rule fires, so the handlers see the new time once."""
    clock = ManualClock(dt(2026, 1, 5, 0, 0, 30))
    fired: list[tuple[str, datetime, bool]] = []
    scheduler = _scheduler(clock, fired)
    out = scheduler.advance(timedelta(hours=7), catch_up=1)
    assert [str(f) for f in out] == ["every-minute@2026-01-05T07:00:00Z", "quarter@2026-01-05T07:00:00Z"]
    # the schedules carry on from the new time: the next minute fires once, as usual
    assert [str(f) for f in scheduler.advance(timedelta(minutes=1))] == ["every-minute@2026-01-05T07:01:00Z"]


def test_clocks_only_move_forward() -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        ManualClock(dt(2026, 1, 1)).advance(timedelta(seconds=-1))
    clock = ShiftedClock()
    before = clock.now()
    clock.advance(timedelta(hours=1))
    assert clock.now() - before >= timedelta(hours=1)
    assert clock.offset == timedelta(hours=1)
