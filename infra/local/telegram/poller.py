"""``TELEGRAM_MODE=polling`` (a real token, works behind NAT): long-polls the real Bot API with ``getUpdates`` and
hands each update, in order, to the bot function's webhook route (``Gateway.deliver_update``). ``webhook`` mode needs
a public HTTPS URL instead, so the runner only prints how to register it."""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

log = logging.getLogger("oncall.local")


class TelegramPoller:
    """``TELEGRAM_MODE=polling``: long-polls the real Bot API and hands each update to ``deliver`` in order."""

    def __init__(
        self,
        api_url: str,
        token: str,
        deliver: Callable[[dict[str, Any]], int],
        *,
        poll_timeout_s: int = 25,
    ) -> None:
        self.base = f"{api_url.rstrip('/')}/bot{token}"
        self.deliver = deliver
        self.poll_timeout_s = poll_timeout_s
        self.offset = 0
        self.delivered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telegram-poller", daemon=True)

    def start(self) -> None:
        # Telegram refuses getUpdates while a webhook is registered.
        self._call("deleteWebhook", {})
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _call(self, method: str, params: dict[str, Any], timeout: float = 10) -> Any:
        req = urllib.request.Request(  # noqa: S310  # the configured Bot API URL
            f"{self.base}/{method}",
            data=json.dumps(params).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return json.loads(resp.read())

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                reply = self._call(
                    "getUpdates",
                    {"offset": self.offset, "timeout": self.poll_timeout_s, "allowed_updates": []},
                    timeout=self.poll_timeout_s + 10,
                )
                backoff = 1.0
            except (OSError, ValueError, urllib.error.URLError) as exc:
                retry_after = _retry_after(exc)
                log.warning("telegram getUpdates failed (%s); retrying in %.0fs", exc, retry_after or backoff)
                self._stop.wait(retry_after or backoff)
                backoff = min(backoff * 2, 30)
                continue
            for update in reply.get("result", []):
                if self._stop.is_set():
                    return
                status = self.deliver(update)
                if status >= 500:
                    log.warning("telegram update %s: the bot answered %s", update.get("update_id"), status)
                self.offset = int(update["update_id"]) + 1
                self.delivered += 1


def _retry_after(exc: BaseException) -> float | None:
    if isinstance(exc, urllib.error.HTTPError) and exc.code == 429:
        try:
            return float(json.loads(exc.read())["parameters"]["retry_after"])
        except (ValueError, KeyError, TypeError):
            return None
    return None
