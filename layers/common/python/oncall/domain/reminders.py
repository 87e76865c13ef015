"""Shift reminders: what to plan for a shift and what a tick does with a due one (the text is
``oncall.domain.texts.reminder``; docs/architecture.md, "Invariants", says why each is sent exactly once).

Pure: every rule takes ``now`` from its caller (the planner uses the shift event's time, the tick the scheduled
event's ``time``).

- A shift gets one reminder per offset of its holder (default 24 h, 2 h, 10 min; an empty list opts out).
- A reminder whose due time is not after the moment the shift became known is ``skipped`` ("already due at
  creation"): a shift created 30 minutes ahead gets its 10-minute reminder only.
- A tick sends every pending reminder due by ``now`` while the shift has not started; the first tick at or after the
  due time is on time, a later one (the scheduler was down, ticks were dropped) sends it marked ``late``. Once the
  shift has started the reminder is ``missed``, never sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

#: a reminder sent this long or longer after its due time is marked late (one tick of slack: ticks are a minute apart)
LATE_AFTER = timedelta(seconds=60)


class ReminderStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"  # already due when the shift became known
    MISSED = "missed"  # the shift started before any tick could send it
    CANCELLED = "cancelled"  # shift deleted, moved past this offset, or the person opted out
    NO_CHANNEL = "no_channel"  # the person has no way to be reached


#: statuses after which nothing more happens to a reminder (until a shift move re-plans it)
FINAL = frozenset(s for s in ReminderStatus if s is not ReminderStatus.PENDING)


@dataclass(frozen=True)
class Planned:
    offset_minutes: int
    due_at: datetime
    status: ReminderStatus


def plan(start: datetime, offsets_minutes: Iterable[int], known_at: datetime) -> list[Planned]:
    """The reminders of a shift starting at ``start`` whose holder wants ``offsets_minutes``, as known at
    ``known_at``: pending when due later than that, skipped otherwise."""
    out = []
    for offset in sorted(set(offsets_minutes), reverse=True):
        due = start - timedelta(minutes=offset)
        out.append(Planned(offset, due, ReminderStatus.PENDING if due > known_at else ReminderStatus.SKIPPED))
    return out


Decision = Literal["wait", "send", "missed"]


def decide(due_at: datetime, shift_start: datetime, now: datetime) -> Decision:
    if due_at > now:
        return "wait"
    if now >= shift_start:
        return "missed"
    return "send"


def is_late(due_at: datetime, sent_at: datetime) -> bool:
    return sent_at - due_at >= LATE_AFTER


def bucket(when: datetime) -> str:
    """The hour a due time falls in (UTC): the partition of the due index a tick queries."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H")


def buckets_between(low: str, now: datetime) -> list[str]:
    """Every hour bucket from ``low`` up to ``now``'s, oldest first (``low`` after ``now`` gives just ``now``'s)."""
    last = datetime.strptime(bucket(now), "%Y-%m-%dT%H").replace(tzinfo=UTC)
    try:
        first = datetime.strptime(low, "%Y-%m-%dT%H").replace(tzinfo=UTC)
    except ValueError:
        first = last
    out = []
    at = min(first, last)
    while at <= last:
        out.append(bucket(at))
        at += timedelta(hours=1)
    return out


def message_key(shift_id: str, offset_minutes: int, start: datetime) -> str:
    """Dedup key for the notification service: a moved shift (new start) is a new reminder."""
    return f"reminder:{shift_id}:{offset_minutes}:{int(start.timestamp())}"


def lowest(buckets: Sequence[str], default: str) -> str:
    return min([*buckets, default])
