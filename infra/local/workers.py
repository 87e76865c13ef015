"""Functions run like Lambda: a warm pool of worker processes per function (``contracts.Invoker``).

Each worker is one execution environment (``infra.local.worker``): its own process and environment (the function's
variables, the emulator's endpoint, fake credentials), one invocation at a time, the handler imported once at start
(so the first invocation on a new worker is a real cold start). A pool grows on demand up to the function's
``local_concurrency`` and keeps its workers warm; handlers never share a process, because powertools' resolver keeps
the current event in class-level state.

Beyond capacity, invocations **queue** for a free worker rather than failing at once: the runner serves interactive
use and tests on a laptop, where an instant 429 for the fifth concurrent click would be noise. The wait is bounded by
the function's timeout; past it the invocation fails with ``TooManyRequestsException`` (what Lambda returns when
throttled; the gateway answers 429).

Failures follow Lambda: a handler exception is an error result (the worker stays warm); a worker that exits is
``Runtime.ExitError`` and is replaced by the next invocation; an invocation past the function's timeout is
``Sandbox.Timedout`` and its worker is killed; a handler that cannot be imported is ``Runtime.ImportModuleError``.

A worker's environment is fixed when its process starts, so two rules keep every worker's environment complete and
current (a page sent by a worker that never learnt the Telegram sandbox's address fails with a network error):

- pools made with ``ready=False`` start no worker until ``mark_ready()``, which the runner calls once everything
  ``env_for`` reads is known (the emulator's port, the sandbox's address). Invocations that arrive earlier (the
  emulator resumes interrupted executions, streams and schedules as it starts) wait for it, bounded by the
  function's timeout, then fail as ``ServiceException``, which Step Functions retries.
- every dispatch compares the environment a warm worker was started with against the current one; a worker whose
  environment changed is stopped and the invocation starts a fresh one (a cold start, like a Lambda configuration
  update).

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
from typing import IO, Any

from infra.local.contracts import InvokeResult
from infra.local.resources import ACCOUNT_ID, function_physical_name
from infra.local.worker import recv_frame, send_frame
from infra.topology import ROOT, Function, Topology

LAYER_PATHS: tuple[Path, ...] = (ROOT / "layers" / "common" / "python",)

#: Lambda's init phase limit is 10 s; a laptop starting several workers at once on two cores needs more headroom.
INIT_TIMEOUT_S = 30.0

#: Lambda's limit for a synchronous invocation's event (and response)
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

#: credentials the emulator accepts; never real ones, whatever the developer's shell holds
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

LogSink = Callable[[str, str], None]


def _stderr_sink(function: str, line: str) -> None:
    sys.stderr.write(f"{function} | {line}\n")


class WorkerError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass
class PoolStats:
    function: str
    capacity: int
    workers: int
    idle: int
    invocations: int
    cold_starts: int
    pids: list[int]


class _Worker:
    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, function: str, env: dict[str, str]) -> None:
        self.proc = proc
        self.sock = sock
        self.function = function
        #: the environment the process was started with (compared at each dispatch)
        self.env = env
        self.invocations = 0
        self.init_ms = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def exit_description(self) -> str:
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "Runtime exited without providing a reason"
        if code < 0:
            return f"Runtime exited with error: signal {-code}"
        return f"Runtime exited with error: exit status {code}"


class _Pool:
    def __init__(self, fn: Function, capacity: int) -> None:
        self.fn = fn
        self.capacity = max(1, capacity)
        self.idle: list[_Worker] = []
        self.size = 0
        self.cond = threading.Condition()
        self.invocations = 0
        self.cold_starts = 0

    def acquire(self, deadline: float, closed: Callable[[], bool]) -> _Worker | None:
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

    def release(self, worker: _Worker | None, alive: bool) -> None:
        with self.cond:
            if alive and worker is not None:
                self.idle.append(worker)
            else:
                self.size -= 1
            self.cond.notify()


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
        self._all: set[_Worker] = set()
        self._all_lock = threading.Lock()
        self._closed = False

    # -- Invoker -------------------------------------------------------------------------------------------------

    def invoke(self, function: str, event: Any) -> InvokeResult:
        pool = self._pools.get(function)
        if pool is None:
            return _failure("ResourceNotFoundException", f"Function not found: {function}")
        try:
            size = len(json.dumps(event, separators=(",", ":")).encode())
        except (TypeError, ValueError) as exc:
            return _failure("InvalidRequestContentException", f"Could not parse request body into json: {exc}")
        if size > MAX_PAYLOAD_BYTES:
            return _failure(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation",
            )
        fn = pool.fn
        request_id = str(uuid.uuid4())
        deadline = time.monotonic() + fn.timeout_s
        if not self._ready.wait(max(0.0, deadline - time.monotonic())):
            return _failure("ServiceException", f"{fn.name}: the runner is still starting; try again")
        try:
            worker = pool.acquire(deadline, lambda: self._closed)
        except WorkerError as exc:
            return _failure(exc.error_type, str(exc))
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
        cold = worker is None
        if worker is None:
            try:
                worker = self._start(fn, env)
            except WorkerError as exc:
                pool.release(None, alive=False)
                return _failure(exc.error_type, str(exc), cold=True)
        with pool.cond:
            pool.invocations += 1
            pool.cold_starts += int(cold)
        alive = False
        try:
            result = self._call(worker, request_id, event, fn.timeout_s, cold)
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
        stopped: list[_Worker] = []
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
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            "HOME": os.environ.get("HOME", str(ROOT)),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            # the deployed name, as in AWS (the emulator registers the same one)
            "AWS_LAMBDA_FUNCTION_NAME": function_physical_name(fn),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_physical_name(fn)}",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(fn.code_dir),
            "_HANDLER": fn.handler,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            # No X-Ray daemon runs locally; powertools Tracer would otherwise emit segments into the void.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        env.update(FAKE_CREDENTIALS)
        env.update(self.env_for(fn))
        env["AWS_ENDPOINT_URL"] = self.endpoint_url
        # botocore's account-id endpoints (DynamoDB Streams among them) are not served by the emulator.
        env["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
        return env

    def _start(self, fn: Function, env: dict[str, str]) -> _Worker:
        parent_sock, child_sock = socket.socketpair()
        cmd = [
            sys.executable,
            "-m",
            "infra.local.worker",
            "--fd",
            str(child_sock.fileno()),
            "--function",
            function_physical_name(fn),
            "--account",
            self.account_id,
            "--region",
            self.region,
            "--code-dir",
            str(fn.code_dir),
            "--handler",
            fn.handler,
            "--memory",
            str(fn.memory_mb),
            "--timeout",
            str(fn.timeout_s),
        ]
        for layer in LAYER_PATHS:
            cmd += ["--layer", str(layer)]
        if self.clock_file is not None:
            cmd += ["--clock-file", str(self.clock_file)]
        try:
            proc = subprocess.Popen(
                cmd,
                cwd=ROOT,
                # ``-m infra.local.worker`` needs the repository importable; the worker removes it from sys.path
                # again before importing the handler.
                env={**env, "PYTHONPATH": str(ROOT)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(child_sock.fileno(),),
            )
        except OSError as exc:
            parent_sock.close()
            child_sock.close()
            raise WorkerError("ServiceException", f"could not start a worker for {fn.name}: {exc}") from exc
        child_sock.close()
        worker = _Worker(proc, parent_sock, fn.name, env)
        with self._all_lock:
            self._all.add(worker)
        for stream in (proc.stdout, proc.stderr):
            assert stream is not None
            threading.Thread(target=self._forward, args=(fn.name, stream), daemon=True).start()
        try:
            ready = recv_frame(parent_sock, time.monotonic() + max(INIT_TIMEOUT_S, fn.timeout_s))
        except TimeoutError:
            self._discard(worker)
            raise WorkerError("Sandbox.Timedout", f"{fn.name}: init did not finish in {INIT_TIMEOUT_S:.0f}s") from None
        if ready is None or ready.get("type") != "ready":
            self._discard(worker)
            if ready is None:
                raise WorkerError("Runtime.ExitError", f"{fn.name}: {worker.exit_description()} during init")
            raise WorkerError(ready["error_type"], ready["error_message"])
        worker.init_ms = float(ready.get("init_ms", 0.0))
        # What Lambda's REPORT line says about a cold start, so the cost of imports shows in the runner's log.
        self._log(fn.name, f"INIT worker pid {proc.pid}: Init Duration: {worker.init_ms:.1f} ms")
        if self._closed:
            self._discard(worker)
            raise WorkerError("ServiceException", "the runner is shutting down")
        return worker

    def _call(self, worker: _Worker, request_id: str, event: Any, timeout_s: int, cold: bool) -> InvokeResult:
        worker.invocations += 1
        started = time.perf_counter()
        try:
            send_frame(worker.sock, {"request_id": request_id, "event": event})
            reply = recv_frame(worker.sock, time.monotonic() + timeout_s)
        except TimeoutError:
            worker.proc.kill()
            return _failure(
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after {float(timeout_s):.2f} seconds",
                cold=cold,
                pid=worker.pid,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        except OSError:
            reply = None
        if reply is None:
            return _failure(
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: {worker.exit_description()}",
                cold=cold,
                pid=worker.pid,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        if reply["type"] == "result":
            return InvokeResult(
                payload=reply["payload"],
                duration_ms=float(reply["duration_ms"]),
                cold=cold,
                worker_pid=worker.pid,
            )
        document = {
            "errorMessage": reply["error_message"],
            "errorType": reply["error_type"],
            "requestId": request_id,
            "stackTrace": reply.get("stack_trace", []),
        }
        return InvokeResult(
            payload=document,
            error_type=reply["error_type"],
            error_message=reply["error_message"],
            duration_ms=float(reply.get("duration_ms", 0.0)),
            cold=cold,
            worker_pid=worker.pid,
        )

    def _discard(self, worker: _Worker) -> None:
        with self._all_lock:
            self._all.discard(worker)
        worker.kill()

    def _forward(self, function: str, stream: IO[bytes]) -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                # A broken log sink must not stop draining the pipe (the worker would block writing).
                if line:
                    with contextlib.suppress(Exception):
                        self._log(function, line)


def _failure(
    error_type: str, message: str, *, cold: bool = False, pid: int = 0, duration_ms: float = 0.0
) -> InvokeResult:
    return InvokeResult(
        payload={"errorMessage": message, "errorType": error_type},
        error_type=error_type,
        error_message=message,
        duration_ms=duration_ms,
        cold=cold,
        worker_pid=pid,
    )
