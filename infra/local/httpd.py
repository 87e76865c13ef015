"""The runner's HTTP listeners: one request-handling loop shared by the gateway and the standalone Bot API sandbox.

A listener hands each request to a ``Handle`` (method, target, headers, body, client address) and writes back the
``Response`` it returns, with its own ``Content-Length``. Bodies are length-delimited (chunked ones are refused with a
411) and capped at ``max_body``; an HTTPS listener does its TLS handshake in the request's thread (``tls``), so one
client that never completes it cannot stall the accept loop.

What API Gateway does and a plain ``http.server`` does not:

- every method reaches the handler (``TRACE``, ``PROPFIND``...: no route matches them, so they get the 404 envelope),
  and what the parser itself refuses (a malformed request line, headers too long) is answered in the envelope too,
  never with an HTML page;
- a ``Content-Length`` that is not one non-negative decimal number (``-1``, ``+5``, ``1_0``, two differing values) is
  a 400 before anything runs, and the connection is closed, since its framing cannot be trusted;
- an idle keep-alive connection is closed after ``idle_timeout`` seconds (each connection holds a thread), and at
  most ``max_connections`` are open at once: the next one is answered 503 and closed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("oncall.local")

Response = tuple[int, list[tuple[str, str]], bytes]
#: (method, target, headers, body, client address) → the response
Handle = Callable[[str, str, list[tuple[str, str]], bytes, str], Response]
#: (method, target, status, milliseconds), after the response is written
Served = Callable[[str, str, int, float], None]

#: API Gateway's payload limit
MAX_BODY = 10 * 1024 * 1024
#: seconds an idle keep-alive connection is kept (API Gateway's idle timeout is of this order)
IDLE_TIMEOUT = 30.0
#: open connections at once, each served by a thread
MAX_CONNECTIONS = 256

_DECIMAL = re.compile(r"[0-9]{1,19}")


def envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    """Our error envelope, which the product's own errors use too, so a client parses one shape."""
    body = json.dumps({"error": {"code": code, "message": message, "details": details or {}}}).encode()
    return status, [("content-type", "application/json")], body


def json_response(status: int, value: Any) -> Response:
    return status, [("content-type", "application/json")], json.dumps(value, default=str).encode()


def _raw(response: Response) -> bytes:
    status, headers, body = response
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}".rstrip()]
    lines += [f"{k}: {v}" for k, v in headers]
    lines += [f"content-length: {len(body)}", "connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


_REASONS = {503: "Service Unavailable"}


class Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._open = 0
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    @property
    def open_connections(self) -> int:
        return self._open

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            refused = self._open >= self.max_connections
            if not refused:
                self._open += 1
        if refused:
            log.warning("connection from %s refused: %d connections open", client_address[0], self.max_connections)
            if not isinstance(request, ssl.SSLSocket):  # before a handshake there is nothing to answer over TLS
                try:
                    request.settimeout(1)
                    busy = envelope(503, "service_unavailable", "too many open connections", {"retry_after": 1})
                    request.sendall(_raw(busy))
                except OSError:
                    pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-request (or refusing the self-signed certificate) are not the runner's errors.
        log.debug("connection from %s ended abnormally", client_address, exc_info=True)


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    return thread


def handler_class(
    handle: Handle,
    *,
    max_body: int = MAX_BODY,
    served: Served | None = None,
    name: str = "oncall-local",
    access_log: bool = True,
    chunked: bool = False,
) -> type[BaseHTTPRequestHandler]:
    """``access_log=False`` keeps request lines out of the log: a Bot API path carries the bot's token.
    ``chunked=True`` takes chunked request bodies (SDKs upload streams of unknown length that way); API Gateway's
    stand-ins refuse them with a 411, as API Gateway does."""

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One buffered write per response (flushed by the base class) and no Nagle: separate header and body
        # segments on a keep-alive connection otherwise meet the client's delayed ACK, ~40 ms per request.
        wbufsize = -1
        disable_nagle_algorithm = True
        server_version = name
        sys_version = ""

        def setup(self) -> None:
            if isinstance(self.request, ssl.SSLSocket):
                self.request.settimeout(10)
                try:
                    self.request.do_handshake()
                except (ssl.SSLError, OSError):
                    # A client that does not trust the certificate hangs up; nothing to answer.
                    self.request.close()
                    raise
            super().setup()
            # the idle timeout bounds every wait for the client: the next request line, headers and body alike
            self.connection.settimeout(getattr(self.server, "idle_timeout", IDLE_TIMEOUT))

        def __getattr__(self, name: str) -> Any:
            # every method token reaches the handler (``do_TRACE``, ``do_PROPFIND``...), as in API Gateway
            if name.startswith("do_"):
                return self._serve
            raise AttributeError(name)

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            # what the parser refuses (bad request line, headers too long) in the envelope, not an HTML page
            codes = {400: "bad_request", 408: "request_timeout", 414: "uri_too_long", 431: "headers_too_large"}
            self.close_connection = True
            if not getattr(self, "command", None):
                self.command = "GET"
            self.request_version = "HTTP/1.1"  # a request line it could not parse would leave HTTP/0.9: no headers
            with contextlib.suppress(OSError):
                self._write(*envelope(code, codes.get(code, "bad_request"), message or explain or "Bad Request"))

        def log_message(self, format: str, *args: Any) -> None:
            if access_log:
                log.debug("%s %s", self.address_string(), format % args)

        def _serve(self) -> None:
            started = time.perf_counter()
            length_header = self.headers.get("content-length")
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                if chunked:
                    self._answer(self._dechunked(max_body), started)
                else:
                    self._write(*envelope(411, "length_required", "send Content-Length (chunked bodies unsupported)"))
                return
            lengths = {v.strip() for v in self.headers.get_all("content-length") or []}
            if len(lengths) > 1 or not all(_DECIMAL.fullmatch(v) for v in lengths):
                # the request's framing is unknown: answer without running it and close
                self.close_connection = True
                self._write(*envelope(400, "bad_request", "invalid Content-Length", {"field": "Content-Length"}))
                return
            length = int(length_header or 0)
            if length > max_body:
                # Read and drop the body first: closing on unread data resets the connection, and the client
                # would see a reset instead of the 413.
                remaining = length
                while remaining > 0 and remaining <= 8 * max_body:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                self.close_connection = True
                self._write(*envelope(413, "payload_too_large", "Request Entity Too Large"))
                return
            self._answer(self.rfile.read(length) if length else b"", started)

        def _dechunked(self, limit: int) -> bytes | None:
            """The body of a chunked request, its trailers skipped; ``None`` (and the connection closed) when it is
            malformed or larger than ``limit``."""
            parts: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(1026)
                try:
                    length = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    return None
                if length == 0:
                    while self.rfile.readline(8194) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                size += length
                if size > limit:
                    self.close_connection = True
                    return None
                parts.append(self.rfile.read(length))
                self.rfile.readline(3)

        def _answer(self, body: bytes | None, started: float) -> None:
            if body is None:
                self._write(*envelope(400, "bad_request", "malformed or oversized chunked body"))
                return
            try:
                status, headers, out = handle(
                    self.command, self.path, list(self.headers.items()), body, self.client_address[0]
                )
            except Exception:
                # A bug of the runner's own is still an answer: a dropped connection would read as a network fault.
                log.exception("%s %s failed in the runner", self.command, self.path)
                status, headers, out = envelope(500, "internal_error", "Internal Server Error")
            self._write(status, headers, out)
            if served is not None:
                served(self.command, self.path, status, (time.perf_counter() - started) * 1000)

        def _write(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            length = str(len(body))
            for header, value in headers:
                if header.lower() == "content-length" and self.command == "HEAD":
                    length = value  # a HEAD answer says how long the body it leaves out is
                elif header.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(header, value)
            self.send_header("content-length", length)
            if self.close_connection:
                # Said out loud: a keep-alive client would otherwise pool the socket we are about to close, and its
                # next request would meet a hang-up instead of an answer.
                self.send_header("connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    return _Handler
