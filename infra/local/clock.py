"""The runner's clock: real time plus an offset that only moves forward, so a demo or a test can jump ahead.

Everything in the runner that tells time reads this one clock:

- the scheduler (when a ``rate``/``cron`` schedule is due and the ``time`` of the "Scheduled Event" it delivers) and
  the ``time`` of events put on a bus without one;
- Step Functions' waits (task timeouts, ``Wait`` states, retry intervals): ``waits.ClockWaits`` ends a wait of N
  seconds once the clock has moved N seconds past its start, real time and advances alike;
- every function's ``now``: the runner publishes the offset in an ``OffsetFile`` and each worker process adds it to
  its own wall clock (``oncall.wiring.override(clock=...)``), so the API, escalation and every other function agree
  with the emulator (tokens, incident timestamps, who is on call).

``subscribe`` tells listeners (the waits, the offset file) about each advance as it happens, before the scheduler
fires what fell due, so a jump ends the waits it covers at once.

``ManualClock`` stands still unless advanced, for tests that want exact due times.
"""

from __future__ import annotations

import mmap
import os
import struct
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

Listener = Callable[[timedelta], None]


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` (never backwards) and return the new ``now()``."""
        ...

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(delta)`` after every advance."""
        ...

    def unsubscribe(self, listener: Listener) -> None: ...


def _check(delta: timedelta) -> None:
    if delta < timedelta(0):
        raise ValueError("the clock only moves forward")


class _Listeners:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, delta: timedelta) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(delta)


class ShiftedClock(_Listeners):
    """Wall-clock time plus an offset that ``advance`` grows."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        super().__init__()
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
        self._notify(delta)
        return self.now()


class ManualClock(_Listeners):
    """A clock that stands still unless advanced."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
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
            now = self._now
        self._notify(delta)
        return now


def iso(ts: datetime) -> str:
    """EventBridge's ``time`` format: UTC, second precision, ``Z``."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class OffsetFile:
    """The clock's offset in seconds, shared with worker processes through a 16-byte memory-mapped file.

    The runner writes it on every advance; a worker reads it on every ``now()``, so a function sees an advance on its
    very next call without a round trip to the runner. The layout is a sequence number and a float: the writer makes
    the number odd while it writes, and a reader retries until it sees the same even number on both sides of the
    value, so it never reads half an update.
    """

    SIZE = 16
    _SEQ = struct.Struct("<Q")
    _VALUE = struct.Struct("<d")

    def __init__(self, path: Path, mm: mmap.mmap, writable: bool) -> None:
        self.path = path
        self._mm = mm
        self._writable = writable
        self._lock = threading.Lock()

    @classmethod
    def create(cls, path: Path, seconds: float = 0.0) -> OffsetFile:
        """A fresh file for the runner (whatever a previous run left there is overwritten)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, bytes(cls.SIZE))
            mm = mmap.mmap(fd, cls.SIZE, access=mmap.ACCESS_WRITE)
        finally:
            os.close(fd)
        shared = cls(path, mm, writable=True)
        shared.write(seconds)
        return shared

    @classmethod
    def open(cls, path: Path) -> OffsetFile:
        """The worker's read-only view."""
        fd = os.open(path, os.O_RDONLY)
        try:
            mm = mmap.mmap(fd, cls.SIZE, access=mmap.ACCESS_READ)
        finally:
            os.close(fd)
        return cls(path, mm, writable=False)

    def write(self, seconds: float) -> None:
        if not self._writable:
            raise PermissionError(f"{self.path} is opened read-only")
        with self._lock:
            (seq,) = self._SEQ.unpack_from(self._mm, 0)
            self._SEQ.pack_into(self._mm, 0, seq + 1)
            self._VALUE.pack_into(self._mm, 8, float(seconds))
            self._SEQ.pack_into(self._mm, 0, seq + 2)

    def read(self) -> float:
        value = 0.0
        # bounded: a writer that died mid-update must not hang every function's clock
        for _ in range(10_000):
            (before,) = self._SEQ.unpack_from(self._mm, 0)
            (value,) = self._VALUE.unpack_from(self._mm, 8)
            (after,) = self._SEQ.unpack_from(self._mm, 0)
            if before == after and not before & 1:
                break
        return float(value)

    def close(self) -> None:
        self._mm.close()
