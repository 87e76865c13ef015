"""The one fake Telegram Bot API: the runner's sandbox, and every test's Telegram.

It answers the Bot API subset the product uses the way Telegram does: ``{"ok": true, "result": ...}``, and Telegram's
errors (401 wrong token, 404 unknown method, 400 empty chat or text, "message is not modified", "message to edit not
found", an invalid callback query, HTML that Telegram's parse mode refuses (``html``), 409 ``getUpdates`` while a
webhook is set). The chats behind it (``chats.Chats``) keep what the bot sent, so edits and button presses behave.

Served by the runner at ``<runner>/_local/telegram/bot<token>/<method>`` (``TELEGRAM_MODE=outbox``; see ``control``)
or on a port of its own (``server.BotApiServer``, which the functional and e2e tests use as Telegram). Either way:

- every call is recorded in order with its parameters and status (``calls``, ``of(method)``, ``methods()``,
  ``sent(chat)``), failed ones included;
- it can be told to fail like Telegram does: ``fail(method, 429, retry_after=1)``, ``fail(method, 502, times=2)``
  (planned failures are used up in order; ``clear_failures()`` forgets the rest), ``block(chat)`` (403 "bot was
  blocked by the user" for that chat's messages from then on);
- ``updates`` is what ``getUpdates`` serves (a short long-poll, with offsets confirming), for the polling mode.

One leniency, in the runner: any chat id is accepted (real Telegram refuses chats that never talked to the bot), so
linked chats keep working across runner restarts. With ``accept_unseen_queries``, a callback query id the sandbox
never delivered may be answered too: tests build their own updates and hand them to the bot directly.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.local.telegram.botapi import Reply, chat_id, error, markup, ok
from infra.local.telegram.chats import Chats, MessageNotFound, NotModified
from infra.local.telegram.html import MAX_TEXT, html_error

#: what a planned failure says when the test gives no description, in Telegram's words
_FAILURES = {
    429: "Too Many Requests: retry after",
    403: "Forbidden",
    502: "Bad Gateway",
    500: "Internal Server Error",
}
#: the longest getUpdates waits for an update, whatever timeout it asks for: keeps tests and shutdowns quick
LONG_POLL_CAP_S = 0.5


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    #: ``time.monotonic()`` when it was answered
    at: float


class TelegramSandbox:
    def __init__(
        self, token: str, bot_username: str = "oncall_local_bot", *, accept_unseen_queries: bool = False
    ) -> None:
        self.token = token
        bot_id = token.split(":", 1)[0]
        self.bot: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 1,
            "is_bot": True,
            "first_name": "OnCall Hub (local)",
            "username": bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.accept_unseen_queries = accept_unseen_queries
        self.chats = Chats(self.bot)
        self.webhook: dict[str, Any] | None = None
        #: what getUpdates serves, oldest first
        self.updates: list[dict[str, Any]] = []
        #: str(chat id) of the chats whose user blocked the bot
        self.blocked: set[str] = set()
        self.calls: list[Call] = []
        self._failures: list[tuple[str, int, str, float | None]] = []
        self._lock = threading.Lock()

    # -- the Bot API ---------------------------------------------------------------------------------------------

    def call(self, token: str, method: str, params: dict[str, Any]) -> Reply:
        if token != self.token:
            return self._recorded(method, params, error(401, "Unauthorized"))
        with self._lock:
            failure = next((f for f in self._failures if f[0] == method), None)
            if failure is not None:
                self._failures.remove(failure)
        if failure is not None:
            _, status, description, retry_after = failure
            extra = {"retry_after": retry_after} if retry_after is not None else {}
            return self._recorded(method, params, error(status, description, **extra))
        handler = getattr(self, "_m_" + method.lower(), None)
        if handler is None:
            return self._recorded(method, params, error(404, "Not Found"))
        reply: Reply = handler(params)
        return self._recorded(method, params, reply)

    def _m_getme(self, params: dict[str, Any]) -> Reply:
        return ok(self.bot)

    def _m_sendmessage(self, params: dict[str, Any]) -> Reply:
        chat = chat_id(params.get("chat_id"))
        text = str(params.get("text") or "")
        if chat is None:
            return error(400, "Bad Request: chat_id is empty")
        if not text.strip():
            return error(400, "Bad Request: message text is empty")
        if str(chat) in self.blocked:
            return error(403, "Forbidden: bot was blocked by the user")
        if refused := _text_error(text, params.get("parse_mode")):
            return error(400, f"Bad Request: {refused}")
        return ok(self.chats.post(chat, text, markup(params.get("reply_markup")), params.get("parse_mode")))

    def _m_editmessagetext(self, params: dict[str, Any]) -> Reply:
        chat = chat_id(params.get("chat_id"))
        text = str(params.get("text") or "")
        try:
            message_id = int(params.get("message_id") or 0)
        except (TypeError, ValueError):
            return error(400, "Bad Request: message identifier is not specified")
        if params.get("inline_message_id"):
            return error(400, "Bad Request: inline messages are not supported by the local sandbox")
        if chat is None:
            return error(400, "Bad Request: chat_id is empty")
        if not text.strip():
            return error(400, "Bad Request: message text is empty")
        if refused := _text_error(text, params.get("parse_mode")):
            return error(400, f"Bad Request: {refused}")
        try:
            edited = self.chats.edit(
                chat, message_id, text, markup(params.get("reply_markup")), params.get("parse_mode")
            )
        except MessageNotFound:
            return error(400, "Bad Request: message to edit not found")
        except NotModified:
            return error(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message",
            )
        return ok(edited)

    def _m_answercallbackquery(self, params: dict[str, Any]) -> Reply:
        query_id = str(params.get("callback_query_id") or "")
        answered = self.chats.answer(query_id, str(params.get("text") or ""), bool(params.get("show_alert")))
        if not answered and not (query_id and self.accept_unseen_queries):
            return error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return ok(True)

    def _m_setwebhook(self, params: dict[str, Any]) -> Reply:
        url = str(params.get("url") or "")
        if not url:
            return self._m_deletewebhook(params)
        if not url.startswith("https://"):
            return error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        with self._lock:
            self.webhook = {
                "url": url,
                "secret_token": params.get("secret_token"),
                "allowed_updates": params.get("allowed_updates"),
            }
        return ok(True, description="Webhook was set")

    def _m_deletewebhook(self, params: dict[str, Any]) -> Reply:
        with self._lock:
            self.webhook = None
        return ok(True, description="Webhook was deleted")

    def _m_getwebhookinfo(self, params: dict[str, Any]) -> Reply:
        with self._lock:
            url = self.webhook["url"] if self.webhook else ""
            pending = len(self.updates)
        return ok({"url": url, "has_custom_certificate": False, "pending_update_count": pending})

    def _m_getupdates(self, params: dict[str, Any]) -> Reply:
        # In the runner every update goes straight to the bot's webhook route, so none wait here; tests that stand
        # in for Telegram in polling mode put theirs in ``updates``.
        try:
            wait = min(float(params.get("timeout") or 0), LONG_POLL_CAP_S)
            offset = int(params.get("offset") or 0)
        except (TypeError, ValueError):
            return error(400, "Bad Request: wrong parameter")
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                if self.webhook:
                    return error(
                        409,
                        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete",
                    )
                self.updates[:] = [u for u in self.updates if u["update_id"] >= offset]
                if self.updates or time.monotonic() >= deadline:
                    return ok(list(self.updates))
            time.sleep(0.02)

    # -- steering (tests) ----------------------------------------------------------------------------------------

    def fail(
        self, method: str, status: int, description: str = "", *, retry_after: float | None = None, times: int = 1
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``status`` (after the token check, before anything else)."""
        with self._lock:
            for _ in range(times):
                self._failures.append((method, status, description or _FAILURES.get(status, "Error"), retry_after))

    def clear_failures(self) -> None:
        """Forget failures still planned by ``fail`` (a test that made Telegram "down" leaves it healthy)."""
        with self._lock:
            self._failures.clear()

    def block(self, chat: int | str) -> None:
        with self._lock:
            self.blocked.add(str(chat))

    # -- reading -------------------------------------------------------------------------------------------------

    def sent(self, chat: int | str | None = None) -> list[dict[str, Any]]:
        """The parameters of successful sendMessage calls (optionally to one chat), in order."""
        return [
            c.params
            for c in self.of("sendMessage")
            if c.status == 200 and (chat is None or str(c.params.get("chat_id")) == str(chat))
        ]

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        with self._lock:
            return [c.method for c in self.calls]

    @property
    def messages(self) -> dict[tuple[str, int], dict[str, Any]]:
        """The chats' messages as Telegram shows them now, by (str(chat id), message id)."""
        return self.chats.messages()

    # -- the runner's side: people acting, the outbox, persistence ------------------------------------------------

    def user_update(
        self,
        chat: int,
        *,
        text: str | None = None,
        callback_data: str | None = None,
        message_id: int | None = None,
        sender: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """See ``Chats.user_update``."""
        return self.chats.user_update(
            chat, text=text, callback_data=callback_data, message_id=message_id, sender=sender
        )

    def outbox(self, chat: int | str | None = None, after: int = 0) -> list[dict[str, Any]]:
        return self.chats.outbox(chat, after)

    def last_seq(self) -> int:
        return self.chats.last_seq()

    @property
    def changes(self) -> int:
        return self.chats.changes

    def save(self, path: Path) -> None:
        """Write the chats' messages and counters, so after a restart the bot can still edit what it sent and
        message ids keep increasing, as they would in Telegram."""
        self.chats.save(path)

    def load(self, path: Path) -> None:
        self.chats.load(path)

    def _recorded(self, method: str, params: dict[str, Any], reply: Reply) -> Reply:
        with self._lock:
            self.calls.append(Call(method, params, reply[0], time.monotonic()))
        return reply


def _text_error(text: str, parse_mode: Any) -> str | None:
    if parse_mode == "HTML":
        return html_error(text)
    return "message is too long" if len(text) > MAX_TEXT else None
