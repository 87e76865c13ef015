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

ADMIN, RESPONDER = "admin", "responder"
NAME_MAX = 100


@dataclass(frozen=True)
class Schedule:
    id: str
    name: str
    timezone: str
    team: str | None = None
    #: the guard version (docs/architecture.md, "Invariants", S1/S2): bumped by every shift write on this schedule
    version: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "timezone": self.timezone, "team": self.team}


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


def require_admin(role: str) -> None:
    """Schedules and rotations are an admin's to manage."""
    if role != ADMIN:
        raise Forbidden("requires role admin", required=[ADMIN], role=str(role))


def may_hold(actor_id: str, role: str, user_ids: Iterable[str]) -> None:
    """Admins manage every shift; a responder only their own (before and after the change); viewers nothing."""
    if role == ADMIN:
        return
    if role != RESPONDER or any(u != actor_id for u in user_ids):
        raise Forbidden("responders manage only their own shifts", role=str(role))
