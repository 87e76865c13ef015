"""Waiting on the runner's clock: what moto's Step Functions interpreter waits with while the emulator runs.

moto waits on the wall clock (``threading.Event().wait(timeout)``, ``time.sleep``), so a task timeout of 30 minutes
(an escalation level), a ``Wait`` state or a retry interval took 30 real minutes however far ``POST /_local/clock``
moved the clock. ``hooks.ClockHooks`` hands moto these instead:

- ``ClockEvent``: an ``Event`` whose timed ``wait(n)`` ends when ``set()`` is called or when the runner's clock has
  moved ``n`` seconds past the start of the wait. Real time passing counts (the clock is wall time plus an offset),
  and each advance wakes the events being waited on, so an advance past the deadline ends the wait at once.
- ``sleep(n)``: the same, with nothing that can set it (retry intervals).
- ``seconds()``: a monotonic reading that jumps with every advance, for code that measures how long it waited.
- ``now()``: the clock itself, for ``Wait`` states that wait until a timestamp.

A ``ClockWaits`` learns about advances by subscribing to the clock (``Clock.subscribe``); it counts only the
advances it has seen, which is all a wait needs: how far the clock moved since the wait began.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any


class ClockEvent:
    """``threading.Event`` with timed waits measured on a ``ClockWaits``.

    ``wait`` returns True once ``set()`` has been called during the wait even if ``clear()`` followed at once: moto
    signals a state change with ``set(); clear()`` and its waiters rely on waking up for it, as with
    ``threading.Event``.
    """

    def __init__(self, waits: ClockWaits) -> None:
        self._waits = waits
        self._cond = threading.Condition(threading.Lock())
        self._flag = False
        self._sets = 0

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set  # threading.Event's old name

    def set(self) -> None:
        with self._cond:
            self._flag = True
            self._sets += 1
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        with self._cond:
            if self._flag:
                return True
            sets = self._sets
            if timeout is None:
                while not self._flag and self._sets == sets:
                    self._cond.wait()
                return True
            deadline = self._waits.seconds() + timeout
            self._waits._register(self)
            try:
                while not self._flag and self._sets == sets:
                    remaining = deadline - self._waits.seconds()
                    if remaining <= 0:
                        return False
                    self._cond.wait(remaining)
                return True
            finally:
                self._waits._unregister(self)

    def _wake(self) -> None:
        # Taking the lock orders this after a waiter that is between reading the clock and sleeping.
        with self._cond:
            self._cond.notify_all()


class ClockWaits:
    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._now = now or (lambda: datetime.now(UTC))
        self._advanced = 0.0
        self._lock = threading.Lock()
        self._waiting: set[ClockEvent] = set()

    # -- what the clock calls ---------------------------------------------------------------------------------------
    def advanced(self, delta: timedelta) -> None:
        """``Clock.subscribe`` listener: the clock moved ``delta`` forward; wake every wait so it can re-check."""
        with self._lock:
            self._advanced += delta.total_seconds()
            waiting = list(self._waiting)
        for event in waiting:
            event._wake()

    # -- what moto gets -------------------------------------------------------------------------------------------
    def seconds(self) -> float:
        return time.monotonic() + self._advanced

    def event(self) -> ClockEvent:
        return ClockEvent(self)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            ClockEvent(self).wait(seconds)

    def now(self) -> datetime:
        return self._now()

    @property
    def waiting(self) -> int:
        """How many timed waits are in progress (for tests and diagnostics)."""
        with self._lock:
            return len(self._waiting)

    def _register(self, event: ClockEvent) -> None:
        with self._lock:
            self._waiting.add(event)

    def _unregister(self, event: ClockEvent) -> None:
        with self._lock:
            self._waiting.discard(event)

    # -- stand-ins for the modules moto imported ------------------------------------------------------------------
    def threading_module(self) -> ModuleShim:
        return ModuleShim(threading, Event=self.event)

    def time_module(self) -> ModuleShim:
        return ModuleShim(time, time=self.seconds, sleep=self.sleep)

    def datetime_module(self) -> ModuleShim:
        import datetime as datetime_module

        waits = self

        class ClockDatetime(datetime):
            @classmethod
            def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]  # a plain datetime will do
                current = waits.now()
                # moto compares naive "now" with naive UTC timestamps: naive UTC is what it needs
                return current.astimezone(tz) if tz is not None else current.astimezone(UTC).replace(tzinfo=None)

        return ModuleShim(datetime_module, datetime=ClockDatetime)


class ModuleShim:
    """A module with a few names replaced; every other attribute is the real module's."""

    def __init__(self, real: Any, **replaced: Any) -> None:
        self._real = real
        self.__dict__.update(replaced)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __repr__(self) -> str:
        return f"<clock-aware {self._real.__name__}>"
