"""Schedules, and the one entry to everything on them: the use cases behind ``/schedules``, ``/me/shifts`` and the
calendar feeds, the hourly rotation job, the bot's and the lifecycle's "who is on call".

``ScheduleService`` manages schedules itself and hands the rest to the service that owns it, all sharing one store
and one guarded writer (so one set of retry statistics):

- ``oncall.services.shifts``: shifts and overrides;
- ``oncall.services.rotations``: rotations and their materialisation;
- ``oncall.services.feeds``: calendar feeds and their tokens;
- ``oncall.services.schedule_writes``: the guarded write every shift change goes through.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall.domain import rotations as rot
from oncall.domain.errors import ConcurrentUpdate
from oncall.domain.rotations import Materialised
from oncall.domain.schedules import Schedule, check_name, zone
from oncall.domain.shifts import DEFAULT_MAX_SHIFT, Interval, Shift
from oncall.domain.teams import Access
from oncall.services.audit_ports import NO_AUDIT, Recorder
from oncall.services.feeds import CalendarFeeds
from oncall.services.rotations import RotationService
from oncall.services.schedule_ports import Actor, Change, PersonNames, ScheduleStore, VersionConflict
from oncall.services.schedule_writes import (
    CHUNK,
    GuardedWriter,
    NeedUsers,
    RetryStats,
    managed_schedule,
    new_id,
    visible_schedule,
)
from oncall.services.shifts import ShiftService
from oncall.services.teams import Teams, owning_team


class ScheduleService:
    def __init__(
        self,
        store: ScheduleStore,
        people: PersonNames,
        *,
        clock: Callable[[], datetime],
        max_shift: timedelta = DEFAULT_MAX_SHIFT,
        horizon: timedelta = rot.DEFAULT_HORIZON,
        attempts: int = 8,
        backoff_base_s: float = 0.01,
        backoff_cap_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        teams: Teams | None = None,
        audit: Recorder = NO_AUDIT,
    ) -> None:
        self.audit = audit
        self.teams = teams
        self.store = store
        self.people = people
        self.clock = clock
        self.writer = GuardedWriter(
            store,
            clock,
            attempts=attempts,
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            sleep=sleep,
            rng=rng,
        )
        self.shifts = ShiftService(store, people, self.writer, clock=clock, max_shift=max_shift, horizon=horizon)
        self.rotations = RotationService(
            store, people, self.writer, clock=clock, max_shift=max_shift, horizon=horizon, audit=audit
        )
        self.feeds = CalendarFeeds(store, people, clock=clock)

    @property
    def stats(self) -> RetryStats:
        return self.writer.stats

    # -- schedules -------------------------------------------------------------------------------------------------

    def create_schedule(
        self, actor: Actor, *, name: str, timezone: str, team: str | None = None, team_id: str | None = None
    ) -> Schedule:
        owner = owning_team(self.teams, actor, team_id, self.clock)
        zone(timezone)
        schedule = Schedule(
            id=new_id(),
            name=check_name(name),
            timezone=timezone,
            team=check_name(team, "team", blank_ok=True) if team is not None else None,
            team_id=owner,
        )
        with self.audit(actor.id, "schedule.created", schedule.id, None, schedule.to_dict()):
            self.store.create_schedule(schedule, self.clock())
        return schedule

    def get_schedule(self, schedule_id: str, actor: Actor | None = None) -> Schedule:
        return visible_schedule(self.store, actor, schedule_id)

    def list_schedules(
        self, actor: Actor, limit: int, cursor: dict[str, Any] | None, team_id: str | None = None
    ) -> tuple[list[Schedule], dict[str, Any] | None]:
        scope = Access.of(actor).scope(team_id)
        return ([], None) if scope == frozenset() else self.store.list_schedules(limit, cursor, scope)

    def team_owns_anything(self, team_id: str) -> bool:
        return self.store.team_owns_anything(team_id)

    def update_schedule(
        self,
        actor: Actor,
        schedule_id: str,
        *,
        name: str | None,
        timezone: str | None,
        team: str | None,
        team_id: str | None = None,
    ) -> Schedule:
        current = managed_schedule(self.store, actor, schedule_id)
        moved_to = current.team_id
        if team_id is not None and team_id != current.team_id:
            moved_to = owning_team(self.teams, actor, team_id, self.clock)
        if timezone is not None:
            zone(timezone)
        updated = replace(
            current,
            name=check_name(name) if name is not None else current.name,
            timezone=timezone or current.timezone,
            team=check_name(team, "team", blank_ok=True) if team is not None else current.team,
            team_id=moved_to,
        )
        with self.audit(actor.id, "schedule.updated", schedule_id, current.to_dict(), updated.to_dict()):
            self.store.update_schedule(updated)
        return updated

    def delete_schedule(self, actor: Actor, schedule_id: str) -> None:
        """Remove every shift (freeing the people's slots, each removal an ordinary guarded write) and then the
        schedule; a shift created meanwhile makes the final conditional delete fail and the loop go round again."""
        gone = managed_schedule(self.store, actor, schedule_id)
        with self.audit(actor.id, "schedule.deleted", schedule_id, gone.to_dict(), None):
            self._delete_schedule(schedule_id)

    def _delete_schedule(self, schedule_id: str) -> None:
        everything = Interval(datetime(1970, 1, 1, tzinfo=UTC), datetime(9998, 1, 1, tzinfo=UTC))

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change | None:
            # listed under the guard versions just read, so a concurrent move cannot slip between list and delete
            batch = self.store.schedule_shifts(schedule_id, everything, CHUNK, None)[0][:CHUNK]
            if not batch:
                return None
            users = {s.user_id for s in batch}
            if users - set(versions):
                raise NeedUsers(users)
            return self.writer.removal(schedule, {u: versions[u] for u in users}, batch, purge=True)

        for _ in range(10_000):
            if self.writer.commit(schedule_id, plan, ()) is not None:
                continue
            try:
                self.store.delete_schedule_record(self.get_schedule(schedule_id))
                return
            except VersionConflict:
                self.stats.retried()
        raise ConcurrentUpdate("schedule kept changing while being deleted; try again")

    # -- shifts and overrides (oncall.services.shifts) -----------------------------------------------------------

    def put_on_duty(self, actor: Actor, *, schedule_id: str, user_id: str, start: datetime, end: datetime) -> Shift:
        return self.shifts.put_on_duty(actor, schedule_id=schedule_id, user_id=user_id, start=start, end=end)

    def get_shift(self, schedule_id: str, shift_id: str, actor: Actor | None = None) -> Shift:
        return self.shifts.get_shift(schedule_id, shift_id, actor)

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
        return self.shifts.move_shift(
            actor, schedule_id=schedule_id, shift_id=shift_id, user_id=user_id, start=start, end=end
        )

    def delete_shift(self, actor: Actor, *, schedule_id: str, shift_id: str) -> None:
        self.shifts.delete_shift(actor, schedule_id=schedule_id, shift_id=shift_id)

    def list_shifts(
        self,
        schedule_id: str,
        start: datetime,
        end: datetime,
        limit: int,
        cursor: dict[str, Any] | None,
        actor: Actor | None = None,
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        return self.shifts.list_shifts(schedule_id, start, end, limit, cursor, actor)

    def my_shifts(
        self, actor: Actor, start: datetime | None, end: datetime | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        return self.shifts.my_shifts(actor, start, end, limit, cursor)

    def on_call(
        self, schedule_id: str, at: datetime | None, actor: Actor | None = None
    ) -> tuple[Schedule, Shift | None]:
        return self.shifts.on_call(schedule_id, at, actor)

    def override(self, actor: Actor, *, schedule_id: str, user_id: str, start: datetime, end: datetime) -> Shift:
        return self.shifts.override(actor, schedule_id=schedule_id, user_id=user_id, start=start, end=end)

    # -- rotations (oncall.services.rotations) -------------------------------------------------------------------

    def create_rotation(
        self,
        actor: Actor,
        *,
        schedule_id: str,
        participants: Sequence[str],
        start: datetime,
        period: str,
        hours: int | None = None,
        end: datetime | None = None,
        timezone: str | None = None,
        name: str = "",
    ) -> tuple[rot.Rotation, Materialised]:
        return self.rotations.create_rotation(
            actor,
            schedule_id=schedule_id,
            participants=participants,
            start=start,
            period=period,
            hours=hours,
            end=end,
            timezone=timezone,
            name=name,
        )

    def list_rotations(self, schedule_id: str, actor: Actor | None = None) -> list[rot.Rotation]:
        return self.rotations.list_rotations(schedule_id, actor)

    def update_rotation(
        self, actor: Actor, *, schedule_id: str, rotation_id: str, changes: dict[str, Any]
    ) -> tuple[rot.Rotation, Materialised]:
        return self.rotations.update_rotation(actor, schedule_id=schedule_id, rotation_id=rotation_id, changes=changes)

    def delete_rotation(self, actor: Actor, *, schedule_id: str, rotation_id: str) -> None:
        self.rotations.delete_rotation(actor, schedule_id=schedule_id, rotation_id=rotation_id)

    def materialise(self, rotation: rot.Rotation, now: datetime) -> Materialised:
        return self.rotations.materialise(rotation, now)

    def materialise_all(self, now: datetime) -> list[Materialised]:
        return self.rotations.materialise_all(now)

    # -- calendar feeds (oncall.services.feeds) ------------------------------------------------------------------

    def rotate_schedule_feed(self, actor: Actor, schedule_id: str) -> str:
        return self.feeds.rotate_schedule_feed(actor, schedule_id)

    def rotate_user_feed(self, actor: Actor) -> str:
        return self.feeds.rotate_user_feed(actor)

    def schedule_calendar(self, schedule_id: str, token: str | None) -> str:
        return self.feeds.schedule_calendar(schedule_id, token)

    def user_calendar(self, user_id: str, token: str | None) -> str:
        return self.feeds.user_calendar(user_id, token)
