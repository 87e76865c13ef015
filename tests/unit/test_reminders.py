"""Reminder rules: planning (skip what is already due), the tick's decision, lateness, buckets, the text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from oncall.domain import reminders as r
from oncall.domain import texts
from oncall.domain.reminders import ReminderStatus

START = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)  # the morning Europe/Berlin switched to summer time


def test_plan_default_offsets_all_pending_when_known_early() -> None:
    planned = r.plan(START, (24 * 60, 120, 10), START - timedelta(days=3))
    assert [(p.offset_minutes, p.due_at, p.status) for p in planned] == [
        (1440, START - timedelta(hours=24), ReminderStatus.PENDING),
        (120, START - timedelta(hours=2), ReminderStatus.PENDING),
        (10, START - timedelta(minutes=10), ReminderStatus.PENDING),
    ]


def test_plan_skips_what_was_already_due_when_the_shift_became_known() -> None:
    planned = r.plan(START, (1440, 120, 10), START - timedelta(minutes=30))
    assert {p.offset_minutes: p.status for p in planned} == {
        1440: ReminderStatus.SKIPPED,
        120: ReminderStatus.SKIPPED,
        10: ReminderStatus.PENDING,
    }
    # exactly due at creation counts as already due
    assert r.plan(START, (10,), START - timedelta(minutes=10))[0].status is ReminderStatus.SKIPPED


def test_plan_opt_out_and_duplicates() -> None:
    assert r.plan(START, (), START - timedelta(days=1)) == []
    assert [p.offset_minutes for p in r.plan(START, (10, 10, 60), START - timedelta(days=1))] == [60, 10]


def test_decide_boundaries() -> None:
    due = START - timedelta(minutes=10)
    assert r.decide(due, START, due - timedelta(seconds=1)) == "wait"
    assert r.decide(due, START, due) == "send"
    assert r.decide(due, START, START - timedelta(seconds=1)) == "send"
    assert r.decide(due, START, START) == "missed"  # never at or after the start
    assert r.decide(due, START, START + timedelta(hours=3)) == "missed"


def test_lateness_is_one_tick_of_slack() -> None:
    due = START - timedelta(minutes=10)
    assert not r.is_late(due, due)
    assert not r.is_late(due, due + timedelta(seconds=59))
    assert r.is_late(due, due + timedelta(seconds=60))


def test_buckets_between() -> None:
    now = datetime(2026, 1, 1, 1, 30, tzinfo=UTC)
    assert r.buckets_between("2025-12-31T22", now) == [
        "2025-12-31T22",
        "2025-12-31T23",
        "2026-01-01T00",
        "2026-01-01T01",
    ]
    assert r.buckets_between("2026-01-01T05", now) == ["2026-01-01T01"]  # a cursor ahead of now: just now's hour
    assert r.buckets_between("garbage", now) == ["2026-01-01T01"]
    assert r.bucket(datetime(2026, 1, 1, 1, 59, 59, tzinfo=UTC)) == "2026-01-01T01"


def test_text_in_the_persons_time_zone_with_schedule_end_and_handover() -> None:
    text = texts.reminder(
        offset_minutes=120,
        schedule_name="Payments primary",
        start=START,
        end=START + timedelta(hours=12),
        timezone="Europe/Berlin",
        handover_from="Grace Hopper",
        late=False,
        now=START - timedelta(hours=2),
    )
    assert "Payments primary" in text and "starts in 2 hours" in text
    assert "Sun 29 Mar 2026, 10:00 CEST" in text  # 08:00 UTC after the switch to summer time
    assert "Sun 29 Mar 2026, 22:00 CEST" in text
    assert "Handover from: Grace Hopper" in text
    tokyo = texts.reminder(
        offset_minutes=1440,
        schedule_name="S",
        start=START,
        end=START + timedelta(hours=1),
        timezone="Asia/Tokyo",
        handover_from=None,
        late=False,
        now=START - timedelta(days=1),
    )
    assert "17:00 JST" in tokyo and "24 hours" in tokyo and "nobody" in tokyo


def test_late_text_says_so() -> None:
    text = texts.reminder(
        offset_minutes=1440,
        schedule_name="S",
        start=START,
        end=START + timedelta(hours=1),
        timezone="UTC",
        handover_from=None,
        late=True,
        now=START - timedelta(minutes=45),
    )
    assert "(late)" in text and "starts in 45 minutes" in text and "was due at Sat 28 Mar 2026, 08:00 UTC" in text


def test_unknown_zone_falls_back_to_utc() -> None:
    text = texts.reminder(
        offset_minutes=10,
        schedule_name="S",
        start=START,
        end=START + timedelta(hours=1),
        timezone="Mars/Olympus",
        handover_from=None,
        late=False,
        now=START,
    )
    assert "08:00 UTC" in text


def test_message_key_changes_when_the_shift_moves() -> None:
    assert r.message_key("s1", 10, START) != r.message_key("s1", 10, START + timedelta(minutes=1))
    assert r.message_key("s1", 10, START) == r.message_key("s1", 10, START)


@given(
    offsets=st.lists(st.integers(min_value=1, max_value=14 * 24 * 60), max_size=10),
    known_before=st.integers(min_value=-(15 * 24 * 60), max_value=15 * 24 * 60),
    now_offset=st.integers(min_value=-(15 * 24 * 60), max_value=60),
)
def test_plan_and_decide_never_send_what_was_due_at_creation_or_after_start(
    offsets: list[int], known_before: int, now_offset: int
) -> None:
    known_at = START - timedelta(minutes=known_before)
    now = START + timedelta(minutes=now_offset)
    for p in r.plan(START, offsets, known_at):
        assert (p.status is ReminderStatus.PENDING) == (p.due_at > known_at)
        decision = r.decide(p.due_at, START, now)
        if decision == "send":
            assert p.due_at <= now < START
        if now >= START:
            assert decision in ("missed", "wait") and (decision == "missed" or p.due_at > now)
