"""Schedules: a named set of shifts with the IANA time zone that rotations and calendars are shown in."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oncall.domain.errors import InvalidInput


@dataclass(frozen=True)
class Schedule:
    id: str
    name: str
    timezone: str
    team: str | None = None
    #: the guard version (DESIGN §3): bumped by every shift write on this schedule
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


def check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned:
        raise InvalidInput("name", "must not be blank")
    return cleaned
