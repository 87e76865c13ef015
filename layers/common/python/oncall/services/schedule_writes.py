"""The guarded write every shift change goes through, and what the schedule services share.

A write keeps S1 and S2 (docs/architecture.md, "Invariants"): read the schedule's and the people's guard versions,
let a *plan* read the candidate neighbours (shifts starting inside the window plus the one just before it, for the
schedule and for each person) and decide with the pure overlap rule, then commit ONE transaction that bumps every
guard read on ``version = :read``. A lost race (a guard moved, or DynamoDB saw a concurrent transaction) is retried
with full-jitter exponential backoff, a bounded number of times; running out is ``ConcurrentUpdate``
(409 ``concurrent_update``), never a 500.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from ulid import ULID

from oncall.domain.errors import ConcurrentUpdate, InvalidInput, NotFound
from oncall.domain.schedules import Schedule, acting_on, require_admin
from oncall.domain.shifts import Interval, Shift, ShiftOverlap, conflicts
from oncall.domain.teams import team_of
from oncall.observability import log
from oncall.services.schedule_ports import Actor, Change, PersonNames, ScheduleStore, ShiftExists, VersionConflict

#: how many forward neighbours one check reads; more than this many overlapping shifts are reported as the first ones
NEIGHBOUR_LIMIT = 25
#: shifts per transaction when many change at once: 3 views each + guards + an outbox item stays well under 100
CHUNK = 20

#: reads what it needs under the guard versions just taken and answers the write (None: nothing to write)
Plan = Callable[[Schedule, dict[str, int]], Change | None]


def new_id() -> str:
    return str(ULID()).lower()


def chunks(items: Sequence[Shift], size: int = CHUNK) -> list[Sequence[Shift]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def known_schedule(store: ScheduleStore, schedule_id: str) -> Schedule:
    schedule = store.get_schedule(schedule_id)
    if schedule is None:
        raise NotFound("schedule", schedule_id)
    return schedule


def visible_schedule(store: ScheduleStore, actor: Actor | None, schedule_id: str) -> Schedule:
    """The schedule, if ``actor`` (None: the system) may read it; NotFound otherwise, as for one that does not exist."""
    schedule = known_schedule(store, schedule_id)
    if actor is not None:
        acting_on(actor, schedule)
    return schedule


def managed_schedule(store: ScheduleStore, actor: Actor, schedule_id: str) -> Schedule:
    """The schedule, if ``actor`` manages its team (404 if they may not see it, 403 if they may only read it)."""
    schedule = known_schedule(store, schedule_id)
    require_admin(acting_on(actor, schedule).role)
    return schedule


def known_person(people: PersonNames, user_id: str, field: str = "user_id") -> None:
    if people.name_of(user_id) is None:
        raise InvalidInput(field, f"unknown user {user_id!r}")


class NeedUsers(Exception):
    """Raised by a plan that found more people whose guards must be part of the write; ``GuardedWriter.commit``
    reads their guards too and plans again. Never escapes ``commit``."""

    def __init__(self, users: set[str]) -> None:
        super().__init__(sorted(users))
        self.users = users


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


class GuardedWriter:
    def __init__(
        self,
        store: ScheduleStore,
        clock: Callable[[], datetime],
        *,
        attempts: int = 8,
        backoff_base_s: float = 0.01,
        backoff_cap_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.attempts = attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311  # jitter, not secrecy
        self.stats = RetryStats()

    def commit(self, schedule_id: str, plan: Plan, users: Iterable[str]) -> Change | None:
        """Read guards, let ``plan`` read neighbours and decide, write; retry lost races with jittered backoff.

        ``plan`` may raise (overlap, not found) or answer None (nothing to write). It may also raise ``NeedUsers``
        when it discovers more people whose guards must be part of the write."""
        wanted = set(users)
        for attempt in range(self.attempts):
            schedule, versions = self.store.guards(schedule_id, sorted(wanted))
            if schedule is None:
                raise NotFound("schedule", schedule_id)
            try:
                change = plan(schedule, versions)
            except NeedUsers as more:
                wanted |= more.users
                continue
            if change is None:
                return None
            change = replace(change, team_id=team_of(schedule.team_id))
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

    def check(self, schedule_id: str, user_id: str, window: Interval, ignore: Sequence[str] = ()) -> None:
        """S1 and S2 for ``window``: raise ``ShiftOverlap`` naming every conflicting shift found."""
        limit = NEIGHBOUR_LIMIT + len(ignore)
        found = conflicts(window, self.store.schedule_neighbours(schedule_id, window, limit), ignore=ignore)
        found += conflicts(window, self.store.user_neighbours(user_id, window, limit), ignore=ignore)
        if found:
            raise ShiftOverlap(found)

    def removal(
        self, schedule: Schedule, versions: dict[str, int], chunk: Sequence[Shift], *, purge: bool = False
    ) -> Change:
        return Change(
            purge=purge,
            schedule_id=schedule.id,
            schedule_version=schedule.version,
            user_versions=versions,
            deletes=chunk,
            events=[("shift.deleted", replace(s, version=s.version + 1)) for s in chunk],
            now=self.clock(),
        )

    def remove(self, schedule_id: str, shifts: Sequence[Shift]) -> None:
        """Delete ``shifts`` (rotation slots: no tombstones), ``CHUNK`` per transaction; one already moved or deleted
        meanwhile is left alone."""
        for chunk in chunks(shifts):

            def plan(schedule: Schedule, versions: dict[str, int], chunk: Sequence[Shift] = chunk) -> Change | None:
                # re-read under the guard versions just taken: one may have been moved or deleted meanwhile
                still = [s for s in (self.store.get_shift(schedule_id, c.id) for c in chunk) if s is not None]
                if not still:
                    return None
                if {s.user_id for s in still} - set(versions):
                    raise NeedUsers({s.user_id for s in still})
                return self.removal(schedule, {u: versions[u] for u in {s.user_id for s in still}}, still, purge=True)

            self.commit(schedule_id, plan, {c.user_id for c in chunk})
