"""Ports the schedule services depend on. ``oncall.adapters.dynamodb.schedules`` implements the stores; tests may
hand the service an in-memory twin, but the invariants are proved against the DynamoDB adapter on the emulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from oncall.domain.rotations import Rotation
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Interval, Shift
from oncall.domain.teams import Person

EventType = Literal["shift.created", "shift.updated", "shift.deleted"]


class VersionConflict(Exception):
    """A guard item moved between our read and our write (or DynamoDB saw a concurrent transaction): read again."""


class ShiftExists(Exception):
    """A put found its shift id taken (a rotation slot materialised concurrently)."""


@dataclass(frozen=True)
class Change:
    """One atomic write: the guard versions it was planned against, the shifts it removes and stores, and the event
    each produces. The store turns it into ONE ``TransactWriteItems`` (≤ 100 items)."""

    schedule_id: str
    schedule_version: int
    #: user id → the guard version read; every user whose shifts change must be listed
    user_versions: Mapping[str, int]
    deletes: Sequence[Shift] = ()
    puts: Sequence[Shift] = ()
    events: Sequence[tuple[EventType, Shift]] = ()
    #: when the change happens (event timestamps)
    now: datetime | None = None
    #: remove rotation slots without leaving tombstones (the schedule itself is going away)
    purge: bool = False
    #: the schedule's team, carried by the change's events (set by the writer from the schedule it read)
    team_id: str | None = None


#: whoever is calling: the authenticated user (identity's ``User`` satisfies it)
Actor = Person


class PersonNames(Protocol):
    """Who exists, by display name: identity's user store. ``name_of`` answers None for an unknown or deleted user."""

    def name_of(self, user_id: str) -> str | None: ...


class ScheduleStore(Protocol):
    def create_schedule(self, schedule: Schedule, now: datetime) -> None: ...
    def get_schedule(self, schedule_id: str) -> Schedule | None: ...
    def list_schedules(
        self, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None = None
    ) -> tuple[list[Schedule], dict[str, Any] | None]: ...
    def team_owns_anything(self, team_id: str) -> bool: ...
    def update_schedule(self, schedule: Schedule) -> None: ...
    def delete_schedule_record(self, schedule: Schedule) -> None: ...

    def guards(self, schedule_id: str, user_ids: Sequence[str]) -> tuple[Schedule | None, dict[str, int]]: ...
    def schedule_neighbours(self, schedule_id: str, window: Interval, limit: int) -> list[Shift]: ...
    def user_neighbours(self, user_id: str, window: Interval, limit: int) -> list[Shift]: ...
    def schedule_shifts(
        self, schedule_id: str, window: Interval, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]: ...
    def user_shifts(
        self, user_id: str, window: Interval, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]: ...
    def schedule_window(self, schedule_id: str, window: Interval) -> list[Shift]: ...
    def user_window(self, user_id: str, window: Interval) -> list[Shift]: ...
    def on_call(self, schedule_id: str, at: datetime) -> Shift | None: ...
    def get_shift(self, schedule_id: str, shift_id: str) -> Shift | None: ...
    def known_ids(self, schedule_id: str, shift_ids: Sequence[str]) -> set[str]: ...
    def apply(self, change: Change) -> None: ...

    def put_rotation(self, rotation: Rotation) -> None: ...
    def get_rotation(self, schedule_id: str, rotation_id: str) -> Rotation | None: ...
    def list_rotations(self, schedule_id: str) -> list[Rotation]: ...
    def delete_rotation(self, schedule_id: str, rotation_id: str) -> None: ...
    def all_rotations(self) -> list[Rotation]: ...

    def feed_token_hash(self, owner: str) -> str | None: ...
    def set_feed_token_hash(self, owner: str, token_hash: str) -> None: ...
