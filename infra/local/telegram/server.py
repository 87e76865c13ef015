"""The sandbox on a port of its own, at ``/bot<token>/<method>`` as Telegram serves the Bot API: what the functional
and e2e tests point ``TELEGRAM_API_URL`` at when they need a Telegram that is not the runner's."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.local.httpd import Listener, Response, handler_class, json_response, serve_in_background
from infra.local.telegram.botapi import call_from_http, error
from infra.local.telegram.sandbox import TelegramSandbox


class BotApiServer(TelegramSandbox):
    """A ``TelegramSandbox`` listening on ``host:port`` (0: a free port) from construction until ``close()``."""

    def __init__(
        self,
        token: str,
        bot_username: str = "oncall_local_bot",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        accept_unseen_queries: bool = True,
    ) -> None:
        super().__init__(token, bot_username, accept_unseen_queries=accept_unseen_queries)
        self._listener = Listener((host, port), handler_class(self._handle, name="telegram-sandbox", access_log=False))
        self.url = f"http://{host}:{self._listener.server_address[1]}"
        self._thread: threading.Thread | None = serve_in_background(self._listener)

    def close(self) -> None:
        if self._thread is None:
            return
        self._listener.shutdown()
        self._listener.server_close()
        self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> BotApiServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, peer: str) -> Response:
        split = urlsplit(target)
        if not split.path.startswith("/bot"):
            return json_response(*error(404, "Not Found"))
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        return json_response(*call_from_http(self, split.path.removeprefix("/bot"), query, body))
