"""One Lambda execution environment, seen from the runner: a worker process (``infra.local.worker``) started with a
function's environment, handed one invocation at a time over a socket pair, and read back as Lambda reports results.

A worker imports the handler once, at start, so the first invocation on a new worker is a real cold start; its
"ready" frame carries the init duration, which the runner logs as Lambda's REPORT line would. Failures follow Lambda:
a handler exception is an error result (the worker stays usable); a worker that exits is ``Runtime.ExitError``; an
invocation past the timeout is ``Sandbox.Timedout`` and the worker is killed; a handler that cannot be imported is
``Runtime.ImportModuleError``. The pools (``workers``) decide which worker runs what.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from infra.local.contracts import InvokeResult
from infra.local.resources import function_physical_name
from infra.local.worker import recv_frame, send_frame
from infra.topology import ROOT, Function

LAYER_PATHS: tuple[Path, ...] = (ROOT / "layers" / "common" / "python",)

#: Lambda's init phase limit is 10 s; a laptop starting several workers at once on two cores needs more headroom.
INIT_TIMEOUT_S = 30.0

#: credentials the emulator accepts; never real ones, whatever the developer's shell holds
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

#: (function, line): where a worker's stdout and stderr lines go
LogSink = Callable[[str, str], None]


class WorkerError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def lambda_environment(fn: Function, region: str, endpoint_url: str, extra: dict[str, str]) -> dict[str, str]:
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
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # No X-Ray daemon runs locally; powertools Tracer would otherwise emit segments into the void.
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    env.update(FAKE_CREDENTIALS)
    env.update(extra)
    env["AWS_ENDPOINT_URL"] = endpoint_url
    # botocore's account-id endpoints (DynamoDB Streams among them) are not served by the emulator.
    env["AWS_ACCOUNT_ID_ENDPOINT_MODE"] = "disabled"
    return env


class Worker:
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

    def invoke(self, request_id: str, event: Any, timeout_s: int, cold: bool) -> InvokeResult:
        self.invocations += 1
        started = time.perf_counter()
        try:
            send_frame(self.sock, {"request_id": request_id, "event": event})
            reply = recv_frame(self.sock, time.monotonic() + timeout_s)
        except TimeoutError:
            self.proc.kill()
            return failure(
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after {float(timeout_s):.2f} seconds",
                cold=cold,
                pid=self.pid,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        except OSError:
            reply = None
        if reply is None:
            return failure(
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: {self.exit_description()}",
                cold=cold,
                pid=self.pid,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
        if reply["type"] == "result":
            return InvokeResult(
                payload=reply["payload"],
                duration_ms=float(reply["duration_ms"]),
                cold=cold,
                worker_pid=self.pid,
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
            worker_pid=self.pid,
        )


def start_worker(
    fn: Function,
    env: dict[str, str],
    *,
    account_id: str,
    region: str,
    clock_file: Path | None,
    log: LogSink,
    started: Callable[[Worker], None],
    discard: Callable[[Worker], None],
) -> Worker:
    """Start a worker for ``fn`` and wait until its handler is imported. ``started`` sees the worker as soon as its
    process exists (so a shutdown during init can kill it); ``discard`` is called on one that never became ready.
    Raises ``WorkerError``."""
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
        account_id,
        "--region",
        region,
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
    if clock_file is not None:
        cmd += ["--clock-file", str(clock_file)]
    spawned = time.monotonic()
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
    worker = Worker(proc, parent_sock, fn.name, env)
    started(worker)
    for stream in (proc.stdout, proc.stderr):
        assert stream is not None
        threading.Thread(target=_forward, args=(log, fn.name, stream), daemon=True).start()
    try:
        ready = recv_frame(parent_sock, time.monotonic() + max(INIT_TIMEOUT_S, fn.timeout_s))
    except TimeoutError:
        discard(worker)
        raise WorkerError("Sandbox.Timedout", f"{fn.name}: init did not finish in {INIT_TIMEOUT_S:.0f}s") from None
    if ready is None or ready.get("type") != "ready":
        discard(worker)
        if ready is None:
            raise WorkerError("Runtime.ExitError", f"{fn.name}: {worker.exit_description()} during init")
        raise WorkerError(ready["error_type"], ready["error_message"])
    worker.init_ms = float(ready.get("init_ms", 0.0))
    # What Lambda's REPORT line says about a cold start, so the cost of imports shows in the runner's log.
    # and the whole start (interpreter, runtime, handler), which is what a cold invocation waits for
    whole_ms = (time.monotonic() - spawned) * 1000
    log(fn.name, f"INIT worker pid {proc.pid}: Init Duration: {worker.init_ms:.1f} ms (started in {whole_ms:.1f} ms)")
    return worker


def failure(
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


def _forward(log: LogSink, function: str, stream: IO[bytes]) -> None:
    with stream:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            # A broken log sink must not stop draining the pipe (the worker would block writing).
            if line:
                with contextlib.suppress(Exception):
                    log(function, line)
