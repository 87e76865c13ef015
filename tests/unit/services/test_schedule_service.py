"""Schedules over a fake of their store that keeps the adapter's layout and conditions: S1 (no overlap within a
schedule) and S2 (nobody on two overlapping shifts) through the guard versions, lost races retried and given up,
overrides, rotation slots and their tombstones, judged on the stored views and the events written with them."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from oncall.domain.errors import ConcurrentUpdate, Forbidden, NotFound
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Shift, ShiftOverlap
from oncall.domain.users import Role, User
from oncall.services.schedule_ports import Change
from oncall.services.schedules import ScheduleService
from tests.support.fakes import START, Clock, FakePersonNames, FakeScheduleStore, user

ADMIN = user("admin", role=Role.ADMIN)
ANN = user("ann")
BOB = user("bob")


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


@pytest.fixture
def store() -> FakeScheduleStore:
    return FakeScheduleStore()


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def schedules(store: FakeScheduleStore, clock: Clock, slept: list[float]) -> ScheduleService:
    names = FakePersonNames(admin="Admin", ann="Ann", bob="Bob")
    return ScheduleService(store, names, clock=clock, sleep=slept.append, rng=random.Random(7), attempts=4)


@pytest.fixture
def sid(schedules: ScheduleService) -> str:
    return schedules.create_schedule(ADMIN, name="Payments", timezone="Europe/Berlin").id


def on_duty(schedules: ScheduleService, sid: str, who: User, start: float, end: float) -> Shift:
    return schedules.put_on_duty(ADMIN, schedule_id=sid, user_id=who.id, start=at(start), end=at(end))


def spans(shifts: list[Shift]) -> list[tuple[str, float, float]]:
    return [(s.user_id, (s.start - START) / timedelta(hours=1), (s.end - START) / timedelta(hours=1)) for s in shifts]


def test_s1_a_schedule_never_holds_two_overlapping_shifts(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str
) -> None:
    first = on_duty(schedules, sid, ANN, 0, 8)

    with pytest.raises(ShiftOverlap) as refused:
        on_duty(schedules, sid, BOB, 7, 12)
    on_duty(schedules, sid, BOB, 8, 12)  # half-open: back to back is fine

    assert [c.id for c in refused.value.conflicts] == [first.id]
    assert spans(store.shifts(sid)) == [("ann", 0, 8), ("bob", 8, 12)]
    assert [(e.detail_type, e.version) for e in store.events] == [("shift.created", 1), ("shift.created", 1)]
    assert schedules.get_schedule(sid).version == 2  # one bump per write, none for the refused one


def test_s2_nobody_is_on_two_overlapping_shifts_across_schedules(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str
) -> None:
    other = schedules.create_schedule(ADMIN, name="Search", timezone="UTC").id
    on_duty(schedules, sid, ANN, 0, 8)

    with pytest.raises(ShiftOverlap):
        on_duty(schedules, other, ANN, 4, 6)

    assert store.shifts(other) == []
    assert store.guard("ann") == 1
    on_duty(schedules, other, ANN, 8, 10)
    assert spans(store.person_shifts("ann")) == [("ann", 0, 8), ("ann", 8, 10)]
    assert store.guard("ann") == 2


def test_a_long_shift_before_the_window_is_found_as_a_neighbour(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str
) -> None:
    on_duty(schedules, sid, ANN, 0, 100)  # starts long before the window asked about, still running

    with pytest.raises(ShiftOverlap):
        on_duty(schedules, sid, BOB, 50, 51)

    assert schedules.on_call(sid, at(99.9))[1] is not None
    assert schedules.on_call(sid, at(100))[1] is None


def test_moving_a_shift_moves_every_view_and_checks_the_new_holder(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str
) -> None:
    shift = on_duty(schedules, sid, ANN, 0, 8)
    on_duty(schedules, sid, BOB, 10, 12)

    moved = schedules.move_shift(ADMIN, schedule_id=sid, shift_id=shift.id, user_id=BOB.id, end=at(9))
    with pytest.raises(ShiftOverlap):
        schedules.move_shift(ADMIN, schedule_id=sid, shift_id=shift.id, end=at(11))

    assert (moved.id, moved.version) == (shift.id, 2)
    assert store.person_shifts("ann") == []
    assert spans(store.person_shifts("bob")) == [("bob", 0, 9), ("bob", 10, 12)]
    assert spans(store.shifts(sid)) == [("bob", 0, 9), ("bob", 10, 12)]
    assert (store.guard("ann"), store.guard("bob")) == (2, 2)  # the refused move bumped nothing
    assert store.events[-1].detail_type == "shift.updated"


def test_an_override_carves_the_covered_shift_around_the_new_one(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str
) -> None:
    on_duty(schedules, sid, ANN, 0, 8)
    applied = store.applied

    schedules.override(ADMIN, schedule_id=sid, user_id=BOB.id, start=at(3), end=at(5))

    assert spans(store.shifts(sid)) == [("ann", 0, 3), ("bob", 3, 5), ("ann", 5, 8)]
    assert store.applied == applied + 1  # one transaction
    assert [e.detail_type for e in store.events[1:]] == ["shift.updated", "shift.created", "shift.created"]


def test_a_responder_manages_only_their_own_shifts(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str
) -> None:
    mine = schedules.put_on_duty(ANN, schedule_id=sid, user_id=ANN.id, start=at(0), end=at(4))

    with pytest.raises(Forbidden):
        schedules.put_on_duty(ANN, schedule_id=sid, user_id=BOB.id, start=at(4), end=at(8))
    with pytest.raises(Forbidden):
        schedules.move_shift(ANN, schedule_id=sid, shift_id=mine.id, user_id=BOB.id)

    assert spans(store.shifts(sid)) == [("ann", 0, 4)]


def racing(store: FakeScheduleStore, race: Callable[[Change], None]) -> None:
    """Let ``race`` write just before each of ann's transactions: another writer between her read and her write."""
    apply = store.apply

    def contended(change: Change) -> None:
        if "ann" in change.user_versions:
            race(change)
        apply(change)

    store.apply = contended  # type: ignore[method-assign]


def other_writer(store: FakeScheduleStore, sid: str) -> ScheduleService:
    names = FakePersonNames(ann="Ann", bob="Bob")
    return ScheduleService(store, names, clock=Clock(), sleep=lambda _: None)


def test_a_write_that_loses_a_race_reads_again_and_then_sees_the_overlap(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str
) -> None:
    """The S1 race: both writers saw a free window; the guard version makes the second re-read and refuse."""
    rival = other_writer(store, sid)

    def race(change: Change) -> None:
        if not store.shifts(sid):
            rival.put_on_duty(ADMIN, schedule_id=sid, user_id=BOB.id, start=at(1), end=at(3))

    racing(store, race)

    with pytest.raises(ShiftOverlap):
        on_duty(schedules, sid, ANN, 0, 8)

    assert spans(store.shifts(sid)) == [("bob", 1, 3)]
    assert schedules.stats.retries == 1


def test_a_write_that_keeps_losing_gives_up_with_concurrent_update_after_jittered_backoff(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str, slept: list[float]
) -> None:
    rival = other_writer(store, sid)

    def race(change: Change) -> None:
        # someone else writes to the schedule every time, far from the window this write wants
        n = len(store.shifts(sid))
        rival.put_on_duty(ADMIN, schedule_id=sid, user_id=BOB.id, start=at(100 + n), end=at(101 + n))

    racing(store, race)

    with pytest.raises(ConcurrentUpdate):
        on_duty(schedules, sid, ANN, 0, 8)

    assert store.person_shifts("ann") == []
    assert len(store.shifts(sid)) == 4
    assert (schedules.stats.retries, schedules.stats.exhausted) == (4, 1)
    assert len(slept) == 3 and all(0 <= s <= 0.01 * 2**i for i, s in enumerate(slept))


def test_a_deleted_rotation_slot_stays_deleted_when_the_rotation_runs_again(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str, clock: Clock
) -> None:
    rotation, made = schedules.create_rotation(
        ADMIN, schedule_id=sid, participants=["ann", "bob"], start=at(24), period="daily"
    )
    first = store.shifts(sid)[0]

    schedules.delete_shift(ADMIN, schedule_id=sid, shift_id=first.id)
    again = schedules.materialise(rotation, clock())

    assert made.created == len(store.shifts(sid)) + 1
    assert again.created == 0
    assert first.id not in {s.id for s in store.shifts(sid)}
    assert store.known_ids(sid, [first.id]) == {first.id}  # its tombstone
    with pytest.raises(NotFound):
        schedules.get_shift(sid, first.id)


def test_deleting_a_schedule_frees_its_people_and_leaves_nothing(
    schedules: ScheduleService, store: FakeScheduleStore, sid: str
) -> None:
    on_duty(schedules, sid, ANN, 0, 8)
    on_duty(schedules, sid, BOB, 8, 16)

    schedules.delete_schedule(ADMIN, sid)

    assert store.person_shifts("ann") == store.person_shifts("bob") == []
    assert not [key for key in store.items if key[0] == f"SCHED#{sid}"]
    assert [e.detail_type for e in store.events[-2:]] == ["shift.deleted", "shift.deleted"]
    other = Schedule("x", "Other", "UTC")
    store.create_schedule(other, START)
    on_duty(schedules, "x", ANN, 0, 8)  # ann is free again
