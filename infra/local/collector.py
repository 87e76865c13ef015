"""The runner's garbage collector: full collections while the runner is quiet, not in the middle of a burst.

Most of the runner's heap is moto's state (items, stream records, executions and their histories), and it lives
long. CPython's full collection (generation 2) walks every tracked object, so as that state grows each one takes
longer: profiled while incidents opened at 5/s, full collections paused the emulator's process for 270-375 ms every
few seconds, and every request in flight (an alert's write, a page's task) waited behind them.

So the automatic collector keeps collecting the young generations (where most cyclic garbage dies) but no longer
starts full collections; this collector makes them when DynamoDB has had no request for ``quiet_s``, and at the
latest ``every_s`` after the last one while the runner stays busy (memory stays bounded through a long storm: one
pause a minute instead of one every few seconds) — in both cases only once as much young garbage has been collected
as CPython itself waits for (``threshold2`` generation-1 collections): an idle runner's every-minute schedules make a
few requests and almost no garbage, and with 200 lifecycles waiting a full collection took ~150 ms, several times a
minute, most of the idle runner's CPU. Reference counting frees what
is dropped as ever; only cycles that outlived the young generations wait for the next full collection.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

from infra.local import dynamo_lock

log = logging.getLogger("oncall.local.collector")

#: gen1 collections between automatic full collections: never, in practice (7 billion allocations at the defaults)
NEVER = 1_000_000


class QuietCollector:
    def __init__(
        self, quiet_s: float = 2.0, every_s: float = 60.0, check_s: float = 0.5, young: int | None = None
    ) -> None:
        self.quiet_s = quiet_s
        self.every_s = every_s
        self.check_s = check_s
        #: DynamoDB requests seen: the activity the collector waits to see stop
        self.requests = 0
        #: full collections made, and the longest in ms, for the log and tests
        self.collections = 0
        self.longest_ms = 0.0
        self._thresholds = gc.get_threshold()
        #: generation-1 collections since the last full one before another is worth its pause
        self.young = self._thresholds[2] if young is None else young
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _count(self, handler: Any, response: Any) -> None:
        self.requests += 1

    def start(self) -> None:
        self._thresholds = gc.get_threshold()
        gc.set_threshold(self._thresholds[0], self._thresholds[1], NEVER)
        dynamo_lock.observe(self._count)
        self._thread = threading.Thread(target=self._run, name="oncall-quiet-gc", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        dynamo_lock.unobserve(self._count)
        gc.set_threshold(*self._thresholds)

    def _run(self) -> None:
        seen = collected_at = self.requests
        quiet_since = last_full = time.monotonic()
        young_at = _young_collections()
        while not self._stop.wait(self.check_s):
            now, at = self.requests, time.monotonic()
            if now != seen:
                seen, quiet_since = now, at
            if now == collected_at or _young_collections() - young_at < self.young:
                continue
            if at - quiet_since >= self.quiet_s or at - last_full >= self.every_s:
                self.collect()
                collected_at, last_full, young_at = now, time.monotonic(), _young_collections()

    def collect(self) -> float:
        """One full collection; its duration in ms."""
        started = time.perf_counter()
        gc.collect()
        took = (time.perf_counter() - started) * 1000
        self.collections += 1
        self.longest_ms = max(self.longest_ms, took)
        log.debug("full collection: %.0f ms", took)
        return took


def _young_collections() -> int:
    return int(gc.get_stats()[1]["collections"])
