"""Readiness: can this deployment serve right now? Each dependency answers one cheap call, all at once, each timed.

A readiness check is asked by a load balancer, a deploy pipeline or an uptime monitor, and is asked precisely when
something is wrong, so two rules matter more than the calls themselves, and they live here, apart from the AWS calls
(``oncall.adapters.readiness``):

- it answers within a bound even when a dependency hangs: the probes run side by side on a small thread pool and a
  probe still running at the deadline is reported as ``Timeout`` rather than waited for;
- what it says about a failure is a short code (an AWS error code, an exception's class name), never the error's
  message, which may carry resource names, account ids or worse; the message goes to the log, where operators read it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass

from oncall.observability import log

#: how long the whole check may take; a little above the adapters' per-call timeouts, so a call that times out is
#: reported with its own code and only a probe that ignores its timeout is cut off here
DEADLINE_S = 2.5
#: probes run at once at most (the API checks a dozen tables, the bus and the state machine)
MAX_WORKERS = 16
TIMEOUT = "Timeout"
#: a code is an identifier; anything else (a message, an ARN) is replaced by the exception's class name, so no text
#: from an error can travel in one
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")


@dataclass(frozen=True)
class Probe:
    """One dependency: ``call`` returns when it answers and raises when it does not."""

    name: str
    call: Callable[[], object]


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    latency_ms: float
    #: why it failed (a code, never a message); None when ``ok``
    error: str | None = None


@dataclass(frozen=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)


def class_name(exc: BaseException) -> str:
    return type(exc).__name__


class ReadinessCheck:
    """Runs ``probes`` concurrently. ``describe`` turns a probe's exception into its code (the adapter knows AWS's
    errors; the default is the exception's class name); ``timer`` is a monotonic clock in seconds."""

    def __init__(
        self,
        probes: Sequence[Probe],
        *,
        describe: Callable[[BaseException], str] = class_name,
        timer: Callable[[], float] = time.perf_counter,
        deadline_s: float = DEADLINE_S,
    ) -> None:
        self.probes = tuple(probes)
        self.describe = describe
        self.timer = timer
        self.deadline_s = deadline_s

    def run(self) -> Readiness:
        if not self.probes:
            return Readiness(())
        pool = ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(self.probes)), thread_name_prefix="readiness")
        try:
            futures = [pool.submit(self._one, probe) for probe in self.probes]
            wait(futures, timeout=self.deadline_s)
        finally:
            # never wait for a hung probe: its thread ends when its own call times out
            pool.shutdown(wait=False, cancel_futures=True)
        checks = []
        for probe, future in zip(self.probes, futures, strict=True):
            if future.done() and not future.cancelled():
                checks.append(future.result())
            else:
                log.warning("readiness check %s did not answer within %.1f s", probe.name, self.deadline_s)
                checks.append(Check(probe.name, False, round(self.deadline_s * 1000, 1), TIMEOUT))
        return Readiness(tuple(checks))

    def _one(self, probe: Probe) -> Check:
        started = self.timer()
        try:
            probe.call()
        except Exception as exc:  # any failure is an answer about that dependency, not an error of the check
            elapsed = self._ms(started)
            code = self._code(exc)
            log.warning("readiness check %s failed: %s", probe.name, code, exc_info=exc)
            return Check(probe.name, False, elapsed, code)
        return Check(probe.name, True, self._ms(started))

    def _ms(self, started: float) -> float:
        return round((self.timer() - started) * 1000, 1)

    def _code(self, exc: BaseException) -> str:
        try:
            raw = self.describe(exc)
        except Exception:
            raw = class_name(exc)
        return raw if _CODE.fullmatch(raw) else class_name(exc)
