"""Schedules, shifts, rotations, overrides and calendar feeds: the use cases behind ``/schedules`` and ``/me/shifts``.

Every shift write follows DESIGN §3: read the schedule's and the people's guard versions, read the candidate
neighbours (shifts starting inside the window plus the one just before it, for the schedule and for each person),
decide with the pure overlap rule, then commit ONE transaction that bumps every guard read on ``version = :read``.
A lost race (a guard moved, or DynamoDB saw a concurrent transaction) is retried with full-jitter exponential
backoff, a bounded number of times; running out is ``ConcurrentUpdate`` (409 ``concurrent_update``), never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from ulid import ULID

from oncall.domain import ical, texts
from oncall.domain import rotations as rot
from oncall.domain.errors import ConcurrentUpdate, Forbidden, InvalidInput, NotFound
from oncall.domain.schedules import Schedule, check_name, zone
from oncall.domain.shifts import (
    DEFAULT_MAX_SHIFT,
    Interval,
    Shift,
    ShiftOverlap,
    aware,
    conflicts,
    interval,
    remainder,
)
from oncall.services.schedule_ports import (
    Actor,
    Change,
    EventType,
    People,
    ScheduleStore,
    ShiftExists,
    VersionConflict,
)

log = logging.getLogger("oncall.schedules")

ADMIN, RESPONDER = "admin", "responder"
#: how many forward neighbours one check reads; more than this many overlapping shifts are reported as the first ones
NEIGHBOUR_LIMIT = 25
#: shifts per rotation-materialisation transaction: 3 views each + guards + an outbox item stays well under 100
CHUNK = 20
OVERRIDE_MAX_SHIFTS = 10
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=90)


def new_id() -> str:
    return str(ULID()).lower()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Materialised:
    rotation_id: str
    created: int
    existing: int
    conflicts: tuple[Shift, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "rotation_id": self.rotation_id,
            "created": self.created,
            "existing": self.existing,
            "conflicts": [c.to_dict() for c in self.conflicts],
        }


class RetryStats:
    """Counts lost races, so tests and logs can see the retry path run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retries = 0
        self.exhausted = 0

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def gave_up(self) -> None:
        with self._lock:
            self.exhausted += 1


class ScheduleService:
    def __init__(
        self,
        store: ScheduleStore,
        people: People,
        *,
        clock: Callable[[], datetime],
        max_shift: timedelta = DEFAULT_MAX_SHIFT,
        horizon: timedelta = rot.DEFAULT_HORIZON,
        attempts: int = 8,
        backoff_base_s: float = 0.01,
        backoff_cap_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.people = people
        self.clock = clock
        self.max_shift = max_shift
        self.horizon = horizon
        self.attempts = attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311  # jitter, not secrecy
        self.stats = RetryStats()

    # -- authorisation ---------------------------------------------------------------------------------------------

    @staticmethod
    def _admin(actor: Actor) -> None:
        if actor.role != ADMIN:
            raise Forbidden("requires role admin", required=[ADMIN], role=str(actor.role))

    @staticmethod
    def _may_hold(actor: Actor, user_ids: Iterable[str]) -> None:
        """Admins manage every shift; a responder only their own (before and after the change); viewers nothing."""
        if actor.role == ADMIN:
            return
        if actor.role != RESPONDER or any(u != actor.id for u in user_ids):
            raise Forbidden("responders manage only their own shifts", role=str(actor.role))

    # -- schedules -------------------------------------------------------------------------------------------------

    def create_schedule(self, actor: Actor, *, name: str, timezone: str, team: str | None = None) -> Schedule:
        self._admin(actor)
        zone(timezone)
        schedule = Schedule(id=new_id(), name=check_name(name), timezone=timezone, team=team)
        self.store.create_schedule(schedule, self.clock())
        return schedule

    def get_schedule(self, schedule_id: str) -> Schedule:
        schedule = self.store.get_schedule(schedule_id)
        if schedule is None:
            raise NotFound("schedule", schedule_id)
        return schedule

    def list_schedules(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[Schedule], dict[str, Any] | None]:
        return self.store.list_schedules(limit, cursor)

    def update_schedule(
        self, actor: Actor, schedule_id: str, *, name: str | None, timezone: str | None, team: str | None
    ) -> Schedule:
        self._admin(actor)
        current = self.get_schedule(schedule_id)
        if timezone is not None:
            zone(timezone)
        updated = replace(
            current,
            name=check_name(name) if name is not None else current.name,
            timezone=timezone or current.timezone,
            team=team if team is not None else current.team,
        )
        self.store.update_schedule(updated)
        return updated

    def delete_schedule(self, actor: Actor, schedule_id: str) -> None:
        """Remove every shift (freeing the people's slots, each removal an ordinary guarded write) and then the
        schedule; a shift created meanwhile makes the final conditional delete fail and the loop go round again."""
        self._admin(actor)
        everything = Interval(datetime(1970, 1, 1, tzinfo=UTC), datetime(9998, 1, 1, tzinfo=UTC))

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change | None:
            # listed under the guard versions just read, so a concurrent move cannot slip between list and delete
            batch = self.store.schedule_shifts(schedule_id, everything, CHUNK, None)[0][:CHUNK]
            if not batch:
                return None
            users = {s.user_id for s in batch}
            if users - set(versions):
                raise _NeedUsers(users)
            return self._removal(schedule, {u: versions[u] for u in users}, batch, purge=True)

        for _ in range(10_000):
            if self._commit(schedule_id, plan, ()) is not None:
                continue
            try:
                self.store.delete_schedule_record(self.get_schedule(schedule_id))
                return
            except VersionConflict:
                self.stats.retried()
        raise ConcurrentUpdate("schedule kept changing while being deleted; try again")

    def _removal(
        self, schedule: Schedule, versions: dict[str, int], chunk: Sequence[Shift], *, purge: bool = False
    ) -> Change:
        now = self.clock()
        return Change(
            purge=purge,
            schedule_id=schedule.id,
            schedule_version=schedule.version,
            user_versions=versions,
            deletes=chunk,
            events=[("shift.deleted", replace(s, version=s.version + 1)) for s in chunk],
            now=now,
        )

    # -- the guarded write loop ------------------------------------------------------------------------------------

    def _commit(
        self,
        schedule_id: str,
        plan: Callable[[Schedule, dict[str, int]], Change | None],
        users: Iterable[str],
    ) -> Change | None:
        """Read guards, let ``plan`` read neighbours and decide, write; retry lost races with jittered backoff.

        ``plan`` may raise (overlap, not found) or answer None (nothing to write). It may also raise ``_NeedUsers``
        when it discovers more people whose guards must be part of the write."""
        wanted = set(users)
        for attempt in range(self.attempts):
            schedule, versions = self.store.guards(schedule_id, sorted(wanted))
            if schedule is None:
                raise NotFound("schedule", schedule_id)
            try:
                change = plan(schedule, versions)
            except _NeedUsers as more:
                wanted |= more.users
                continue
            if change is None:
                return None
            try:
                self.store.apply(change)
                return change
            except (VersionConflict, ShiftExists) as lost:
                self.stats.retried()
                # rare outside bursts of edits on one schedule or person; frequent ones mean a hot schedule
                log.warning(
                    "shift write lost a race on schedule %s (attempt %d of %d): %s; retrying",
                    schedule_id,
                    attempt + 1,
                    self.attempts,
                    type(lost).__name__,
                )
                if attempt + 1 < self.attempts:
                    self.sleep(self._backoff(attempt))
        self.stats.gave_up()
        raise ConcurrentUpdate("the schedule changed concurrently too many times; try again", attempts=self.attempts)

    def _backoff(self, attempt: int) -> float:
        # full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter")
        return self.rng.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2**attempt))

    def _check(self, schedule_id: str, user_id: str, window: Interval, ignore: Sequence[str] = ()) -> None:
        """S1 and S2 for ``window``: raise ``ShiftOverlap`` naming every conflicting shift found."""
        limit = NEIGHBOUR_LIMIT + len(ignore)
        found = conflicts(window, self.store.schedule_neighbours(schedule_id, window, limit), ignore=ignore)
        found += conflicts(window, self.store.user_neighbours(user_id, window, limit), ignore=ignore)
        if found:
            raise ShiftOverlap(found)

    def _person(self, user_id: str, field: str = "user_id") -> None:
        if self.people.name_of(user_id) is None:
            raise InvalidInput(field, f"unknown user {user_id!r}")

    # -- shifts ----------------------------------------------------------------------------------------------------

    def put_on_duty(self, actor: Actor, *, schedule_id: str, user_id: str, start: datetime, end: datetime) -> Shift:
        self._may_hold(actor, [user_id])
        window = interval(start, end, max_length=self.max_shift)
        self._person(user_id)
        shift = Shift(id=new_id(), schedule_id=schedule_id, user_id=user_id, start=window.start, end=window.end)

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change:
            self._check(schedule_id, user_id, window)
            return Change(
                schedule_id=schedule_id,
                schedule_version=schedule.version,
                user_versions=versions,
                puts=[shift],
                events=[("shift.created", shift)],
                now=self.clock(),
            )

        self._commit(schedule_id, plan, [user_id])
        return shift

    def get_shift(self, schedule_id: str, shift_id: str) -> Shift:
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
        hint = self.get_shift(schedule_id, shift_id)
        if user_id is not None and user_id != hint.user_id:
            self._person(user_id)
        result: list[Shift] = []

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change:
            # read again under the guard versions just taken: a concurrent move bumped them, so this copy is current
            current = self.get_shift(schedule_id, shift_id)
            target_user = user_id or current.user_id
            if {current.user_id, target_user} - set(versions):
                raise _NeedUsers({current.user_id, target_user})
            self._may_hold(actor, {current.user_id, target_user})
            window = interval(start or current.start, end or current.end, max_length=self.max_shift)
            moved = current.moved(user_id=target_user, start=window.start, end=window.end)
            self._check(schedule_id, target_user, window, ignore=[shift_id])
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

        self._commit(schedule_id, plan, {hint.user_id, user_id or hint.user_id})
        return result[0]

    def delete_shift(self, actor: Actor, *, schedule_id: str, shift_id: str) -> None:
        hint = self.get_shift(schedule_id, shift_id)

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change:
            current = self.get_shift(schedule_id, shift_id)
            if current.user_id not in versions:
                raise _NeedUsers({current.user_id})
            self._may_hold(actor, [current.user_id])
            return Change(
                schedule_id=schedule_id,
                schedule_version=schedule.version,
                user_versions={current.user_id: versions[current.user_id]},
                deletes=[current],
                events=[("shift.deleted", replace(current, version=current.version + 1))],
                now=self.clock(),
            )

        self._commit(schedule_id, plan, [hint.user_id])

    def list_shifts(
        self, schedule_id: str, start: datetime, end: datetime, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        window = self._query_window(start, end)
        self.get_schedule(schedule_id)
        return self.store.schedule_shifts(schedule_id, window, limit, cursor)

    def my_shifts(
        self, actor: Actor, start: datetime | None, end: datetime | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        now = self.clock()
        window = self._query_window(start or now, end or now + self.horizon)
        return self.store.user_shifts(actor.id, window, limit, cursor)

    def on_call(self, schedule_id: str, at: datetime | None) -> tuple[Schedule, Shift | None]:
        when = aware(at, "at") if at is not None else self.clock()
        schedule = self.get_schedule(schedule_id)
        return schedule, self.store.on_call(schedule_id, when)

    @staticmethod
    def _query_window(start: datetime, end: datetime) -> Interval:
        s, e = aware(start, "from"), aware(end, "to")
        if not s < e:
            raise InvalidInput("to", "must be after from")
        if e - s > timedelta(days=366):
            raise InvalidInput("to", "a window may span at most 366 days")
        return Interval(s, e)

    # -- overrides -------------------------------------------------------------------------------------------------

    def override(self, actor: Actor, *, schedule_id: str, user_id: str, start: datetime, end: datetime) -> Shift:
        """``user_id`` takes ``[start, end)``: every shift of the schedule in that window is trimmed or split around
        it, in one transaction with the new shift, so S1 holds throughout and S2 is checked for the new holder."""
        window = interval(start, end, max_length=self.max_shift)
        self._person(user_id)
        created = Shift(id=new_id(), schedule_id=schedule_id, user_id=user_id, start=window.start, end=window.end)

        def plan(schedule: Schedule, versions: dict[str, int]) -> Change:
            covered = conflicts(window, self.store.schedule_neighbours(schedule_id, window, OVERRIDE_MAX_SHIFTS + 1))
            if not covered:
                raise InvalidInput("start", "no shift of this schedule lies in [start, end) to override")
            if len(covered) > OVERRIDE_MAX_SHIFTS:
                raise InvalidInput("end", f"an override may cover at most {OVERRIDE_MAX_SHIFTS} shifts")
            holders = {c.user_id for c in covered}
            if (holders | {user_id}) - set(versions):
                raise _NeedUsers(holders | {user_id})
            self._may_hold(actor, holders)
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
                pieces = remainder(old, window)
                if not pieces:
                    events.append(("shift.deleted", replace(old, version=old.version + 1)))
                for n, piece in enumerate(pieces):
                    if n == 0:
                        kept = old.moved(start=piece.start, end=piece.end)
                        puts.append(kept)
                        events.append(("shift.updated", kept))
                    else:
                        split = Shift(
                            id=new_id(),
                            schedule_id=schedule_id,
                            user_id=old.user_id,
                            start=piece.start,
                            end=piece.end,
                            rotation_id=None,
                        )
                        puts.append(split)
                        events.append(("shift.created", split))
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

        self._commit(schedule_id, plan, [user_id])
        return created

    # -- rotations -------------------------------------------------------------------------------------------------

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
        """Store the rule and materialise its horizon, or, if any slot in the horizon overlaps a stored shift of the
        schedule or of a participant, write nothing and report every such shift."""
        self._admin(actor)
        schedule = self.get_schedule(schedule_id)
        for i, person in enumerate(participants):
            self._person(person, f"participants[{i}]")
        rotation = rot.validate(
            rot.Rotation(
                id=new_id(),
                schedule_id=schedule_id,
                participants=tuple(participants),
                start=start,
                timezone=timezone or schedule.timezone,
                period=period,  # type: ignore[arg-type]  # validate() rejects anything else by field
                hours=hours,
                end=end,
                name=name,
            ),
            max_length=self.max_shift,
        )
        now = self.clock()
        window = rot.horizon(now, self.horizon)
        found = self._rotation_conflicts(rotation, window)
        if found:
            raise ShiftOverlap(found)
        self.store.put_rotation(rotation)
        return rotation, self.materialise(rotation, now)

    def _rotation_conflicts(self, rotation: rot.Rotation, window: Interval, ignore: Iterable[str] = ()) -> list[Shift]:
        wanted = rot.materialise(rotation, window)
        if not wanted:
            return []
        span = Interval(wanted[0].start, wanted[-1].end)
        found: list[Shift] = []
        mine = {s.id for s in wanted} | set(ignore)
        existing = [s for s in self.store.schedule_window(rotation.schedule_id, span) if s.id not in mine]
        for person in sorted(set(rotation.participants)):
            existing += [s for s in self.store.user_window(person, span) if s.id not in mine]
        for slot_shift in wanted:
            found += conflicts(slot_shift.interval, existing)
        return found

    def list_rotations(self, schedule_id: str) -> list[rot.Rotation]:
        self.get_schedule(schedule_id)
        return self.store.list_rotations(schedule_id)

    def update_rotation(
        self, actor: Actor, *, schedule_id: str, rotation_id: str, changes: dict[str, Any]
    ) -> tuple[rot.Rotation, Materialised]:
        """Change a rule from the end of its running slot on: the old rule's shifts after that point are replaced by
        the new rule's (a new revision, so new slot ids). The whole horizon is checked first, ignoring the shifts
        being replaced; any conflict is a ``ShiftOverlap`` listing every one, and nothing is written."""
        self._admin(actor)
        self.get_schedule(schedule_id)
        old = self.store.get_rotation(schedule_id, rotation_id)
        if old is None:
            raise NotFound("rotation", rotation_id)
        for i, person in enumerate(changes.get("participants") or ()):
            self._person(person, f"participants[{i}]")
        now = self.clock()
        running = rot.slots(old, Interval(now, now + timedelta(microseconds=1)))
        effective = max(now, running[0].end) if running and running[0].start <= now else now
        if old.effective_from is not None:
            effective = max(effective, old.effective_from)
        fields = {**old.to_dict(), **changes}
        new = rot.validate(
            rot.Rotation(
                id=old.id,
                schedule_id=schedule_id,
                participants=tuple(fields["participants"]),
                start=changes.get("start") or old.start,
                timezone=fields["timezone"],
                period=fields["period"],
                hours=fields["hours"] if fields["period"] == "hours" else None,
                end=changes.get("end", old.end),
                revision=old.revision + 1,
                name=fields["name"],
                effective_from=effective,
            ),
            max_length=self.max_shift,
        )
        window = rot.horizon(now, self.horizon)
        replaced = self._rotation_future(schedule_id, rotation_id, effective, now)
        found = self._rotation_conflicts(new, window, ignore=[s.id for s in replaced])
        if found:
            raise ShiftOverlap(found)
        self.store.put_rotation(new)
        self._remove(schedule_id, replaced)
        return new, self.materialise(new, now)

    def _rotation_future(self, schedule_id: str, rotation_id: str, since: datetime, now: datetime) -> list[Shift]:
        upto = now + self.horizon + timedelta(days=15)  # past the horizon by more than one slot
        if not since < upto:
            return []
        return [
            s
            for s in self.store.schedule_window(schedule_id, Interval(since, upto))
            if s.rotation_id == rotation_id and s.start >= since
        ]

    def _remove(self, schedule_id: str, shifts: Sequence[Shift]) -> None:
        for chunk in _chunks(shifts, CHUNK):

            def plan(schedule: Schedule, versions: dict[str, int], chunk: Sequence[Shift] = chunk) -> Change | None:
                # re-read under the guard versions just taken: one may have been moved or deleted meanwhile
                still = [s for s in (self.store.get_shift(schedule_id, c.id) for c in chunk) if s is not None]
                if not still:
                    return None
                if {s.user_id for s in still} - set(versions):
                    raise _NeedUsers({s.user_id for s in still})
                return self._removal(schedule, {u: versions[u] for u in {s.user_id for s in still}}, still, purge=True)

            self._commit(schedule_id, plan, {c.user_id for c in chunk})

    def delete_rotation(self, actor: Actor, *, schedule_id: str, rotation_id: str) -> None:
        """Stop the rule and remove its shifts that have not started (the running one stays)."""
        self._admin(actor)
        if self.store.get_rotation(schedule_id, rotation_id) is None:
            raise NotFound("rotation", rotation_id)
        self.store.delete_rotation(schedule_id, rotation_id)
        now = self.clock()
        self._remove(schedule_id, self._rotation_future(schedule_id, rotation_id, now, now))

    def materialise(self, rotation: rot.Rotation, now: datetime) -> Materialised:
        """Write the rotation's missing slots in the horizon, ``CHUNK`` per transaction. Idempotent (slot ids are
        deterministic and already-stored ones are skipped) and resumable (each chunk commits on its own, so a run
        cut short is finished by the next). A slot that overlaps a shift someone stored meanwhile is skipped and
        reported, never forced."""
        window = rot.horizon(now, self.horizon)
        wanted = rot.materialise(rotation, window)
        created = existing = 0
        clashes: list[Shift] = []
        for chunk in _chunks(wanted, CHUNK):
            span = Interval(chunk[0].start, chunk[-1].end)
            outcome: dict[str, Any] = {}

            def plan(
                schedule: Schedule,
                versions: dict[str, int],
                chunk: Sequence[Shift] = chunk,
                span: Interval = span,
                outcome: dict[str, Any] = outcome,
            ) -> Change | None:
                have = self.store.known_ids(rotation.schedule_id, [s.id for s in chunk])
                todo = [s for s in chunk if s.id not in have]
                outcome["existing"] = len(chunk) - len(todo)
                if not todo:
                    outcome["clashes"] = []
                    return None
                if {s.user_id for s in todo} - set(versions):
                    raise _NeedUsers({s.user_id for s in todo})
                others = self.store.schedule_window(rotation.schedule_id, span)
                for person in sorted({s.user_id for s in todo}):
                    others += self.store.user_window(person, span)
                ok = [s for s in todo if not conflicts(s.interval, others)]
                outcome["clashes"] = [c for s in todo for c in conflicts(s.interval, others)]
                if not ok:
                    return None
                outcome["created"] = len(ok)
                return Change(
                    schedule_id=rotation.schedule_id,
                    schedule_version=schedule.version,
                    user_versions={u: versions[u] for u in {s.user_id for s in ok}},
                    puts=ok,
                    events=[("shift.created", s) for s in ok],
                    now=now,
                )

            self._commit(rotation.schedule_id, plan, {s.user_id for s in chunk})
            created += int(outcome.get("created", 0))
            existing += int(outcome.get("existing", 0))
            clashes += outcome.get("clashes", [])
        unique = {c.id: c for c in clashes}
        return Materialised(rotation.id, created, existing, tuple(unique.values()))

    def materialise_all(self, now: datetime) -> list[Materialised]:
        """The hourly job: extend every rotation to the horizon."""
        out = []
        for rotation in self.store.all_rotations():
            if rotation.end is not None and rotation.end <= now:
                continue
            try:
                out.append(self.materialise(rotation, now))
            except NotFound:
                continue  # its schedule was deleted after the listing
        return out

    # -- calendar feeds --------------------------------------------------------------------------------------------

    def rotate_schedule_feed(self, actor: Actor, schedule_id: str) -> str:
        self._admin(actor)
        self.get_schedule(schedule_id)
        token = secrets.token_urlsafe(32)
        self.store.set_feed_token_hash(f"SCHED#{schedule_id}", token_hash(token))
        return token

    def rotate_user_feed(self, actor: Actor) -> str:
        token = secrets.token_urlsafe(32)
        self.store.set_feed_token_hash(f"USER#{actor.id}", token_hash(token))
        return token

    def _feed_allowed(self, owner: str, token: str | None) -> None:
        stored = self.store.feed_token_hash(owner)
        # One answer for "no such feed", "no token" and "wrong token", so a feed's existence does not leak.
        given = token_hash(token or "")
        if stored is None or not hmac.compare_digest(given, stored):
            raise NotFound("calendar", owner.split("#", 1)[1])

    def schedule_calendar(self, schedule_id: str, token: str | None) -> str:
        self._feed_allowed(f"SCHED#{schedule_id}", token)
        schedule = self.get_schedule(schedule_id)
        now = self.clock()
        shifts = self.store.schedule_window(schedule_id, Interval(now - FEED_PAST, now + FEED_AHEAD))
        events = [
            ical.Event(
                uid=f"{s.id}@oncall-hub",
                start=s.start,
                end=s.end,
                summary=texts.feed_holder(self.people.name_of(s.user_id) or s.user_id),
                description=texts.feed_schedule(schedule.name),
                sequence=s.version - 1,
            )
            for s in shifts
        ]
        return ical.render(schedule.name, events, now=now, timezone=schedule.timezone)

    def user_calendar(self, user_id: str, token: str | None) -> str:
        self._feed_allowed(f"USER#{user_id}", token)
        now = self.clock()
        shifts = self.store.user_window(user_id, Interval(now - FEED_PAST, now + FEED_AHEAD))
        names: dict[str, str] = {}
        for s in shifts:
            if s.schedule_id not in names:
                found = self.store.get_schedule(s.schedule_id)
                names[s.schedule_id] = found.name if found else s.schedule_id
        events = [
            ical.Event(
                uid=f"{s.id}@oncall-hub",
                start=s.start,
                end=s.end,
                summary=texts.feed_shift(names[s.schedule_id]),
                sequence=s.version - 1,
            )
            for s in shifts
        ]
        who = self.people.name_of(user_id) or user_id
        return ical.render(texts.feed_title(who), events, now=now)


class _NeedUsers(Exception):  # control flow inside _commit, never escapes
    def __init__(self, users: set[str]) -> None:
        super().__init__(sorted(users))
        self.users = users


def _chunks(items: Sequence[Shift], size: int) -> list[Sequence[Shift]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
