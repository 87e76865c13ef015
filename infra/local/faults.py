"""Fault injection for the emulator: make a task fail, throttle ``StartExecution``. Off by default.

A storm or a bug shows up in AWS as a Lambda task that keeps failing past its retries, or as Step Functions refusing
``StartExecution`` (``ThrottlingException``) when starts exceed the account's rate. Neither happens on its own in the
emulator, so tests (and the runner, through the same object) switch them on here to prove what the product does then
(docs/architecture.md, "How a page flows": the lifecycle's fallback and the sweep):

- ``fail_task(function, action, error=..., times=None)``: invocations of ``function`` whose event carries
  ``"action": action`` (the lifecycle's tasks) fail with Lambda's error document ``errorType = error``; ``times``
  bounds how many (None: until cleared). The function is not run.
- ``throttle_start_execution(per_second, burst)``: a token bucket in front of moto's ``StartExecution``; a start
  without a token is answered ``ThrottlingException`` (HTTP 400), as AWS does. ``per_second=0, burst=0`` refuses
  every start; a scaled rate (the runner's rate × AWS's quota ÷ the rate it is sized for) mimics the real limit.
- ``throttle_partitions(write_per_second, read_per_second=None, burst_seconds=1.0)``: DynamoDB's per-partition-key
  limit, scaled (``dynamo_faults``: a key of a table or an index over its budget is refused as AWS refuses it).
- ``clear()``: everything back to normal.

``FAULTS`` is the process's one instance: ``hooks.Hooks`` consults it on every Lambda invoke and start, so an
emulator started in the test's process (``tests/support/lifecycle.py``) obeys what the test sets here.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.local import dynamo_faults
from infra.local.dynamo_faults import PartitionThrottle


@dataclass
class TaskFault:
    function: str
    action: str
    error: str
    message: str
    #: how many more invocations fail (None: until cleared)
    remaining: int | None = None


class _Bucket:
    def __init__(self, per_second: float, burst: int, now: Callable[[], float]) -> None:
        self.per_second = per_second
        self.burst = burst
        self._now = now
        self._tokens = float(burst)
        self._at = now()

    def take(self) -> bool:
        now = self._now()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


class Faults:
    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._now = now
        self._tasks: list[TaskFault] = []
        self._starts: _Bucket | None = None
        #: what was refused or failed, for assertions and the runner's log
        self.injected: list[str] = []

    def fail_task(
        self, function: str, action: str, *, error: str = "InjectedFault", message: str = "", times: int | None = None
    ) -> None:
        with self._lock:
            self._tasks.append(
                TaskFault(function, action, error, message or f"injected {error} in {function}:{action}", times)
            )

    def throttle_start_execution(self, per_second: float, burst: int = 0) -> None:
        with self._lock:
            self._starts = _Bucket(per_second, burst, self._now)

    def throttle_partitions(
        self, write_per_second: float, read_per_second: float | None = None, *, burst_seconds: float = 1.0
    ) -> PartitionThrottle:
        throttle = PartitionThrottle(write_per_second, read_per_second, burst_seconds=burst_seconds, now=self._now)
        dynamo_faults.install(throttle)
        return throttle

    def clear(self) -> None:
        with self._lock:
            self._tasks.clear()
            self._starts = None
        dynamo_faults.uninstall()

    def describe(self) -> dict[str, Any]:
        """What is switched on and what was injected so far (the runner's ``GET /_local/faults``)."""
        with self._lock:
            tasks = [
                {"function": t.function, "action": t.action, "error": t.error, "remaining": t.remaining}
                for t in self._tasks
            ]
            starts = {"per_second": self._starts.per_second, "burst": self._starts.burst} if self._starts else None
            injected = dict(Counter(self.injected))
        throttle = dynamo_faults.active()
        return {
            "fail_task": tasks,
            "start_execution": starts,
            "dynamodb": throttle.stats() if throttle else None,
            "injected": injected,
        }

    # -- what the hooks ask ---------------------------------------------------------------------------------------
    def task_error(self, function: str, event: Any) -> dict[str, Any] | None:
        """Lambda's error document if this invocation is to fail, else None."""
        action = event.get("action") if isinstance(event, dict) else None
        with self._lock:
            for fault in self._tasks:
                if fault.function != function or fault.action != action:
                    continue
                if fault.remaining is not None:
                    if fault.remaining <= 0:
                        continue
                    fault.remaining -= 1
                self.injected.append(f"{function}:{action}:{fault.error}")
                return {"errorType": fault.error, "errorMessage": fault.message, "stackTrace": []}
        return None

    def start_allowed(self) -> bool:
        with self._lock:
            if self._starts is None or self._starts.take():
                return True
            self.injected.append("StartExecution:ThrottlingException")
            return False


FAULTS = Faults()
