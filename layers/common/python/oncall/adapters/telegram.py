"""Telegram Bot API client (the subset the product uses) and the Telegram notification channel.

``TelegramClient`` speaks JSON over HTTPS to ``<TELEGRAM_API_URL>/bot<token>/<method>`` with the standard library
(no extra dependency in the layer):

- 429 ``Too Many Requests``: waits ``parameters.retry_after`` when it is short (≤ ``max_retry_after_s``) and tries
  again; a longer one raises ``TelegramRateLimited`` so the caller reschedules instead of holding a Lambda.
- 5xx and network errors: retried with exponential backoff (``retries`` times), then ``TelegramUnavailable``.
- 400 "message is not modified" (an edit to the same text, e.g. a second press of Acknowledge): success.
- 403 (the person blocked the bot, or never pressed Start): ``TelegramBlocked``, permanent for that chat.
- other 4xx: ``TelegramBadRequest``.

The token is part of every URL, so nothing here logs a URL or lets one reach an exception message: errors carry the
method name and Telegram's description only.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oncall.domain.notifications import Button, Message, telegram_ref
from oncall.domain.page_content import telegram_html
from oncall.observability import log
from oncall.services.notify import ChannelBlocked, ChannelFailed, ChannelRateLimited

DEFAULT_API_URL = "https://api.telegram.org"
NOT_MODIFIED = "message is not modified"


class TelegramError(Exception):
    def __init__(self, method: str, code: int, description: str, retry_after: float | None = None) -> None:
        super().__init__(f"telegram {method}: {code} {description}")
        self.method = method
        self.code = code
        self.description = description
        self.retry_after = retry_after


class TelegramBlocked(TelegramError):
    """403: the bot may not message this chat (blocked by the user, or the user never started the bot)."""


class TelegramRateLimited(TelegramError):
    """429 with a ``retry_after`` longer than the client is willing to wait in-process."""


class TelegramUnavailable(TelegramError):
    """5xx or network failure after the retries."""


class TelegramBadRequest(TelegramError):
    """Any other 4xx: our request was wrong (unknown chat, message to edit not found, ...)."""


def keyboard(buttons: tuple[tuple[Button, ...], ...]) -> dict[str, Any] | None:
    if not buttons:
        return None
    return {"inline_keyboard": [[{"text": b.text, "callback_data": b.callback_data} for b in row] for row in buttons]}


@dataclass
class TelegramClient:
    token: str
    api_url: str = DEFAULT_API_URL
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 0.2
    max_retry_after_s: float = 2.0
    #: a call's whole budget, retries included: a page that Telegram cannot take goes to the next channel in
    #: seconds, however Telegram fails (refused, 5xx, or hanging until each request times out)
    deadline_s: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self.api_url = (self.api_url or DEFAULT_API_URL).rstrip("/")
        if not self.api_url.startswith(("https://", "http://")):
            raise ValueError("TELEGRAM_API_URL must be an http(s) URL")

    def __repr__(self) -> str:  # the dataclass repr would print the token
        return f"TelegramClient(api_url={self.api_url!r})"

    # -- methods ---------------------------------------------------------------------------------------------------

    def get_me(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("getMe", {})
        return result

    def send_message(
        self,
        chat_id: int | str,
        text: str,
        buttons: tuple[tuple[Button, ...], ...] = (),
        parse_mode: str | None = None,
    ) -> dict[str, Any]:
        """``parse_mode="HTML"``: ``text`` is Telegram HTML, and everything in it that is not markup must be
        escaped (Telegram refuses the message otherwise)."""
        params: dict[str, Any] = {"chat_id": chat_id, "text": text, "disable_web_page_preview": True}
        if parse_mode:
            params["parse_mode"] = parse_mode
        markup = keyboard(buttons)
        if markup:
            params["reply_markup"] = markup
        result: dict[str, Any] = self.call("sendMessage", params)
        return result

    def edit_message_text(
        self,
        chat_id: int | str,
        message_id: int,
        text: str,
        buttons: tuple[tuple[Button, ...], ...] = (),
        parse_mode: str | None = None,
    ) -> None:
        params: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id, "text": text}
        if parse_mode:
            params["parse_mode"] = parse_mode
        # an empty keyboard removes the buttons (Telegram keeps the old ones when reply_markup is left out)
        params["reply_markup"] = keyboard(buttons) or {"inline_keyboard": []}
        self.call("editMessageText", params)

    def answer_callback_query(self, callback_query_id: str, text: str = "", show_alert: bool = False) -> None:
        params: dict[str, Any] = {"callback_query_id": callback_query_id}
        if text:
            params["text"] = text[:200]
        if show_alert:
            params["show_alert"] = True
        self.call("answerCallbackQuery", params)

    def set_webhook(
        self, url: str, secret_token: str, allowed_updates: Sequence[str] = ("message", "callback_query")
    ) -> None:
        self.call(
            "setWebhook",
            {"url": url, "secret_token": secret_token, "allowed_updates": list(allowed_updates), "max_connections": 40},
        )

    def get_updates(self, offset: int = 0, timeout: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("getUpdates", {"offset": offset, "timeout": timeout})
        return result

    # -- transport -------------------------------------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any]) -> Any:
        body = json.dumps(params).encode()
        attempt = 0
        deadline = self.monotonic() + self.deadline_s

        def out_of_time(pause: float) -> bool:
            return self.monotonic() + pause >= deadline

        while True:
            attempt += 1
            try:
                status, reply = self._post(method, body, max(0.5, min(self.timeout_s, deadline - self.monotonic())))
            except OSError as exc:  # connection refused/reset, timeout (URLError is an OSError)
                pause = self.backoff_s * 2 ** (attempt - 1)
                if attempt > self.retries or out_of_time(pause):
                    raise TelegramUnavailable(method, 0, f"network error: {_reason(exc)}") from None
                self.sleep(pause)
                continue
            if reply.get("ok") is True:
                return reply.get("result")
            description = str(reply.get("description") or f"HTTP {status}")
            code = int(reply.get("error_code") or status)
            params_obj: dict[str, Any] = reply["parameters"] if isinstance(reply.get("parameters"), dict) else {}
            if code == 429:
                retry_after = float(params_obj.get("retry_after") or 1)
                if retry_after > self.max_retry_after_s or attempt > self.retries:
                    raise TelegramRateLimited(method, code, description, retry_after)
                log.warning("telegram %s: 429, waiting %.1fs as asked", method, retry_after)
                self.sleep(retry_after)
                continue
            if code >= 500 or status >= 500:
                pause = self.backoff_s * 2 ** (attempt - 1)
                if attempt > self.retries or out_of_time(pause):
                    raise TelegramUnavailable(method, code, description)
                self.sleep(pause)
                continue
            if code == 400 and NOT_MODIFIED in description:
                return True
            if code == 403:
                raise TelegramBlocked(method, code, description)
            raise TelegramBadRequest(method, code, description)

    def _post(self, method: str, body: bytes, timeout: float) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(  # noqa: S310  # scheme checked in __post_init__
            f"{self.api_url}/bot{self.token}/{method}",
            data=body,
            headers={"content-type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, _json(exc.read())


def _reason(exc: OSError) -> str:
    """``ConnectionRefusedError``, ``timeout``: what a person reading the timeline needs, never the URL (it holds the
    token)."""
    inner = getattr(exc, "reason", None)
    return type(inner).__name__ if isinstance(inner, BaseException) else type(exc).__name__


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


class TelegramChannel:
    """The notification service's Telegram channel: addresses are chat ids."""

    name = "telegram"

    def __init__(self, client: TelegramClient, per_chat_per_s: int = 1, per_bot_per_s: int = 30) -> None:
        self.client = client
        self.per_chat = per_chat_per_s
        self.per_bot = per_bot_per_s

    def limits(self, address: str) -> Sequence[tuple[str, int]]:
        # bot first: when the bot-wide window is full we should not burn the chat's single slot
        return (("tg:bot", self.per_bot), (f"tg:chat:{address}", self.per_chat))

    def send(self, address: str, message: Message) -> str:
        # a page is formatted (bold facts, links); anything else, and a page without content, goes as plain text
        text, parse_mode = message.text, None
        if message.content is not None:
            text, parse_mode = telegram_html(message.content), "HTML"
        try:
            result = self.client.send_message(address, text, message.buttons, parse_mode)
        except TelegramBlocked as exc:
            raise ChannelBlocked(exc.description) from None
        except TelegramRateLimited as exc:
            raise ChannelRateLimited(exc.retry_after or 1.0) from None
        except TelegramUnavailable as exc:
            raise ChannelFailed(str(exc)) from None
        except TelegramBadRequest as exc:
            # "chat not found" means this address will never work: treat as permanent for the person
            if "chat not found" in exc.description.lower():
                raise ChannelBlocked(exc.description) from None
            raise ChannelFailed(str(exc)) from None
        return telegram_ref(address, int(result.get("message_id") or 0))

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...]) -> None:
        _, chat_id, message_id = ref.split(":", 2)
        try:
            self.client.edit_message_text(chat_id, int(message_id), text, buttons)
        except TelegramBlocked as exc:
            raise ChannelBlocked(exc.description) from None
        except TelegramRateLimited as exc:
            raise ChannelRateLimited(exc.retry_after or 1.0) from None
        except (TelegramUnavailable, TelegramBadRequest) as exc:
            raise ChannelFailed(str(exc)) from None
