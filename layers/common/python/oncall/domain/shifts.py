"""Shifts: half-open UTC intervals on one schedule, held by one person (docs/architecture.md, "Invariants", S1 and
S2).

Pure rules only: validating an interval or a query window, deciding overlap, finding conflicts among candidate
neighbours and cutting a shift around an override. Storage and concurrency live in
``oncall.adapters.dynamodb.schedules``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall.domain.errors import Conflict, InvalidInput

#: default upper bound on one shift's length (``ONCALL_MAX_SHIFT_HOURS`` overrides it)
DEFAULT_MAX_SHIFT = timedelta(days=14)
#: the longest window one listing of shifts may span
MAX_QUERY_WINDOW = timedelta(days=366)


@dataclass(frozen=True, order=True)
class Interval:
    """``[start, end)`` in UTC: a shift ending at 09:00 and one starting at 09:00 do not overlap."""

    start: datetime
    end: datetime

    @property
    def length(self) -> timedelta:
        return self.end - self.start


def overlaps(a: Interval, b: Interval) -> bool:
    return a.start < b.end and b.start < a.end


@dataclass(frozen=True)
class Shift:
    id: str
    schedule_id: str
    user_id: str
    start: datetime
    end: datetime
    #: bumped on every change; carried in shift.* events so consumers can drop stale deliveries
    version: int = 1
    #: set when a rotation materialised this shift (its slot is ``id``)
    rotation_id: str | None = None

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)

    def moved(self, *, user_id: str | None = None, start: datetime | None = None, end: datetime | None = None) -> Shift:
        return replace(
            self,
            user_id=self.user_id if user_id is None else user_id,
            start=self.start if start is None else start,
            end=self.end if end is None else end,
            version=self.version + 1,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "schedule_id": self.schedule_id,
            "user_id": self.user_id,
            "start": iso(self.start),
            "end": iso(self.end),
            "version": self.version,
            "rotation_id": self.rotation_id,
        }


class ShiftOverlap(Conflict):
    """The requested interval overlaps stored shifts of the same schedule (S1) or of the same person (S2)."""

    code = "shift_overlap"

    def __init__(self, conflicts: Sequence[Shift]) -> None:
        ordered = sorted({c.id: c for c in conflicts}.values(), key=lambda s: (s.start, s.id))
        super().__init__(f"overlaps {len(ordered)} existing shift(s)", conflicts=[c.to_dict() for c in ordered])
        self.conflicts = tuple(ordered)


def iso(dt: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; seconds always present, fractions only when there are some."""
    text = dt.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def sort_key(dt: datetime) -> str:
    """Fixed-width UTC text that sorts like the instant, used inside DynamoDB sort keys."""
    u = dt.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}.{u.microsecond:06d}Z"


def from_sort_key(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def aware(value: datetime, field: str) -> datetime:
    """An instant with an explicit offset, normalised to UTC; a naive time is ambiguous and rejected by name."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InvalidInput(field, "must carry a UTC offset (RFC 3339, e.g. 2026-03-01T09:00:00+01:00)")
    if not 1970 <= value.astimezone(UTC).year <= 9998:
        raise InvalidInput(field, "must lie between 1970 and 9998")
    return value.astimezone(UTC)


def interval(
    start: datetime,
    end: datetime,
    *,
    max_length: timedelta = DEFAULT_MAX_SHIFT,
    start_field: str = "start",
    end_field: str = "end",
) -> Interval:
    s = aware(start, start_field)
    e = aware(end, end_field)
    if not s < e:
        raise InvalidInput(end_field, f"must be after {start_field}")
    if e - s > max_length:
        raise InvalidInput(
            end_field, f"a shift may last at most {_human(max_length)}", max_seconds=max_length.total_seconds()
        )
    return Interval(s, e)


def query_window(start: datetime, end: datetime) -> Interval:
    """``[from, to)`` of a shift listing: aware, ordered and at most ``MAX_QUERY_WINDOW`` long, named by field."""
    s, e = aware(start, "from"), aware(end, "to")
    if not s < e:
        raise InvalidInput("to", "must be after from")
    if e - s > MAX_QUERY_WINDOW:
        raise InvalidInput("to", "a window may span at most 366 days")
    return Interval(s, e)


def conflicts(candidate: Interval, neighbours: Iterable[Shift], *, ignore: Iterable[str] = ()) -> list[Shift]:
    """The neighbours ``candidate`` overlaps, leaving out the shifts being replaced (a move ignores itself)."""
    skip = set(ignore)
    return [s for s in neighbours if s.id not in skip and overlaps(candidate, s.interval)]


def covers(shifts: Iterable[Shift], window: Interval) -> bool:
    """Whether ``shifts`` together hold every instant of ``window``, with no gap (an override a responder makes must
    stay inside time they already hold)."""
    reached = window.start
    for shift in sorted(shifts, key=lambda s: s.start):
        if shift.start > reached:
            break
        reached = max(reached, shift.end)
    return reached >= window.end


def candidates(ordered: Sequence[Shift], window: Interval) -> list[Shift]:
    """The neighbours the store reads for ``window`` out of non-overlapping ``ordered`` shifts (sorted by start):
    those starting in ``[start, end)`` plus the single one starting just before ``start``. Because stored shifts never
    overlap, only that predecessor can reach into the window from the left; this is the in-memory twin of the two
    DynamoDB queries in the repository, and the property tests prove it finds every conflict."""
    inside = [s for s in ordered if window.start <= s.start < window.end]
    before = [s for s in ordered if s.start < window.start]
    return ([before[-1]] if before else []) + inside


def remainder(shift: Shift, cut: Interval) -> list[Interval]:
    """What is left of ``shift`` once ``cut`` is taken out: nothing, one trimmed piece or two (a split)."""
    pieces = []
    if shift.start < cut.start:
        pieces.append(Interval(shift.start, min(shift.end, cut.start)))
    if cut.end < shift.end:
        pieces.append(Interval(max(shift.start, cut.end), shift.end))
    return [p for p in pieces if p.start < p.end]


def carve(shift: Shift, cut: Interval, new_id: Callable[[], str]) -> list[Shift]:
    """``shift`` with ``cut`` taken out (an override): nothing; the shift itself trimmed (same id, next version); or,
    when the cut falls inside it, that and a new shift for the part after the cut, which no rotation owns."""
    pieces = remainder(shift, cut)
    out = [shift.moved(start=pieces[0].start, end=pieces[0].end)] if pieces else []
    out += [
        Shift(
            id=new_id(),
            schedule_id=shift.schedule_id,
            user_id=shift.user_id,
            start=piece.start,
            end=piece.end,
            rotation_id=None,
        )
        for piece in pieces[1:]
    ]
    return out


def _human(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours % 24 == 0:
        return f"{int(hours // 24)} days"
    return f"{hours:g} hours"
