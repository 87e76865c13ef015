"""The overlap rule (S1/S2) and interval validation, checked against a brute-force oracle over minute sets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.domain.errors import InvalidInput
from oncall.domain.shifts import (
    Interval,
    Shift,
    ShiftOverlap,
    aware,
    candidates,
    carve,
    conflicts,
    from_sort_key,
    interval,
    iso,
    overlaps,
    query_window,
    remainder,
    sort_key,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def minutes(iv: Interval) -> set[int]:
    """The oracle's view of an interval: the set of whole minutes it covers (half-open)."""
    return set(range(int((iv.start - T0).total_seconds() // 60), int((iv.end - T0).total_seconds() // 60)))


def shift(i: int, a: int, b: int, user: str = "u1") -> Shift:
    return Shift(id=f"s{i}", schedule_id="sch", user_id=user, start=at(a), end=at(b))


def test_touching_intervals_do_not_overlap() -> None:
    assert not overlaps(Interval(at(0), at(60)), Interval(at(60), at(120)))
    assert overlaps(Interval(at(0), at(61)), Interval(at(60), at(120)))
    assert overlaps(Interval(at(10), at(20)), Interval(at(0), at(120)))


def test_interval_validation_names_the_field() -> None:
    with pytest.raises(InvalidInput) as naive:
        interval(datetime(2026, 3, 1, 9), at(60))
    assert naive.value.field == "start"
    with pytest.raises(InvalidInput) as backwards:
        interval(at(60), at(60))
    assert backwards.value.field == "end"
    with pytest.raises(InvalidInput) as too_long:
        interval(at(0), at(0) + timedelta(days=14, seconds=1))
    assert too_long.value.field == "end"
    assert interval(at(0), at(0) + timedelta(days=14)).length == timedelta(days=14)
    with pytest.raises(InvalidInput) as naive_end:
        interval(at(0), datetime(2026, 3, 2), end_field="shift.end")
    assert naive_end.value.field == "shift.end"


def test_offsets_are_normalised_to_utc_and_sort_keys_sort_like_instants() -> None:
    berlin_nine = datetime(2026, 3, 1, 9, tzinfo=timezone(timedelta(hours=1)))
    assert aware(berlin_nine, "start") == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert iso(berlin_nine) == "2026-03-01T08:00:00Z"
    a, b = at(0), at(0) + timedelta(microseconds=1)
    assert sort_key(a) < sort_key(b)
    assert from_sort_key(sort_key(b)) == b


@st.composite
def stored_and_candidate(draw: st.DrawFn) -> tuple[list[Shift], Interval]:
    """A schedule's shifts built the way the store builds them (each accepted only if it overlaps nothing), plus a
    candidate interval to check."""
    stored: list[Shift] = []
    for i in range(draw(st.integers(0, 25))):
        a = draw(st.integers(0, 2000))
        b = a + draw(st.integers(1, 300))
        iv = Interval(at(a), at(b))
        if all(not (minutes(iv) & minutes(s.interval)) for s in stored):
            stored.append(shift(i, a, b))
    a = draw(st.integers(-100, 2100))
    return sorted(stored, key=lambda s: s.start), Interval(at(a), at(a + draw(st.integers(1, 600))))


@given(stored_and_candidate())
def test_neighbour_queries_find_exactly_the_conflicts_the_oracle_finds(case: tuple[list[Shift], Interval]) -> None:
    stored, candidate = case
    oracle = {s.id for s in stored if minutes(s.interval) & minutes(candidate)}
    found = {s.id for s in conflicts(candidate, candidates(stored, candidate))}
    assert found == oracle
    # reading neighbours never needs more than the shifts inside the window plus one
    inside = sum(1 for s in stored if candidate.start <= s.start < candidate.end)
    assert len(candidates(stored, candidate)) <= inside + 1


ops = st.lists(
    st.tuples(
        st.sampled_from(["create", "move", "delete"]),
        st.integers(0, 9),  # which shift (create: new id; move/delete: index into current)
        st.sampled_from(["u1", "u2", "u3"]),
        st.integers(0, 1000),
        st.integers(1, 240),
    ),
    max_size=60,
)


@given(ops)
def test_applying_the_rule_keeps_s1_and_s2_and_rejects_only_real_conflicts(
    plan: list[tuple[str, int, str, int, int]],
) -> None:
    """Model of one schedule with three people who also hold shifts elsewhere (``other``): every write goes through
    the neighbour rule for the schedule and for the person; the oracle confirms each rejection and the invariants."""
    other = [shift(100 + i, 200 * i, 200 * i + 50, user=u) for i, u in enumerate(["u1", "u2", "u3"])]
    other = [Shift(id=s.id, schedule_id="elsewhere", user_id=s.user_id, start=s.start, end=s.end) for s in other]
    mine: dict[str, Shift] = {}
    for n, (op, pick, user, a, length) in enumerate(plan):
        existing = sorted(mine)
        if op == "delete":
            if existing:
                mine.pop(existing[pick % len(existing)])
            continue
        iv = Interval(at(a), at(a + length))
        ignore: list[str] = []
        if op == "move" and existing:
            sid = existing[pick % len(existing)]
            ignore = [sid]
        else:
            sid = f"n{n}"
        by_start = sorted(mine.values(), key=lambda s: s.start)
        users = sorted([s for s in (*mine.values(), *other) if s.user_id == user], key=lambda s: s.start)
        found = conflicts(iv, candidates(by_start, iv), ignore=ignore) + conflicts(
            iv, candidates(users, iv), ignore=ignore
        )
        truth = [
            s
            for s in (*mine.values(), *other)
            if s.id not in ignore
            and (s.schedule_id == "sch" or s.user_id == user)
            and minutes(s.interval) & minutes(iv)
        ]
        assert {s.id for s in found} == {s.id for s in truth}
        if not found:
            mine[sid] = Shift(id=sid, schedule_id="sch", user_id=user, start=iv.start, end=iv.end)
    everything = [*mine.values(), *other]
    for x in everything:
        for y in everything:
            if x.id < y.id and (x.schedule_id == y.schedule_id == "sch" or x.user_id == y.user_id):
                assert not overlaps(x.interval, y.interval), (x, y)


@given(st.integers(0, 500), st.integers(1, 500), st.integers(-100, 700), st.integers(1, 500))
def test_override_remainder_is_the_shift_minus_the_cut(a: int, length: int, c: int, clen: int) -> None:
    original = shift(1, a, a + length)
    cut = Interval(at(c), at(c + clen))
    pieces = remainder(original, cut)
    covered: set[int] = set()
    for p in pieces:
        assert not (minutes(p) & covered)
        covered |= minutes(p)
    assert covered == minutes(original.interval) - minutes(cut)
    assert len(pieces) <= 2


def test_overlap_error_lists_each_conflict_once_in_start_order() -> None:
    late, early = shift(2, 120, 180), shift(1, 0, 60)
    err = ShiftOverlap([late, early, late])
    assert err.code == "shift_overlap"
    assert [c["id"] for c in err.details["conflicts"]] == ["s1", "s2"]
    assert err.details["conflicts"][0]["start"] == "2026-03-01T00:00:00Z"


def test_carving_trims_in_place_and_splits_off_a_new_shift_that_no_rotation_owns() -> None:
    slot = Shift(id="r1-r1-0", schedule_id="sch", user_id="u1", start=at(0), end=at(60), rotation_id="r1")
    ids = iter(["new"])
    kept, after = carve(slot, Interval(at(20), at(40)), lambda: next(ids))
    assert (kept.id, kept.start, kept.end, kept.version, kept.rotation_id) == ("r1-r1-0", at(0), at(20), 2, "r1")
    assert (after.id, after.start, after.end, after.version, after.rotation_id) == ("new", at(40), at(60), 1, None)
    assert carve(slot, Interval(at(-10), at(70)), lambda: "unused") == []
    [trimmed] = carve(slot, Interval(at(30), at(90)), lambda: "unused")
    assert (trimmed.start, trimmed.end) == (at(0), at(30))


def test_a_query_window_is_ordered_and_at_most_366_days() -> None:
    assert query_window(at(0), at(1)) == Interval(at(0), at(1))
    for start, end, field in [(at(1), at(1), "to"), (at(0), at(0) + timedelta(days=367), "to")]:
        with pytest.raises(InvalidInput) as err:
            query_window(start, end)
        assert err.value.field == field
    with pytest.raises(InvalidInput) as err:
        query_window(datetime(2026, 3, 1), at(1))
    assert err.value.field == "from"
