"""Real peers for outgoing webhooks and mail, on 127.0.0.1 and free ports.

``WebhookReceiver``: an HTTP server that records every request, can answer 5xx the first N times, can redirect, and
*processes* each event once by deduplicating on ``webhook-id`` (what the Standard Webhooks spec asks receivers to do),
verifying signatures with the ``standardwebhooks`` reference library when it has a secret.

``SmtpCapture``: an aiosmtpd server keeping every message it receives (``smtpd`` is gone since Python 3.12).
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    #: answer 500 to the first ``fail_first`` requests
    fail_first: int = 0
    #: answer every request with this status (e.g. 503: "down"); overrides fail_first
    always: int | None = None
    #: answer 302 with this Location
    redirect_to: str | None = None
    #: the secret(s) to verify with (reference library); a request that does not verify is answered 401
    secrets: list[str] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    #: webhook-id → the event body, processed once each
    processed: dict[str, Any] = field(default_factory=dict)
    duplicates: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # silence per-request logs
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                status, location = receiver._answer({k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, status, time.time())
                    )
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _answer(self, headers: dict[str, str], body: bytes) -> tuple[int, str | None]:
        with self._lock:
            seen = len(self.requests)
        if self.redirect_to:
            return 302, self.redirect_to
        if self.always is not None:
            return self.always, None
        if seen < self.fail_first:
            return 500, None
        if self.secrets and not any(self._verifies(s, headers, body) for s in self.secrets):
            return 401, None
        msg_id = headers.get("webhook-id", "")
        with self._lock:
            if msg_id in self.processed:
                self.duplicates += 1
            else:
                self.processed[msg_id] = json.loads(body)
        return 200, None

    @staticmethod
    def _verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_for(self, predicate: Callable[[WebhookReceiver], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.05)
        raise AssertionError(f"receiver: condition not met in {timeout}s; got {len(self.requests)} requests")


class SmtpCapture:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        capture = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
                capture.messages.append(parsed)  # type: ignore[arg-type]
                capture.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                return "250 OK"

        # aiosmtpd's start-up connects to its own port to check it is serving, so port 0 cannot be used directly
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        self._port = int(free)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self._port)

    def start(self) -> SmtpCapture:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    @property
    def port(self) -> int:
        return self._port

    def __enter__(self) -> SmtpCapture:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
