"""Rotation rules → shifts: order, DST-correct handoffs in two zones, windows, and deterministic slot ids."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.domain.errors import InvalidInput
from oncall.domain.rotations import Rotation, horizon, materialise, slots, validate
from oncall.domain.shifts import Interval, overlaps

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def rotation(**kw: object) -> Rotation:
    base: dict[str, object] = {
        "id": "rot1",
        "schedule_id": "sch",
        "participants": ("ann", "bob", "cid"),
        "start": datetime(2026, 3, 20, 9, tzinfo=BERLIN),
        "timezone": "Europe/Berlin",
        "period": "daily",
    }
    base.update(kw)
    return validate(Rotation(**base))  # type: ignore[arg-type]


def window(a: datetime, days: int) -> Interval:
    return Interval(a.astimezone(UTC), (a + timedelta(days=days)).astimezone(UTC))


@pytest.mark.parametrize(
    ("tz", "zone", "first"),
    [
        # Europe/Berlin springs forward on 2026-03-29 and falls back on 2026-10-25
        ("Europe/Berlin", BERLIN, datetime(2026, 3, 26, 9, tzinfo=BERLIN)),
        ("Europe/Berlin", BERLIN, datetime(2026, 10, 22, 9, tzinfo=BERLIN)),
        # America/New_York springs forward on 2026-03-08 and falls back on 2026-11-01
        ("America/New_York", NEW_YORK, datetime(2026, 3, 5, 9, tzinfo=NEW_YORK)),
        ("America/New_York", NEW_YORK, datetime(2026, 10, 29, 9, tzinfo=NEW_YORK)),
    ],
)
def test_daily_handoff_stays_at_nine_local_across_dst(tz: str, zone: ZoneInfo, first: datetime) -> None:
    rot = rotation(start=first, timezone=tz)
    shifts = materialise(rot, window(first, 7))
    assert len(shifts) == 7
    assert [s.start.astimezone(zone).hour for s in shifts] == [9] * 7
    assert [s.user_id for s in shifts] == ["ann", "bob", "cid", "ann", "bob", "cid", "ann"]
    lengths = {s.end - s.start for s in shifts}
    # exactly one shift spans the change and is an hour shorter (spring) or longer (autumn)
    assert timedelta(hours=24) in lengths
    assert lengths & {timedelta(hours=23), timedelta(hours=25)}
    for a, b in itertools.pairwise(shifts):
        assert a.end == b.start


def test_weekly_handoff_in_new_york_keeps_monday_nine() -> None:
    first = datetime(2026, 2, 23, 9, tzinfo=NEW_YORK)  # a Monday
    rot = rotation(start=first, timezone="America/New_York", period="weekly")
    shifts = materialise(rot, window(first, 28))
    assert [(s.start.astimezone(NEW_YORK).weekday(), s.start.astimezone(NEW_YORK).hour) for s in shifts] == [(0, 9)] * 4
    assert shifts[1].end - shifts[1].start == timedelta(days=7, hours=-1)  # contains 2026-03-08


def test_hourly_rotation_counts_elapsed_time_not_wall_clock() -> None:
    first = datetime(2026, 3, 28, 20, tzinfo=BERLIN)
    rot = rotation(start=first, period="hours", hours=12)
    shifts = materialise(rot, window(first, 2))
    assert all(s.end - s.start == timedelta(hours=12) for s in shifts)
    assert [s.start.astimezone(BERLIN).hour for s in shifts] == [20, 9, 21, 9]  # 12 h after 20:00 CET is 09:00 CEST


def test_handoff_in_the_skipped_hour_moves_forward_by_the_gap() -> None:
    first = datetime(2026, 3, 27, 2, 30, tzinfo=BERLIN)
    shifts = materialise(rotation(start=first), window(first, 4))
    local = [s.start.astimezone(BERLIN) for s in shifts]
    assert [(t.day, t.hour, t.minute) for t in local] == [(27, 2, 30), (28, 2, 30), (29, 3, 30), (30, 2, 30)]
    assert all(s.start < s.end for s in shifts)


def test_end_truncates_the_last_slot_and_stops_the_rotation() -> None:
    first = datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    rot = rotation(start=first, end=datetime(2026, 5, 3, 21, tzinfo=BERLIN))
    shifts = materialise(rot, window(first, 30))
    assert len(shifts) == 3
    assert shifts[-1].end == datetime(2026, 5, 3, 21, tzinfo=BERLIN)


def test_slot_ids_are_deterministic_and_change_with_the_revision() -> None:
    first = datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    rot = rotation(start=first)
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    a = materialise(rot, horizon(now))
    b = materialise(rot, horizon(now + timedelta(hours=5)))
    assert a[0].id == b[0].id == "rot1-r1-31"  # the slot running at `now` (June 1st, 09:00 Berlin)
    assert {s.id for s in a} - {s.id for s in b} == set()  # a later horizon only adds slots
    assert len(a) == 8 * 7 + 1
    bumped = rotation(start=first, revision=2)
    assert materialise(bumped, horizon(now))[0].id == "rot1-r2-31"


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"participants": ()}, "participants"),
        ({"timezone": "CET+1"}, "timezone"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"period": "hours"}, "hours"),
        ({"period": "hours", "hours": 24 * 15}, "period"),
        ({"period": "daily", "hours": 3}, "hours"),
        ({"start": datetime(2026, 5, 1, 9)}, "start"),
        ({"end": datetime(2026, 3, 1, 9, tzinfo=UTC)}, "end"),
    ],
)
def test_invalid_rules_name_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        rotation(**kw)
    assert err.value.field == field


zones = st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC", "Asia/Kolkata"])


@given(
    zones,
    st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1)),
    st.sampled_from(["daily", "weekly", "hours"]),
    st.integers(1, 48),
    st.integers(0, 400),
    st.integers(1, 60),
)
def test_slots_tile_any_window_without_gaps_or_overlap(
    tz: str, local_start: datetime, period: str, hours: int, offset_days: int, span_days: int
) -> None:
    start = local_start.replace(second=0, microsecond=0, tzinfo=ZoneInfo(tz))
    rot = rotation(start=start, timezone=tz, period=period, hours=hours if period == "hours" else None)
    w_start = start.astimezone(UTC) + timedelta(days=offset_days, hours=hours)
    win = Interval(w_start, w_start + timedelta(days=span_days))
    got = slots(rot, win)
    assert got, "a window after the start always meets a slot"
    assert got[0].start <= win.start < got[0].end
    assert got[-1].start < win.end <= got[-1].end
    for a, b in itertools.pairwise(got):
        assert a.end == b.start and a.index + 1 == b.index
    for s in got:
        assert s.start < s.end and overlaps(s.interval, win)
        assert s.user_id == rot.participants[s.index % 3]
        if period != "hours":
            wall = s.start.astimezone(ZoneInfo(tz))
            first = start
            # same local time of day unless the handoff fell into a skipped hour
            assert (wall.hour, wall.minute) == (first.hour, first.minute) or wall.utcoffset() != first.utcoffset()
