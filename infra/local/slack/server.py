"""The sandbox on a port of its own, at ``/api/<method>`` as Slack serves the Web API: what the functional tests
point ``SLACK_API_URL`` at (``<url>/api``)."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from infra.local.httpd import Listener, Response, handler_class, json_response, serve_in_background
from infra.local.slack.sandbox import SlackSandbox


class SlackApiServer(SlackSandbox):
    """A ``SlackSandbox`` listening on ``host:port`` (0: a free port) from construction until ``close()``."""

    def __init__(self, token: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(token)
        self._listener = Listener((host, port), handler_class(self._handle, name="slack-sandbox", access_log=False))
        self.url = f"http://{host}:{self._listener.server_address[1]}/api"
        self._thread: threading.Thread | None = serve_in_background(self._listener)

    def close(self) -> None:
        if self._thread is None:
            return
        self._listener.shutdown()
        self._listener.server_close()
        self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> SlackApiServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, peer: str) -> Response:
        path = urlsplit(target).path
        if method != "POST" or not path.startswith("/api/"):
            return json_response(404, {"ok": False, "error": "unknown_method"})
        return self.handle(path.removeprefix("/api/"), {k.lower(): v for k, v in headers}, body)
