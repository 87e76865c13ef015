"""One Lambda execution environment: the child process ``workers.WorkerPools`` starts for a function.

Run as ``python -m infra.local.worker --fd N --function NAME --code-dir DIR --layer DIR ...``. The child imports the
handler once (Lambda's init phase), then serves one invocation at a time over the socket it inherited as fd N until
the runner closes it.

With ``--clock-file PATH`` (the runner's ``clock.OffsetFile``), the function's clock (``oncall.wiring.clock()``,
which every service, token check and handler takes ``now`` from) is this process's wall clock plus the runner's
current offset, read at each call: after ``POST /_local/clock`` the API, escalation and every other function tell
the same time as the emulator.

The socket, not stdout, carries events and results: handlers (powertools Logger) write JSON logs to stdout, which the
runner forwards to its own log line by line.

Frames are a 4-byte big-endian length followed by UTF-8 JSON. Runner → worker: ``{"request_id", "event"}``.
Worker → runner: ``{"type": "ready", "init_ms"}`` once, or ``{"type": "init_error", ...}`` (then it exits); per
invocation ``{"type": "result", "payload", "duration_ms"}`` or ``{"type": "error", "error_type", "error_message",
"stack_trace", "duration_ms"}``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.local.clock import OffsetFile

_HEADER = struct.Struct(">I")


def send_frame(sock: socket.socket, message: dict[str, Any]) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(_HEADER.pack(len(data)) + data)


def recv_frame(sock: socket.socket, deadline: float | None = None) -> dict[str, Any] | None:
    """The next frame, or ``None`` when the peer closed the socket. Raises ``TimeoutError`` past ``deadline``
    (a ``time.monotonic()`` value)."""
    header = _recv_exact(sock, _HEADER.size, deadline)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    body = _recv_exact(sock, length, deadline)
    if body is None:
        return None
    message: dict[str, Any] = json.loads(body)
    return message


def _recv_exact(sock: socket.socket, n: int, deadline: float | None) -> bytes | None:
    chunks: list[bytes] = []
    got = 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
        else:
            sock.settimeout(None)
        try:
            chunk = sock.recv(min(n - got, 1 << 20))
        except TimeoutError:
            raise
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "error_type": error_type or type(exc).__name__,
        "error_message": str(exc),
        "stack_trace": traceback.format_exception(exc),
    }


def _follow_runner_clock(offset: OffsetFile) -> None:
    """Make ``oncall.wiring.clock()`` the runner's clock (functions without the common layer have nothing to set)."""
    import importlib.util

    if importlib.util.find_spec("oncall") is None:
        return
    from datetime import UTC, datetime, timedelta

    from oncall import wiring

    def now() -> datetime:
        return datetime.now(UTC) + timedelta(seconds=offset.read())

    wiring.override(clock=now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra.local.worker")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--function", required=True)
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--layer", action="append", default=[])
    parser.add_argument("--handler", default="handler.handler")
    parser.add_argument("--memory", type=int, default=256)
    parser.add_argument("--timeout", type=int, default=10)
    parser.add_argument("--account", default="123456789012")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--clock-file", type=Path)
    args = parser.parse_args(argv)

    # Ctrl-C in a terminal signals the whole process group; the runner decides when a worker ends (it closes the
    # socket), so a worker never dies mid-invocation with a KeyboardInterrupt of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)

    from infra.local.clock import OffsetFile
    from infra.local.context import LambdaContext

    # What Lambda gives a handler: its code folder (cwd and sys.path) and the layers, not the runner's repository.
    root = str(Path(__file__).resolve().parent.parent.parent)
    sys.path[:] = [p for p in sys.path if p not in ("", ".", root) and os.path.abspath(p) != root]
    for path in reversed([args.code_dir, *args.layer]):
        sys.path.insert(0, path)
    os.chdir(args.code_dir)

    module_name, _, attr = args.handler.rpartition(".")
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        handler: Callable[[Any, Any], Any] = getattr(module, attr)
    except BaseException as exc:
        # Lambda's names for a handler that cannot be loaded.
        kind = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else "Runtime.HandlerNotFound"
        if not isinstance(exc, (ImportError, AttributeError)):
            kind = f"Runtime.Init.{type(exc).__name__}"
        traceback.print_exc()
        send_frame(sock, {"type": "init_error", **_error(exc, kind)})
        return 1
    init_ms = (time.perf_counter() - started) * 1000
    if args.clock_file is not None:
        try:
            _follow_runner_clock(OffsetFile.open(args.clock_file))
        except Exception as exc:
            # a function on the wall clock would disagree with the emulator without anyone noticing: refuse to run
            traceback.print_exc()
            send_frame(sock, {"type": "init_error", **_error(exc, "Runtime.Init.ClockError")})
            return 1
    send_frame(sock, {"type": "ready", "init_ms": init_ms})

    while True:
        message = recv_frame(sock)
        if message is None:
            return 0
        context = LambdaContext(
            function_name=args.function,
            memory_limit_in_mb=args.memory,
            timeout_s=args.timeout,
            region=args.region,
            account_id=args.account,
            aws_request_id=message["request_id"],
        )
        t0 = time.perf_counter()
        try:
            payload = handler(message["event"], context)
        except Exception as exc:
            duration = (time.perf_counter() - t0) * 1000
            # Lambda prints the unhandled error to the function's log as well as returning it.
            traceback.print_exc()
            send_frame(sock, {"type": "error", "duration_ms": duration, **_error(exc)})
            continue
        duration = (time.perf_counter() - t0) * 1000
        try:
            send_frame(sock, {"type": "result", "payload": payload, "duration_ms": duration})
        except (TypeError, ValueError) as exc:
            error = _error(exc, "Runtime.MarshalError")
            error["error_message"] = f"Unable to marshal response: {exc}"
            send_frame(sock, {"type": "error", "duration_ms": duration, **error})
        finally:
            sys.stdout.flush()
            sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
