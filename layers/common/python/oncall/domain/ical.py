"""iCalendar (RFC 5545) rendering of shifts, for calendar subscriptions.

Times are written in UTC (``DTSTART:20260301T080000Z``) so no VTIMEZONE block is needed and every client agrees on the
instant; the schedule's zone travels as ``X-WR-TIMEZONE`` for display. Lines end in CRLF and are folded at 75 octets
without splitting a UTF-8 sequence (§3.1); TEXT values escape backslash, semicolon, comma and newlines (§3.3.11).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from oncall.domain.shifts import Shift

PRODID = "-//OnCall Hub//Shifts//EN"
MAX_OCTETS = 75


@dataclass(frozen=True)
class Event:
    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    #: increases with each change of the shift, so clients replace their copy
    sequence: int = 0


def shift_event(shift: Shift, summary: str, description: str = "") -> Event:
    """A shift as an event: its id is the UID and its version the SEQUENCE, so a moved shift replaces its copy."""
    return Event(
        uid=f"{shift.id}@oncall-hub",
        start=shift.start,
        end=shift.end,
        summary=summary,
        description=description,
        sequence=shift.version - 1,
    )


def escape_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def utc_stamp(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """Split ``line`` into chunks of at most 75 octets, continuation lines starting with one space."""
    raw = line.encode("utf-8")
    if len(raw) <= MAX_OCTETS:
        return line
    parts: list[str] = []
    limit = MAX_OCTETS
    current = b""
    for ch in line:
        enc = ch.encode("utf-8")
        if len(current) + len(enc) > limit:
            parts.append(current.decode("utf-8"))
            current = b""
            limit = MAX_OCTETS - 1  # the leading space of a continuation line counts
        current += enc
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def render(name: str, events: Iterable[Event], *, now: datetime, timezone: str | None = None) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    if timezone:
        lines.append(f"X-WR-TIMEZONE:{escape_text(timezone)}")
    stamp = utc_stamp(now)
    for ev in events:
        lines += [
            "BEGIN:VEVENT",
            f"UID:{escape_text(ev.uid)}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{utc_stamp(ev.start)}",
            f"DTEND:{utc_stamp(ev.end)}",
            f"SEQUENCE:{ev.sequence}",
            f"SUMMARY:{escape_text(ev.summary)}",
        ]
        if ev.description:
            lines.append(f"DESCRIPTION:{escape_text(ev.description)}")
        lines += ["TRANSP:OPAQUE", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
