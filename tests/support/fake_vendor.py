"""What the fake vendor APIs (PagerDuty, Opsgenie, Grafana OnCall) share: a real HTTP server on 127.0.0.1 that
records each request, serves injected faults first (each once), checks the credential in constant time as the
vendor would, and answers GETs from ``answer`` with the vendor's own 401/404 bodies."""

from __future__ import annotations

import hmac
import json
import threading
from abc import ABC, abstractmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs, urlsplit


class FakeVendorApi(ABC):
    #: the ``Authorization`` header the vendor expects
    authorization = ""
    #: the vendor's bodies for a refused credential, an unknown path and (by default) an injected fault
    unauthorized: ClassVar[dict[str, Any]] = {}
    not_found: ClassVar[dict[str, Any]] = {}

    def __init__(self, data: dict[str, Any], page_cap: int = 10) -> None:
        self.data = data
        self.page_cap = page_cap
        #: (path prefix, status, headers, body) served instead of the answer, first match first, each once
        self.faults: list[tuple[str, int, dict[str, str], bytes]] = []
        self.requests: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fault_body(self, status: int) -> dict[str, Any]:
        return {"error": {"code": status}}

    def fail(self, path: str, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.faults.append((path, status, headers or {}, body or json.dumps(self.fault_body(status)).encode()))

    @abstractmethod
    def answer(self, path: str, query: dict[str, list[str]]) -> dict[str, Any] | None:
        """The vendor's answer to a GET, or None for its 404."""

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        with self.lock:
            self.requests.append(h.path)
            fault = next((f for f in self.faults if parts.path.startswith(f[0])), None)
            if fault is not None:
                self.faults.remove(fault)
        if fault is not None:
            _, status, headers, body = fault
            return self._send(h, status, body, headers)
        if not hmac.compare_digest(h.headers.get("Authorization", "").encode(), self.authorization.encode()):
            return self._send(h, 401, json.dumps(self.unauthorized).encode())
        answer = self.answer(parts.path, parse_qs(parts.query))
        if answer is None:
            return self._send(h, 404, json.dumps(self.not_found).encode())
        return self._send(h, 200, json.dumps(answer).encode())

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
