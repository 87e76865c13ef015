"""Fires EventBridge scheduled rules, which moto stores but never fires.

The schedules are read from moto's events backend on every tick (``rule.scheduled_expression``, ``rule.state``), so
rules declared in the topology and rules an operator adds with ``aws events put-rule --schedule-expression`` both
fire. Due times come from the emulator's ``Clock``:

- ``rate(N minute|minutes|hour|hours|day|days)`` is due at every multiple of the period since the Unix epoch
  (``rate(1 minute)`` fires at each whole minute), which makes runs reproducible; AWS anchors rates at rule creation,
  a difference no consumer may rely on.
- ``cron(...)`` is AWS's six-field cron, computed by ``aws-croniter`` (``?``, ``L``, ``W``, ``#``; plain croniter
  gets those wrong), in UTC.

A background thread fires what is due in real (shifted) time, handing targets off asynchronously like EventBridge.
``advance`` moves the clock and fires every occurrence up to the new time in chronological order, synchronously, each
with ``time`` = its due time, so a caller sees the effects when it returns. A big jump is capped at ``max_catch_up``
occurrences per rule (the latest ones; the skipped ones are logged): EventBridge itself never replays missed
schedules, and our scheduled handlers cope with lateness by design (a missed reminder is sent late: "Invariants" in
docs/architecture.md).

A schedule is first due strictly after the moment the scheduler first sees the rule; nothing missed while the runner
was stopped is replayed (EventBridge does not either).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infra.local.clock import Clock, iso

log = logging.getLogger("oncall.local.scheduler")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def next_due(expression: str, after: datetime) -> datetime:
    """The first occurrence of ``expression`` strictly after ``after``."""
    expression = expression.strip()
    m = _RATE.match(expression)
    if m:
        count, unit = int(m.group(1)), m.group(2).rstrip("s")
        if count < 1 or (count == 1) != (m.group(2) == unit):
            raise ValueError(f"invalid rate expression {expression!r} (rate(1 minute), rate(5 minutes))")
        period = count * _UNIT[unit]
        elapsed = int((after - _EPOCH).total_seconds() // period) + 1
        return _EPOCH + timedelta(seconds=elapsed * period)
    if expression.startswith("cron(") and expression.endswith(")"):
        from aws_croniter import AwsCroniter

        nxt = AwsCroniter(expression[5:-1].strip()).get_next(after.astimezone(UTC))[0]
        if nxt is None:
            raise ValueError(f"cron expression {expression!r} never fires again")
        due: datetime = nxt
        return due
    raise ValueError(f"unsupported schedule expression {expression!r}")


@dataclass(frozen=True)
class ScheduledRule:
    arn: str
    name: str
    expression: str


@dataclass(frozen=True)
class Firing:
    rule: ScheduledRule
    due: datetime

    def __str__(self) -> str:
        return f"{self.rule.name}@{iso(self.due)}"


class Scheduler:
    def __init__(
        self,
        *,
        clock: Clock,
        rules: Callable[[], Iterable[ScheduledRule]],
        fire: Callable[[ScheduledRule, datetime, bool], None],
        tick_seconds: float = 0.5,
        max_catch_up: int = 1000,
    ) -> None:
        self.clock = clock
        self.rules = rules
        self.fire = fire
        self.tick_seconds = tick_seconds
        self.max_catch_up = max_catch_up
        self._next: dict[str, tuple[ScheduledRule, datetime]] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _refresh(self, now: datetime) -> None:
        seen = set()
        for rule in self.rules():
            seen.add(rule.arn)
            known = self._next.get(rule.arn)
            if known is None or known[0].expression != rule.expression:
                try:
                    self._next[rule.arn] = (rule, next_due(rule.expression, now))
                except ValueError:
                    log.exception("schedule %s: cannot compute the next run", rule.name)
        for arn in set(self._next) - seen:
            del self._next[arn]

    def due(self, until: datetime, catch_up: int | None = None) -> list[Firing]:
        """Every occurrence up to ``until`` (inclusive), oldest first; advances the schedule past them. At most
        ``catch_up`` (default ``max_catch_up``) of each rule's latest occurrences are kept."""
        keep = catch_up or self.max_catch_up
        with self._lock:
            self._refresh(self.clock.now() if until > self.clock.now() else until)
            firings: list[Firing] = []
            for arn, (rule, when) in list(self._next.items()):
                mine: list[Firing] = []
                skipped = 0
                while when <= until:
                    mine.append(Firing(rule, when))
                    if len(mine) > keep:
                        mine.pop(0)
                        skipped += 1
                    when = next_due(rule.expression, when)
                if skipped:
                    (log.info if catch_up else log.warning)(
                        "schedule %s: skipped %d occurrences in a clock jump", rule.name, skipped
                    )
                self._next[arn] = (rule, when)
                firings.extend(mine)
            firings.sort(key=lambda f: (f.due, f.rule.name))
            return firings

    def advance(self, delta: timedelta, catch_up: int | None = None) -> list[Firing]:
        """Move the clock by ``delta`` and fire, in order and synchronously, everything due by the new time (at most
        ``catch_up`` latest occurrences of each rule)."""
        with self._lock:
            # see every rule as of the old time, so occurrences inside the jump are not lost
            self._refresh(self.clock.now())
            until = self.clock.advance(delta)
            firings = self.due(until, catch_up)
            for firing in firings:
                self.fire(firing.rule, firing.due, True)
            return firings

    def tick(self) -> list[Firing]:
        with self._lock:
            firings = self.due(self.clock.now())
            for firing in firings:
                self.fire(firing.rule, firing.due, False)
            return firings

    def _run(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.tick()
            except Exception:  # a broken rule must not stop every other schedule
                log.exception("scheduler tick failed")

    def start(self) -> None:
        with self._lock:
            self._refresh(self.clock.now())
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="oncall-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
