"""The runner's clock: real time plus an offset that only moves forward, so a demo or a test can jump ahead.

Only the emulator's own time sources read it: the scheduler (when a ``rate``/``cron`` schedule is due and the
``time`` of the "Scheduled Event" it delivers) and the ``time`` of events put on a bus without one. Handlers never
read it: the domain takes ``now`` from its caller, and a scheduled handler uses the event's ``time`` (DESIGN §3), so
shifting this clock is enough to make "ten minutes later" happen for a reminder or an auto-close.

``ManualClock`` stands still unless advanced, for tests that want exact due times.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (never backwards) and return the new ``now()``."""
        ...


def _check(delta: timedelta) -> None:
    if delta < timedelta(0):
        raise ValueError("the clock only moves forward")


class ShiftedClock:
    """Wall-clock time plus an offset that ``advance`` grows."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        _check(offset)
        self._offset = offset
        self._lock = threading.Lock()

    @property
    def offset(self) -> timedelta:
        return self._offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> datetime:
        _check(delta)
        with self._lock:
            self._offset += delta
        return self.now()


class ManualClock:
    """A clock that stands still unless advanced."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        _check(delta)
        with self._lock:
            self._now += delta
            return self._now


def iso(ts: datetime) -> str:
    """EventBridge's ``time`` format: UTC, second precision, ``Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
