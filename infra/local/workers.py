"""Functions run like Lambda: a warm pool of worker processes per function (``contracts.Invoker``).

Each worker is one execution environment (``execution``): its own process and environment, one invocation at a time,
the handler imported once at start. A pool grows on demand up to the function's ``local_concurrency`` and keeps its
workers warm (the most recently used first, like Lambda's environment reuse); handlers never share a process,
because powertools' resolver keeps the current event in class-level state. When an invocation finds every worker
busy and the pool may grow, the new worker starts in the background and the invocation takes whichever is free
first, it or a busy one finishing: Lambda would send it to the new environment and make it wait for the cold start,
but on a laptop a page should not wait ~0.3 s for a process when a worker is milliseconds from free.

Beyond capacity, invocations **queue** for a free worker rather than failing at once: the runner serves interactive
use and tests on a laptop, where an instant 429 for the fifth concurrent click would be noise. The wait is bounded by
the function's timeout; past it the invocation fails with ``TooManyRequestsException`` (what Lambda returns when
throttled; the gateway answers 429).

A worker that timed out or exited is discarded and replaced by the next invocation; one that died while idle is
quietly replaced, as Lambda would.

A worker's environment is fixed when its process starts, so two rules keep every worker's environment complete and
current (a page sent by a worker that never learnt the Telegram sandbox's address fails with a network error):

- pools made with ``ready=False`` start no worker until ``mark_ready()``, which the runner calls once everything
  ``env_for`` reads is known (the emulator's port, the sandbox's address). Invocations that arrive earlier (the
  emulator resumes interrupted executions, streams and schedules as it starts) wait for it, bounded by the
  function's timeout, then fail as ``ServiceException``, which Step Functions retries.
- every dispatch compares the environment a warm worker was started with against the current one; a worker whose
  environment changed is stopped and the invocation starts a fresh one (a cold start, like a Lambda configuration
  update).

Cold starts are limited to ``MAX_CONCURRENT_INITS`` at a time across all functions: a burst of events that wakes every
background function at once would otherwise spend the laptop's cores importing boto3 a dozen times over, and a warm
API worker starved past its timeout fails a request Lambda, with a CPU per environment, would have answered. Waiting
for an init slot is not counted against an invocation's timeout (Lambda's init is not either).

With ``clock_file`` (``clock.OffsetFile``), each worker's ``now`` is its wall clock plus the runner's clock offset
(``infra.local.worker``), so functions agree with the emulator's clock after ``POST /_local/clock``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.contracts import InvokeResult
from infra.local.execution import LogSink, Worker, WorkerError, failure, lambda_environment, start_worker
from infra.local.resources import ACCOUNT_ID
from infra.topology import Function, Topology

#: Lambda's limit for a synchronous invocation's event (and response)
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
#: worker processes starting at once, runner-wide: about the machine's cores (at least 2)
MAX_CONCURRENT_INITS = max(2, os.cpu_count() or 2)


def _stderr_sink(function: str, line: str) -> None:
    sys.stderr.write(f"{function} | {line}\n")


@dataclass
class PoolStats:
    function: str
    capacity: int
    workers: int
    idle: int
    invocations: int
    cold_starts: int
    pids: list[int]


class _Pool:
    def __init__(self, fn: Function, capacity: int) -> None:
        self.fn = fn
        self.capacity = max(1, capacity)
        self.idle: list[Worker] = []
        self.size = 0
        self.cond = threading.Condition()
        self.invocations = 0
        self.cold_starts = 0

    def acquire(self, deadline: float, closed: Callable[[], bool]) -> Worker | None:
        """A warm worker, or ``None`` meaning "a slot is reserved: start a new one"."""
        with self.cond:
            while True:
                if closed():
                    raise WorkerError("ServiceException", "the runner is shutting down")
                if self.idle:
                    # LIFO keeps the most recently used worker hot, like Lambda's environment reuse.
                    return self.idle.pop()
                if self.size < self.capacity:
                    self.size += 1
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerError(
                        "TooManyRequestsException",
                        f"Rate Exceeded: all {self.capacity} workers of {self.fn.name} stayed busy",
                    )
                self.cond.wait(remaining)

    def release(self, worker: Worker | None, alive: bool) -> None:
        with self.cond:
            if alive and worker is not None:
                self.idle.append(worker)
            else:
                self.size -= 1
            # every waiter: an invocation whose new worker is still starting may take this one (``_start_or_take``)
            self.cond.notify_all()


class WorkerPools:
    """``contracts.Invoker`` backed by one pool of worker processes per declared function.

    ``endpoint_url`` may be assigned after construction (the emulator's port is known only once it has started);
    workers started afterwards use the new value, and warm workers started before are replaced at their next
    invocation. With ``ready=False`` nothing starts until ``mark_ready()``.
    """

    def __init__(
        self,
        topology: Topology,
        env_for: Callable[[Function], dict[str, str]],
        endpoint_url: str,
        *,
        concurrency: dict[str, int] | None = None,
        log: LogSink | None = None,
        region: str = "us-east-1",
        account_id: str = ACCOUNT_ID,
        ready: bool = True,
        clock_file: Path | None = None,
    ) -> None:
        self.topology = topology
        self.env_for = env_for
        self.endpoint_url = endpoint_url
        self.region = region
        self.account_id = account_id
        self.clock_file = clock_file
        self._ready = threading.Event()
        if ready:
            self._ready.set()
        self._log = log or _stderr_sink
        self._pools = {
            fn.name: _Pool(fn, (concurrency or {}).get(fn.name, fn.local_concurrency)) for fn in topology.functions
        }
        self._all: set[Worker] = set()
        self._all_lock = threading.Lock()
        self._inits = threading.BoundedSemaphore(MAX_CONCURRENT_INITS)
        self._closed = False

    # -- Invoker -------------------------------------------------------------------------------------------------

    def invoke(self, function: str, event: Any) -> InvokeResult:
        pool = self._pools.get(function)
        if pool is None:
            return failure("ResourceNotFoundException", f"Function not found: {function}")
        try:
            size = len(json.dumps(event, separators=(",", ":")).encode())
        except (TypeError, ValueError) as exc:
            return failure("InvalidRequestContentException", f"Could not parse request body into json: {exc}")
        if size > MAX_PAYLOAD_BYTES:
            return failure(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation",
            )
        fn = pool.fn
        request_id = str(uuid.uuid4())
        deadline = time.monotonic() + fn.timeout_s
        if not self._ready.wait(max(0.0, deadline - time.monotonic())):
            return failure("ServiceException", f"{fn.name}: the runner is still starting; try again")
        try:
            worker = pool.acquire(deadline, lambda: self._closed)
        except WorkerError as exc:
            return failure(exc.error_type, str(exc))
        env = self.environment(fn)
        if worker is not None and worker.proc.poll() is not None:
            # It died while idle (killed, out of memory): Lambda would quietly use a fresh environment, so do we.
            self._discard(worker)
            worker = None
        elif worker is not None and worker.env != env:
            changed = sorted(k for k in env.keys() | worker.env.keys() if env.get(k) != worker.env.get(k))
            # names only: values may be secrets
            self._log(fn.name, f"RECYCLE worker pid {worker.pid}: its environment changed ({', '.join(changed)})")
            self._discard(worker)
            worker = None
        if worker is None:
            try:
                worker = self._start_or_take(pool, env, deadline)
            except WorkerError as exc:
                return failure(exc.error_type, str(exc), cold=True)
        # a worker's first invocation is its cold start, whichever invocation started it
        cold = worker.invocations == 0
        with pool.cond:
            pool.invocations += 1
            pool.cold_starts += int(cold)
        alive = False
        try:
            result = worker.invoke(request_id, event, fn.timeout_s, cold)
            alive = result.error_type not in ("Sandbox.Timedout", "Runtime.ExitError")
            return result
        finally:
            if not alive:
                self._discard(worker)
            pool.release(worker, alive)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def mark_ready(self) -> None:
        """Everything a worker's environment needs is known: let invocations start workers."""
        self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def stats(self) -> list[PoolStats]:
        out = []
        with self._all_lock:
            by_fn: dict[str, list[int]] = {}
            for w in self._all:
                by_fn.setdefault(w.function, []).append(w.pid)
        for name, pool in self._pools.items():
            with pool.cond:
                out.append(
                    PoolStats(
                        function=name,
                        capacity=pool.capacity,
                        workers=pool.size,
                        idle=len(pool.idle),
                        invocations=pool.invocations,
                        cold_starts=pool.cold_starts,
                        pids=sorted(by_fn.get(name, [])),
                    )
                )
        return out

    def close_idle(self, function: str | None = None) -> int:
        """Stop idle workers (of one function, or all), so the next invocation starts cold. Returns how many."""
        stopped: list[Worker] = []
        for name, pool in self._pools.items():
            if function not in (None, name):
                continue
            with pool.cond:
                stopped += pool.idle
                pool.size -= len(pool.idle)
                pool.idle = []
        for w in stopped:
            self._discard(w)
        return len(stopped)

    @property
    def closed(self) -> bool:
        """Closing or closed: an invocation failing now failed because the runner stops."""
        return self._closed

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit (socket closed), busy or stubborn ones are killed."""
        self._closed = True
        self._ready.set()  # invocations still waiting for start-up end now, refused as shutting down
        for pool in self._pools.values():
            with pool.cond:
                pool.cond.notify_all()
        with self._all_lock:
            workers = list(self._all)
            self._all.clear()
        for w in workers:
            with contextlib.suppress(OSError):
                w.sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 3
        for w in workers:
            try:
                w.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
            w.kill()

    def kill_all(self) -> None:
        """Kill every worker at once, without waiting: the runner's forced exit (safe from a signal handler)."""
        self._closed = True
        self._ready.set()
        for w in list(self._all):
            with contextlib.suppress(OSError):
                w.proc.kill()

    def __enter__(self) -> WorkerPools:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------------------------------

    def environment(self, fn: Function) -> dict[str, str]:
        """Everything a worker of ``fn`` sees: a clean Lambda-like environment, not the runner's own."""
        return lambda_environment(fn, self.region, self.endpoint_url, self.env_for(fn))

    def _start_or_take(self, pool: _Pool, env: dict[str, str], deadline: float) -> Worker:
        """A new worker for the slot ``acquire`` reserved, or a warm one if another invocation releases one first:
        the new worker starts in the background and joins the idle ones when it is ready, so a burst that grows the
        pool waits for whichever comes first, not always for a process start (~0.3 s, more for the first call's
        clients) when a busy worker is milliseconds from free. A start that fails gives its slot back and, when this
        invocation still waits for it, is its answer."""
        started: list[Worker] = []
        failed: list[WorkerError] = []
        taken = [False]

        def start() -> None:
            try:
                worker = self._start(pool.fn, env)
            except WorkerError as exc:
                with pool.cond:
                    pool.size -= 1
                    failed.append(exc)
                    pool.cond.notify_all()
                if taken[0]:
                    self._log(pool.fn.name, f"a worker started ahead of need failed: {exc}")
                return
            with pool.cond:
                if taken[0]:
                    pool.idle.append(worker)
                else:
                    started.append(worker)
                pool.cond.notify_all()

        threading.Thread(target=start, name=f"oncall-start-{pool.fn.name}", daemon=True).start()
        with pool.cond:
            while True:
                if started:
                    return started[0]
                if failed:
                    raise failed[0]
                if pool.idle and pool.idle[-1].env == env and pool.idle[-1].proc.poll() is None:
                    taken[0] = True
                    return pool.idle.pop()
                if self._closed:
                    taken[0] = True
                    raise WorkerError("ServiceException", "the runner is shutting down")
                # a start waits for an init slot (not counted, as Lambda's init is not): only a warm worker's
                # release is bounded by the deadline, and the start itself always answers
                pool.cond.wait(max(0.05, deadline - time.monotonic()))

    def _start(self, fn: Function, env: dict[str, str]) -> Worker:
        with self._inits:
            worker = start_worker(
                fn,
                env,
                account_id=self.account_id,
                region=self.region,
                clock_file=self.clock_file,
                log=self._log,
                started=self._started,
                discard=self._discard,
            )
        if self._closed:
            self._discard(worker)
            raise WorkerError("ServiceException", "the runner is shutting down")
        return worker

    def _started(self, worker: Worker) -> None:
        with self._all_lock:
            self._all.add(worker)

    def _discard(self, worker: Worker) -> None:
        with self._all_lock:
            self._all.discard(worker)
        worker.kill()
