"""The runner's HTTP listeners: one request-handling loop shared by the gateway and the standalone Bot API sandbox.

A listener hands each request to a ``Handle`` (method, target, headers, body, client address) and writes back the
``Response`` it returns, with its own ``Content-Length``. Bodies are length-delimited (chunked ones are refused with a
411) and capped at ``max_body``; an HTTPS listener does its TLS handshake in the request's thread (``tls``), so one
client that never completes it cannot stall the accept loop.
"""

from __future__ import annotations

import json
import logging
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


def envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    """Our error envelope, which the product's own errors use too, so a client parses one shape."""
    body = json.dumps({"error": {"code": code, "message": message, "details": details or {}}}).encode()
    return status, [("content-type", "application/json")], body


def json_response(status: int, value: Any) -> Response:
    return status, [("content-type", "application/json")], json.dumps(value, default=str).encode()


class Listener(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

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
) -> type[BaseHTTPRequestHandler]:
    """``access_log=False`` keeps request lines out of the log: a Bot API path carries the bot's token."""

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
                self.request.settimeout(None)
            super().setup()

        def log_message(self, format: str, *args: Any) -> None:
            if access_log:
                log.debug("%s %s", self.address_string(), format % args)

        def _serve(self) -> None:
            started = time.perf_counter()
            length_header = self.headers.get("content-length")
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                self._write(*envelope(411, "length_required", "send Content-Length (chunked bodies unsupported)"))
                return
            try:
                length = int(length_header or 0)
            except ValueError:
                self._write(*envelope(400, "bad_request", "invalid Content-Length"))
                return
            if length > max_body:
                # Read and drop the body first: closing on unread data resets the connection, and the client
                # would see a reset instead of the 413.
                remaining = length
                while remaining > 0 and remaining <= 8 * max_body:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                self._write(*envelope(413, "payload_too_large", "Request Entity Too Large"))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            status, headers, out = handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0]
            )
            self._write(status, headers, out)
            if served is not None:
                served(self.command, self.path, status, (time.perf_counter() - started) * 1000)

        def _write(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for header, value in headers:
                if header.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(header, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    return _Handler
