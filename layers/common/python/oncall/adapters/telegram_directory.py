"""The bot's username for ``https://t.me/<bot>?start=<code>`` deep links: configured, or asked from ``getMe`` when
the token is given inline (local runs; deployed, the username is configured and the token stays in its secret)."""

from __future__ import annotations

import json
import threading
import urllib.request

from oncall.observability import log as logger
from oncall.settings import TelegramSettings


class TelegramBotDirectory:
    def __init__(self, settings: TelegramSettings, timeout: float = 3.0) -> None:
        self._configured = settings.bot_username
        self._token = settings.bot_token_ref.inline
        self._api_url = settings.api_url
        self._timeout = timeout
        self._asked: str | None = None
        self._lock = threading.Lock()

    def bot_username(self) -> str | None:
        if self._configured:
            return self._configured.lstrip("@")
        if not self._token:
            return None
        with self._lock:
            if self._asked is None:
                self._asked = self._get_me()
            return self._asked

    def _get_me(self) -> str | None:
        url = f"{self._api_url}/bot{self._token}/getMe"
        if not url.startswith(("https://", "http://")):
            return None
        try:
            with urllib.request.urlopen(url, timeout=self._timeout) as response:  # noqa: S310 (scheme checked above)
                body = json.loads(response.read())
        except (OSError, ValueError):
            # no deep link this time (the code still works typed as /start <code>); ask again on the next call
            logger.warning("telegram getMe failed; deep link omitted")
            return None
        result = body.get("result") if isinstance(body, dict) else None
        username = result.get("username") if isinstance(result, dict) else None
        return username if isinstance(username, str) and username else None
