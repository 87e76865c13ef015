"""Shifts and overrides: put someone on duty, move or remove a shift, let someone take over part of a schedule, and
list shifts by schedule or person. Every write is one guarded transaction (``oncall.services.schedule_writes``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from oncall.domain.errors import Forbidden, InvalidInput, NotFound
from oncall.domain.schedules import ADMIN, Schedule, acting_on, may_hold
from oncall.domain.shifts import Shift, ShiftOverlap, aware, carve, conflicts, covers, interval, query_window
from oncall.services.schedule_ports import Actor, Change, EventType, PersonNames, ScheduleStore
from oncall.services.schedule_writes import (
    NEIGHBOUR_LIMIT,
    GuardedWriter,
    NeedUsers,
    known_person,
    known_schedule,
    new_id,
    visible_schedule,
)

#: an override replaces at most this many shifts (all in one transaction with the new one)
OVERRIDE_MAX_SHIFTS = 10


class ShiftService:
    def __init__(
        self,
        store: ScheduleStore,
        people: PersonNames,
        writer: GuardedWriter,
        *,
        clock: Callable[[], datetime],
        max_shift: timedelta,
        horizon: timedelta,
    ) -> None:
        self.store = store
        self.people = people
        self.writer = writer
        self.clock = clock
        self.max_shift = max_shift
        self.horizon = horizon

    def put_on_duty(self, actor: Actor, *, schedule_id: str, user_id: str, start: datetime, end: datetime) -> Shift:
        me = acting_on(actor, known_schedule(self.store, schedule_id))
        may_hold(me.id, me.role, [user_id])
        window = interval(start, end, max_length=self.max_shift)
        known_person(self.people, user_id)
        shift = Shift(id=new_id(), schedule_id=schedule_id, user_id=user_id, start=window.start, end=window.end)

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change:
            self.writer.check(schedule_id, user_id, window)
            return Change(
                schedule_id=schedule_id,
                schedule_version=schedule.version,
                user_versions=versions,
                puts=[shift],
                events=[("shift.created", shift)],
                now=self.clock(),
            )

        self.writer.commit(schedule_id, plan, [user_id])
        return shift

    def get_shift(self, schedule_id: str, shift_id: str, actor: Actor | None = None) -> Shift:
        if actor is not None:
            visible_schedule(self.store, actor, schedule_id)
        shift = self.store.get_shift(schedule_id, shift_id)
        if shift is None:
            if self.store.get_schedule(schedule_id) is None:
                raise NotFound("schedule", schedule_id)
            raise NotFound("shift", shift_id)
        return shift

    def move_shift(
        self,
        actor: Actor,
        *,
        schedule_id: str,
        shift_id: str,
        user_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Shift:
        hint = self.get_shift(schedule_id, shift_id, actor)
        if user_id is not None and user_id != hint.user_id:
            known_person(self.people, user_id)
        result: list[Shift] = []

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change:
            # read again under the guard versions just taken: a concurrent move bumped them, so this copy is current
            current = self.get_shift(schedule_id, shift_id)
            target_user = user_id or current.user_id
            if {current.user_id, target_user} - set(versions):
                raise NeedUsers({current.user_id, target_user})
            me = acting_on(actor, schedule)
            may_hold(me.id, me.role, {current.user_id, target_user})
            window = interval(start or current.start, end or current.end, max_length=self.max_shift)
            moved = current.moved(user_id=target_user, start=window.start, end=window.end)
            self.writer.check(schedule_id, target_user, window, ignore=[shift_id])
            result[:] = [moved]
            return Change(
                schedule_id=schedule_id,
                schedule_version=schedule.version,
                user_versions={u: versions[u] for u in {current.user_id, target_user}},
                deletes=[current],
                puts=[moved],
                events=[("shift.updated", moved)],
                now=self.clock(),
            )

        self.writer.commit(schedule_id, plan, {hint.user_id, user_id or hint.user_id})
        return result[0]

    def delete_shift(self, actor: Actor, *, schedule_id: str, shift_id: str) -> None:
        hint = self.get_shift(schedule_id, shift_id, actor)

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change:
            current = self.get_shift(schedule_id, shift_id)
            if current.user_id not in versions:
                raise NeedUsers({current.user_id})
            me = acting_on(actor, schedule)
            may_hold(me.id, me.role, [current.user_id])
            return Change(
                schedule_id=schedule_id,
                schedule_version=schedule.version,
                user_versions={current.user_id: versions[current.user_id]},
                deletes=[current],
                events=[("shift.deleted", replace(current, version=current.version + 1))],
                now=self.clock(),
            )

        self.writer.commit(schedule_id, plan, [hint.user_id])

    def list_shifts(
        self,
        schedule_id: str,
        start: datetime,
        end: datetime,
        limit: int,
        cursor: dict[str, Any] | None,
        actor: Actor | None = None,
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        window = query_window(start, end)
        visible_schedule(self.store, actor, schedule_id)
        return self.store.schedule_shifts(schedule_id, window, limit, cursor)

    def my_shifts(
        self, actor: Actor, start: datetime | None, end: datetime | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        now = self.clock()
        window = query_window(start or now, end or now + self.horizon)
        return self.store.user_shifts(actor.id, window, limit, cursor)

    def on_call(
        self, schedule_id: str, at: datetime | None, actor: Actor | None = None
    ) -> tuple[Schedule, Shift | None]:
        when = aware(at, "at") if at is not None else self.clock()
        schedule = visible_schedule(self.store, actor, schedule_id)
        return schedule, self.store.on_call(schedule_id, when)

    def override(self, actor: Actor, *, schedule_id: str, user_id: str, start: datetime, end: datetime) -> Shift:
        """``user_id`` takes ``[start, end)``: every shift of the schedule in that window is trimmed or split around
        it, in one transaction with the new shift, so S1 holds throughout and S2 is checked for the new holder.

        Authorised like a create and a move: an admin overrides anything; a responder only with themselves as the new
        holder, over their own shifts, and only inside time those shifts already cover (an override is never a way to
        put someone else on duty, or to stretch one's hour into a fortnight)."""
        window = interval(start, end, max_length=self.max_shift)
        known_person(self.people, user_id)
        created = Shift(id=new_id(), schedule_id=schedule_id, user_id=user_id, start=window.start, end=window.end)

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change:
            covered = conflicts(window, self.store.schedule_neighbours(schedule_id, window, OVERRIDE_MAX_SHIFTS + 1))
            if not covered:
                raise InvalidInput("start", "no shift of this schedule lies in [start, end) to override")
            if len(covered) > OVERRIDE_MAX_SHIFTS:
                raise InvalidInput("end", f"an override may cover at most {OVERRIDE_MAX_SHIFTS} shifts")
            holders = {c.user_id for c in covered}
            if (holders | {user_id}) - set(versions):
                raise NeedUsers(holders | {user_id})
            # the person put on duty is authorised like the holders, and a non-admin gives away only time they hold
            me = acting_on(actor, schedule)
            may_hold(me.id, me.role, holders | {user_id})
            if me.role != ADMIN and not covers(covered, window):
                raise Forbidden("responders override only within their own shifts", role=str(me.role))
            others = conflicts(
                window,
                self.store.user_neighbours(user_id, window, NEIGHBOUR_LIMIT + len(covered)),
                ignore=[c.id for c in covered],
            )
            if others:
                raise ShiftOverlap(others)
            puts: list[Shift] = []
            events: list[tuple[EventType, Shift]] = []
            for old in covered:
                pieces = carve(old, window, new_id)
                if not pieces:
                    events.append(("shift.deleted", replace(old, version=old.version + 1)))
                for n, piece in enumerate(pieces):
                    # the first piece is the old shift trimmed; a second is the part after the override
                    puts.append(piece)
                    events.append(("shift.updated" if n == 0 else "shift.created", piece))
            puts.append(created)
            events.append(("shift.created", created))
            return Change(
                schedule_id=schedule_id,
                schedule_version=schedule.version,
                user_versions={u: versions[u] for u in holders | {user_id}},
                deletes=covered,
                puts=puts,
                events=events,
                now=self.clock(),
            )

        self.writer.commit(schedule_id, plan, [user_id])
        return created
