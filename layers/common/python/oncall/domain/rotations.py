"""Rotations: rules that turn an ordered list of people into consecutive shifts.

A rotation hands off every day, every week or every N hours, starting at ``start``. Daily and weekly handoffs happen
at the same *local* wall-clock time in the rotation's zone, so a 09:00 handoff stays 09:00 across a DST change (the
shift spanning the change is an hour shorter or longer). "Every N hours" is elapsed time, independent of the zone. A
daily/weekly handoff whose local time falls in a skipped hour (spring forward) happens at the same instant the wall
clock would have shown had it not jumped, i.e. the gap's length later on the new clock; in a repeated hour the first
occurrence is used.

Slots are numbered from 0 at ``start``; slot ``n`` goes to ``participants[n % len]``, and its shift id is derived from
(rotation, revision, n), so materialising the same window twice yields the same ids and writes nothing new.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from oncall.domain.errors import InvalidInput
from oncall.domain.schedules import check_name, zone
from oncall.domain.shifts import DEFAULT_MAX_SHIFT, Interval, Shift, aware, iso, overlaps

Period = Literal["daily", "weekly", "hours"]

#: how far ahead the scheduled job keeps rotations materialised
DEFAULT_HORIZON = timedelta(weeks=8)
MAX_PARTICIPANTS = 100


@dataclass(frozen=True)
class Rotation:
    id: str
    schedule_id: str
    participants: tuple[str, ...]
    start: datetime
    timezone: str
    period: Period
    hours: int | None = None
    end: datetime | None = None
    #: bumped when the rule changes, so the new rule's slots get new shift ids
    revision: int = 1
    name: str = field(default="")
    #: a changed rule takes over from here (the end of the old rule's running slot); no slot starts earlier
    effective_from: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "schedule_id": self.schedule_id,
            "name": self.name,
            "participants": list(self.participants),
            "start": iso(self.start),
            "end": iso(self.end) if self.end else None,
            "timezone": self.timezone,
            "period": self.period,
            "hours": self.hours,
            "revision": self.revision,
            "effective_from": iso(self.effective_from) if self.effective_from else None,
        }


@dataclass(frozen=True)
class Slot:
    index: int
    user_id: str
    start: datetime
    end: datetime

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)


@dataclass(frozen=True)
class Materialised:
    """What one materialisation of a rotation did: slots written, slots already stored, and stored shifts that
    kept a slot from being written (never overwritten)."""

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


def validate(rotation: Rotation, *, max_length: timedelta = DEFAULT_MAX_SHIFT) -> Rotation:
    """Check a rule before it is stored; every failure names its field."""
    zone(rotation.timezone)
    if not rotation.participants:
        raise InvalidInput("participants", "at least one participant is required")
    if len(rotation.participants) > MAX_PARTICIPANTS:
        raise InvalidInput("participants", f"at most {MAX_PARTICIPANTS} participants")
    start = aware(rotation.start, "start")
    end = aware(rotation.end, "end") if rotation.end is not None else None
    if end is not None and end <= start:
        raise InvalidInput("end", "must be after start")
    if rotation.period == "hours":
        if rotation.hours is None or rotation.hours < 1:
            raise InvalidInput("hours", "required (a whole number ≥ 1) when period is 'hours'")
        step = timedelta(hours=rotation.hours)
    elif rotation.period in ("daily", "weekly"):
        if rotation.hours is not None:
            raise InvalidInput("hours", "only allowed when period is 'hours'")
        step = timedelta(days=1 if rotation.period == "daily" else 7)
    else:
        raise InvalidInput("period", "must be one of daily, weekly, hours")
    # a DST change can lengthen a daily/weekly shift by up to an hour (a few zones shift by less)
    if step + (timedelta(hours=1) if rotation.period != "hours" else timedelta(0)) > max_length:
        raise InvalidInput("period", "a shift of this rotation would exceed the maximum shift length")
    return Rotation(
        id=rotation.id,
        schedule_id=rotation.schedule_id,
        participants=tuple(rotation.participants),
        start=start,
        timezone=rotation.timezone,
        period=rotation.period,
        hours=rotation.hours,
        end=end,
        revision=rotation.revision,
        name=check_name(rotation.name or "", blank_ok=True),
        effective_from=aware(rotation.effective_from, "effective_from") if rotation.effective_from else None,
    )


def handoff(rotation: Rotation, n: int) -> datetime:
    """The UTC instant slot ``n`` begins (slot 0 begins at ``start``)."""
    if rotation.period == "hours":
        assert rotation.hours is not None
        return rotation.start + timedelta(hours=rotation.hours * n)
    tz = zone(rotation.timezone)
    wall = rotation.start.astimezone(tz).replace(tzinfo=None)
    days = n if rotation.period == "daily" else 7 * n
    # Calendar arithmetic on the wall clock, then back to an instant: this is what keeps 09:00 at 09:00.
    return (wall + timedelta(days=days)).replace(tzinfo=tz, fold=0).astimezone(UTC)


def slot(rotation: Rotation, n: int) -> Slot | None:
    start = handoff(rotation, n)
    end = handoff(rotation, n + 1)
    if rotation.end is not None:
        if start >= rotation.end:
            return None
        end = min(end, rotation.end)
    return Slot(index=n, user_id=rotation.participants[n % len(rotation.participants)], start=start, end=end)


def slots(rotation: Rotation, window: Interval) -> list[Slot]:
    """Every slot overlapping ``window``, in order; the cost is proportional to the slots returned."""
    nominal = timedelta(hours=rotation.hours or 0) if rotation.period == "hours" else None
    nominal = nominal or timedelta(days=1 if rotation.period == "daily" else 7)
    # DST moves a daily/weekly handoff by at most a few hours, so the estimate is off by at most one slot.
    n = max(0, (window.start - rotation.start) // nominal - 1)
    out: list[Slot] = []
    while True:
        s = slot(rotation, n)
        if s is None or s.start >= window.end:
            return out
        if overlaps(s.interval, window):
            out.append(s)
        n += 1


def shift_id(rotation: Rotation, n: int) -> str:
    return f"{rotation.id}-r{rotation.revision}-{n}"


def materialise(rotation: Rotation, window: Interval) -> list[Shift]:
    return [
        Shift(
            id=shift_id(rotation, s.index),
            schedule_id=rotation.schedule_id,
            user_id=s.user_id,
            start=s.start,
            end=s.end,
            rotation_id=rotation.id,
        )
        for s in slots(rotation, window)
        if rotation.effective_from is None or s.start >= rotation.effective_from
    ]


def horizon(now: datetime, length: timedelta = DEFAULT_HORIZON) -> Interval:
    return Interval(now.astimezone(UTC), now.astimezone(UTC) + length)


def revise(
    old: Rotation, changes: Mapping[str, Any], now: datetime, *, max_length: timedelta = DEFAULT_MAX_SHIFT
) -> Rotation:
    """The rule after ``changes``, as a new revision (so its slots get new shift ids) that takes over from the end of
    the old rule's running slot, never before the old rule itself took over."""
    running = slots(old, Interval(now, now + timedelta(microseconds=1)))
    effective = max(now, running[0].end) if running and running[0].start <= now else now
    if old.effective_from is not None:
        effective = max(effective, old.effective_from)
    fields = {**old.to_dict(), **changes}
    return validate(
        Rotation(
            id=old.id,
            schedule_id=old.schedule_id,
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
        max_length=max_length,
    )
