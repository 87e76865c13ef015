"""What Telegram holds for the sandbox's bot: the chats' messages, the button presses waiting for an answer, and the
outbox, the ordered log of what the bot did (what ``GET /_local/telegram/outbox`` lists and the runner's log shows).

Message ids grow per chat and are shared by the bot's messages and the user's, as in Telegram; a message is kept as
Telegram returned it, so an edit compares with what is shown ("message is not modified") and a button press finds
the message carrying the button. The chats are saved in the runner's data folder, so after a restart the bot can
still edit what it sent and ids keep growing. Thread-safe: every change happens under one lock.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

from infra.local.telegram.botapi import callback_datas

log = logging.getLogger("oncall.local")


class MessageNotFound(LookupError):
    pass


class NotModified(ValueError):
    pass


class Chats:
    def __init__(self, bot: dict[str, Any]) -> None:
        self.bot = bot
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._message_ids: dict[int | str, int] = {}
        #: (str(chat id), message id) → the message as Telegram returned it
        self._messages: dict[tuple[str, int], dict[str, Any]] = {}
        #: callback query id → the query, until the bot answers it
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._outbox: list[dict[str, Any]] = []
        #: grows on every change, so the runner saves only when something happened
        self.changes = 0

    # -- the bot acting ----------------------------------------------------------------------------------------------

    def post(self, chat_id: int | str, text: str, markup: Any, parse_mode: Any) -> dict[str, Any]:
        with self._lock:
            message_id = self._next_message_id(chat_id)
            message: dict[str, Any] = {
                "message_id": message_id,
                "from": self.bot,
                "chat": _chat(chat_id),
                "date": int(time.time()),
                "text": text,
            }
            if markup:
                message["reply_markup"] = markup
            self._messages[(str(chat_id), message_id)] = message
            self._record("sendMessage", chat_id, message_id, text, markup, parse_mode)
        return message

    def edit(self, chat_id: int | str, message_id: int, text: str, markup: Any, parse_mode: Any) -> dict[str, Any]:
        """Raises ``MessageNotFound``, or ``NotModified`` when text and markup are what the message already shows."""
        with self._lock:
            message = self._messages.get((str(chat_id), message_id))
            if message is None:
                raise MessageNotFound(message_id)
            if message["text"] == text and message.get("reply_markup") == markup:
                raise NotModified(message_id)
            message = {**message, "text": text, "edit_date": int(time.time())}
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            self._messages[(str(chat_id), message_id)] = message
            self._record("editMessageText", chat_id, message_id, text, markup, parse_mode)
        return message

    def answer(self, query_id: str, text: str, show_alert: bool) -> bool:
        """Answer a button press this sandbox delivered; False when it delivered none with that id (or it was
        answered already)."""
        with self._lock:
            query = self._callbacks.pop(query_id, None)
            if query is None:
                return False
            self._record(
                "answerCallbackQuery",
                query["message"]["chat"]["id"],
                query["message"]["message_id"],
                text,
                None,
                None,
                callback_query_id=query_id,
                show_alert=show_alert,
            )
        return True

    # -- a person acting -------------------------------------------------------------------------------------------

    def user_update(
        self,
        chat_id: int,
        *,
        text: str | None = None,
        callback_data: str | None = None,
        message_id: int | None = None,
        sender: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The Update Telegram would deliver when user ``chat_id`` (a private chat) sends ``text`` or presses the
        inline button carrying ``callback_data`` (on ``message_id``, default the bot's latest message offering it).
        Raises ``LookupError`` when there is no such bot message."""
        user = {"id": chat_id, "is_bot": False, "first_name": "Local", "last_name": "User", "language_code": "en"}
        user.update(sender or {})
        with self._lock:
            self.changes += 1
            update_id = next(self._update_ids)
            if callback_data is not None:
                message = self._find_button_message(chat_id, callback_data, message_id)
                query_id = f"{self.bot['id']}{next(self._callback_ids):08d}"
                query = {
                    "id": query_id,
                    "from": user,
                    "message": message,
                    "chat_instance": str(-abs(hash((chat_id, self.bot["id"])))),
                    "data": callback_data,
                }
                self._callbacks[query_id] = query
                return {"update_id": update_id, "callback_query": query}
            body = text or ""
            message = {
                "message_id": self._next_message_id(chat_id),
                "from": user,
                "chat": {**_chat(chat_id), "first_name": user.get("first_name", "")},
                "date": int(time.time()),
                "text": body,
            }
            if body.startswith("/"):
                command = body.split()[0]
                message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
            return {"update_id": update_id, "message": message}

    def _find_button_message(self, chat_id: int, data: str, message_id: int | None) -> dict[str, Any]:
        if message_id is not None:
            found = self._messages.get((str(chat_id), message_id))
            if found is None:
                raise LookupError(f"the bot sent no message {message_id} to chat {chat_id}")
            return found
        for (chat, _), message in sorted(self._messages.items(), key=lambda kv: -kv[0][1]):
            if chat == str(chat_id) and data in callback_datas(message.get("reply_markup")):
                return message
        raise LookupError(f"no message from the bot in chat {chat_id} has a button with callback_data {data!r}")

    # -- reading ---------------------------------------------------------------------------------------------------

    def messages(self) -> dict[tuple[str, int], dict[str, Any]]:
        with self._lock:
            return dict(self._messages)

    def outbox(self, chat_id: int | str | None = None, after: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._outbox if r["seq"] > after and (chat_id is None or r["chat_id"] == chat_id)]

    def last_seq(self) -> int:
        with self._lock:
            return self._outbox[-1]["seq"] if self._outbox else 0

    # -- persistence (the runner's data folder) ------------------------------------------------------------------

    def save(self, path: Path) -> None:
        with self._lock:
            state = {
                "outbox": self._outbox,
                "messages": [m for _, m in sorted(self._messages.items(), key=lambda kv: kv[0])],
                "message_ids": [[chat, n] for chat, n in self._message_ids.items()],
                "next_update_id": next(self._update_ids),
            }
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(path)

    def load(self, path: Path) -> None:
        if not path.is_file():
            return
        state = json.loads(path.read_text())
        with self._lock:
            self._outbox = list(state.get("outbox", []))
            self._messages = {(str(m["chat"]["id"]), m["message_id"]): m for m in state.get("messages", [])}
            self._message_ids = dict(state.get("message_ids", []))
            self._update_ids = itertools.count(int(state.get("next_update_id", 1)))
            self._seq = itertools.count(self._outbox[-1]["seq"] + 1 if self._outbox else 1)

    # -- internals (lock held) -------------------------------------------------------------------------------------

    def _next_message_id(self, chat_id: int | str) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _record(
        self,
        method: str,
        chat_id: int | str,
        message_id: int,
        text: str,
        markup: Any,
        parse_mode: Any,
        **extra: Any,
    ) -> None:
        record = {
            "seq": next(self._seq),
            "method": method,
            "chat_id": chat_id,
            "message_id": message_id,
            "text": text,
            "parse_mode": parse_mode,
            "reply_markup": markup,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            # the wall clock to the microsecond: bench/latency.py measures alert → page with it
            "at_epoch": time.time(),
            **extra,
        }
        self._outbox.append(record)
        self.changes += 1
        buttons = ", ".join(callback_datas(markup))
        log.info(
            "telegram %s → chat %s #%s: %s%s",
            method,
            chat_id,
            message_id,
            text.replace("\n", " ⏎ "),
            f"  [buttons: {buttons}]" if buttons else "",
        )


def _chat(chat_id: int | str) -> dict[str, Any]:
    if isinstance(chat_id, int) and chat_id > 0:
        return {"id": chat_id, "type": "private"}
    return {"id": chat_id, "type": "group"}
