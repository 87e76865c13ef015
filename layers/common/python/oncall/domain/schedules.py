"""Schedules: a named set of shifts with the IANA time zone that rotations and calendars are shown in, and who may
manage them and their shifts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oncall.domain import names
from oncall.domain.errors import Forbidden, InvalidInput
from oncall.domain.teams import Access, Person, Power

ADMIN, RESPONDER, VIEWER = "admin", "responder", "viewer"
NAME_MAX = 100


@dataclass(frozen=True)
class Schedule:
    id: str
    name: str
    timezone: str
    team: str | None = None
    #: the guard version (docs/architecture.md, "Invariants", S1/S2): bumped by every shift write on this schedule
    version: int = 0
    #: the owning team (``oncall.domain.teams``); None: stored before teams, the default team's. ``team`` is an
    #: older free-text label, kept as it was written
    team_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            "team": self.team,
            "team_id": self.team_id or "default",
        }


@lru_cache(maxsize=256)
def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The IANA zone ``name``; anything else (offsets, abbreviations like "CET", paths) is rejected by field."""
    if not name or name != name.strip() or name.startswith(("/", ".")) or ".." in name:
        raise InvalidInput(field, "must be an IANA time zone name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(field, f"unknown IANA time zone {name!r}") from None


def check_name(name: str, field: str = "name", *, blank_ok: bool = False) -> str:
    """A schedule's name or team: the rule every name follows (``oncall.domain.names``)."""
    return names.check_name(name, field, max_length=NAME_MAX, blank_ok=blank_ok)


@dataclass(frozen=True)
class Acting:
    """A person as the schedule rules see them on one schedule: ``role`` is ``admin`` for the managers of its team
    (and admins), ``responder`` for its responders, ``viewer`` for anyone else who may read it."""

    id: str
    role: str


def acting_on(actor: Person, schedule: Schedule) -> Acting:
    """``actor``'s powers on ``schedule`` (``oncall.domain.teams``); NotFound if they may not even see it."""
    access = Access.of(actor)
    access.require(schedule.team_id, Power.READ, "schedule", schedule.id)
    if access.can(schedule.team_id, Power.MANAGE):
        return Acting(actor.id, ADMIN)
    if access.can(schedule.team_id, Power.ACT):
        return Acting(actor.id, RESPONDER)
    return Acting(actor.id, VIEWER)


def require_admin(role: str) -> None:
    """Schedules and rotations are managed by their team's managers (``role`` from ``acting_on``)."""
    if role != ADMIN:
        raise Forbidden("requires the schedule team's manager (or an admin)", required=["manager"], role=str(role))


def may_hold(actor_id: str, role: str, user_ids: Iterable[str]) -> None:
    """Admins manage every shift; a responder only their own (before and after the change); viewers nothing."""
    if role == ADMIN:
        return
    if role != RESPONDER or any(u != actor_id for u in user_ids):
        raise Forbidden("responders manage only their own shifts", role=str(role))
