"""Where the runner's messages go when nothing real is configured: a Telegram Bot API sandbox and a mail outbox.

**Telegram** (``TELEGRAM_MODE=outbox``, the default without a bot token). The runner itself serves the Bot API subset
our bot uses at ``<runner>/_local/telegram/bot<token>/<method>`` and workers get ``TELEGRAM_API_URL`` pointing there,
so the real Telegram adapter runs unchanged. Answers follow the Bot API: ``{"ok": true, "result": ...}``, and its
errors (401 wrong token, 404 unknown method, 400 "message is not modified", 409 ``getUpdates`` while a webhook is
set). What the bot sends is kept in order and logged; ``GET /_local/telegram/outbox`` lists it. A person acts as a
Telegram user with ``POST /_local/telegram/send``: the sandbox builds the Update Telegram would send (a message with
``bot_command`` entities, or a ``callback_query`` on one of the bot's messages) and the runner delivers it to the bot
function's webhook route with the secret-token header, executing a method returned in the webhook response as
Telegram does. One leniency: any chat id is accepted (real Telegram refuses chats that never talked to the bot), so
linked chats keep working across runner restarts.

With a real token: ``polling`` (works behind NAT) runs ``TelegramPoller``, which calls ``getUpdates`` on the real
API and hands each update to the same webhook route; ``webhook`` needs a public HTTPS URL, so the runner only prints
how to register it.

**Mail**: functions send through SES (raw MIME) on the emulator; ``MailOutbox`` lists what the emulator's SES
recorded, parsed into headers and text/HTML parts.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("oncall.local")

MAX_TEXT = 4096

Reply = tuple[int, dict[str, Any]]


def _fail(code: int, description: str, **extra: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if extra:
        body["parameters"] = extra
    return code, body


def _chat_id(value: Any) -> int | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    try:
        return int(text)
    except ValueError:
        return text


def _markup(value: Any) -> Any:
    if isinstance(value, str) and value:
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


class TelegramSandbox:
    """The Bot API subset the bot uses, answered locally and recorded (thread-safe)."""

    def __init__(self, token: str, bot_username: str = "oncall_local_bot") -> None:
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
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._message_ids: dict[int | str, int] = {}
        #: (chat id, message id) -> the bot's message as Telegram returned it
        self._messages: dict[tuple[int | str, int], dict[str, Any]] = {}
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._outbox: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        #: grows on every change, so the runner saves only when something happened
        self.changes = 0

    # -- the Bot API ---------------------------------------------------------------------------------------------

    def call(self, token: str, method: str, params: dict[str, Any]) -> Reply:
        if token != self.token:
            return _fail(401, "Unauthorized")
        handler = getattr(self, "_m_" + method.lower(), None)
        if handler is None:
            return _fail(404, "Not Found")
        reply: Reply = handler(params)
        return reply

    def _m_getme(self, params: dict[str, Any]) -> Reply:
        return 200, {"ok": True, "result": self.bot}

    def _m_sendmessage(self, params: dict[str, Any]) -> Reply:
        chat_id = _chat_id(params.get("chat_id"))
        text = str(params.get("text") or "")
        if chat_id is None:
            return _fail(400, "Bad Request: chat_id is empty")
        if not text.strip():
            return _fail(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return _fail(400, "Bad Request: message is too long")
        with self._lock:
            message_id = self._next_message_id(chat_id)
            message: dict[str, Any] = {
                "message_id": message_id,
                "from": self.bot,
                "chat": self._chat(chat_id),
                "date": int(time.time()),
                "text": text,
            }
            markup = _markup(params.get("reply_markup"))
            if markup:
                message["reply_markup"] = markup
            self._messages[(chat_id, message_id)] = message
            self._record("sendMessage", chat_id, message_id, text, markup, params.get("parse_mode"))
        return 200, {"ok": True, "result": message}

    def _m_editmessagetext(self, params: dict[str, Any]) -> Reply:
        chat_id = _chat_id(params.get("chat_id"))
        text = str(params.get("text") or "")
        try:
            message_id = int(params.get("message_id") or 0)
        except (TypeError, ValueError):
            return _fail(400, "Bad Request: message identifier is not specified")
        if params.get("inline_message_id"):
            return _fail(400, "Bad Request: inline messages are not supported by the local sandbox")
        if chat_id is None:
            return _fail(400, "Bad Request: chat_id is empty")
        if not text.strip():
            return _fail(400, "Bad Request: message text is empty")
        markup = _markup(params.get("reply_markup"))
        with self._lock:
            message = self._messages.get((chat_id, message_id))
            if message is None:
                return _fail(400, "Bad Request: message to edit not found")
            if message["text"] == text and message.get("reply_markup") == markup:
                return _fail(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are "
                    "exactly the same as a current content and reply markup of the message",
                )
            message = {**message, "text": text, "edit_date": int(time.time())}
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            self._messages[(chat_id, message_id)] = message
            self._record("editMessageText", chat_id, message_id, text, markup, params.get("parse_mode"))
        return 200, {"ok": True, "result": message}

    def _m_answercallbackquery(self, params: dict[str, Any]) -> Reply:
        query_id = str(params.get("callback_query_id") or "")
        with self._lock:
            query = self._callbacks.pop(query_id, None)
            if query is None:
                return _fail(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
            chat_id = query["message"]["chat"]["id"]
            self._record(
                "answerCallbackQuery",
                chat_id,
                query["message"]["message_id"],
                str(params.get("text") or ""),
                None,
                None,
                callback_query_id=query_id,
                show_alert=bool(params.get("show_alert")),
            )
        return 200, {"ok": True, "result": True}

    def _m_setwebhook(self, params: dict[str, Any]) -> Reply:
        url = str(params.get("url") or "")
        with self._lock:
            if not url:
                self.webhook = None
                return 200, {"ok": True, "result": True, "description": "Webhook was deleted"}
            if not url.startswith("https://"):
                return _fail(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
            self.webhook = {"url": url, "secret_token": params.get("secret_token")}
        return 200, {"ok": True, "result": True, "description": "Webhook was set"}

    def _m_deletewebhook(self, params: dict[str, Any]) -> Reply:
        with self._lock:
            self.webhook = None
        return 200, {"ok": True, "result": True, "description": "Webhook was deleted"}

    def _m_getwebhookinfo(self, params: dict[str, Any]) -> Reply:
        with self._lock:
            url = self.webhook["url"] if self.webhook else ""
        return 200, {"ok": True, "result": {"url": url, "has_custom_certificate": False, "pending_update_count": 0}}

    def _m_getupdates(self, params: dict[str, Any]) -> Reply:
        with self._lock:
            if self.webhook:
                return _fail(
                    409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete"
                )
        # The runner hands every update straight to the bot's webhook route, so none wait here for polling.
        return 200, {"ok": True, "result": []}

    # -- acting as a Telegram user -------------------------------------------------------------------------------

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
                "chat": {**self._chat(chat_id), "first_name": user.get("first_name", "")},
                "date": int(time.time()),
                "text": body,
            }
            if body.startswith("/"):
                command = body.split()[0]
                message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
            return {"update_id": update_id, "message": message}

    def _find_button_message(self, chat_id: int, data: str, message_id: int | None) -> dict[str, Any]:
        if message_id is not None:
            found = self._messages.get((chat_id, message_id))
            if found is None:
                raise LookupError(f"the bot sent no message {message_id} to chat {chat_id}")
            return found
        for (chat, _), message in sorted(self._messages.items(), key=lambda kv: -kv[0][1]):
            if chat == chat_id and data in _callback_datas(message.get("reply_markup")):
                return message
        raise LookupError(f"no message from the bot in chat {chat_id} has a button with callback_data {data!r}")

    # -- persistence (the runner's data folder) ------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the chats' messages and counters, so after a restart the bot can still edit what it sent and
        message ids keep increasing, as they would in Telegram."""
        with self._lock:
            state = {
                "outbox": self._outbox,
                "messages": [m for _, m in sorted(self._messages.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))],
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
            self._messages = {(m["chat"]["id"], m["message_id"]): m for m in state.get("messages", [])}
            self._message_ids = dict(state.get("message_ids", []))
            self._update_ids = itertools.count(int(state.get("next_update_id", 1)))
            self._seq = itertools.count(self._outbox[-1]["seq"] + 1 if self._outbox else 1)

    # -- reading ---------------------------------------------------------------------------------------------------

    def outbox(self, chat_id: int | str | None = None, after: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._outbox if r["seq"] > after and (chat_id is None or r["chat_id"] == chat_id)]

    def last_seq(self) -> int:
        with self._lock:
            return self._outbox[-1]["seq"] if self._outbox else 0

    # -- internals (lock held) -------------------------------------------------------------------------------------

    def _next_message_id(self, chat_id: int | str) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    @staticmethod
    def _chat(chat_id: int | str) -> dict[str, Any]:
        if isinstance(chat_id, int) and chat_id > 0:
            return {"id": chat_id, "type": "private"}
        return {"id": chat_id, "type": "group"}

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
            **extra,
        }
        self._outbox.append(record)
        self.changes += 1
        buttons = ", ".join(_callback_datas(markup))
        log.info(
            "telegram %s → chat %s #%s: %s%s",
            method,
            chat_id,
            message_id,
            text.replace("\n", " ⏎ "),
            f"  [buttons: {buttons}]" if buttons else "",
        )


def _callback_datas(markup: Any) -> list[str]:
    if not isinstance(markup, dict):
        return []
    return [
        str(button["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for button in row
        if isinstance(button, dict) and "callback_data" in button
    ]


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


class MailOutbox:
    """Mail the functions sent through the emulator's SES (both the v1 and v2 APIs land in one list)."""

    def messages(self) -> list[dict[str, Any]]:
        from moto.ses.models import ses_backends

        out = []
        # Whichever account and region the functions' credentials map to (read in-process: the emulator runs here).
        for account_id in list(ses_backends.keys()):
            for region, backend in list(ses_backends[account_id].items()):
                for sent in list(backend.sent_messages):
                    out.append({**_describe(sent), "account": account_id, "region": region})
        return out


def _describe(sent: Any) -> dict[str, Any]:
    raw = getattr(sent, "raw_data", None)
    if raw is not None:
        # moto keeps the raw mail as text decoded from UTF-8; parsed as text, an 8bit UTF-8 part (any non-ASCII page)
        # would come back as escape sequences, so it is parsed as the bytes it was sent as
        parsed = email.message_from_bytes(raw.encode(), policy=email.policy.default)
        text = html = None
        for part in parsed.walk():
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            if ctype == "text/plain" and text is None:
                text = part.get_content()
            elif ctype == "text/html" and html is None:
                html = part.get_content()
        return {
            "id": sent.id,
            "from": sent.source or parsed.get("From"),
            # moto's SESv2 lists a recipient once per place it appears (header and Destination)
            "to": list(dict.fromkeys(sent.destinations or [])) or [str(a) for a in parsed.get_all("To", [])],
            "subject": parsed.get("Subject"),
            "headers": {k: str(v) for k, v in parsed.items()},
            "text": text,
            "html": html,
        }
    destinations = getattr(sent, "destinations", {}) or {}
    to = destinations.get("ToAddresses", []) if isinstance(destinations, dict) else list(destinations)
    return {
        "id": getattr(sent, "id", None),
        "from": getattr(sent, "source", None),
        "to": to,
        "subject": getattr(sent, "subject", None),
        "headers": {},
        "text": getattr(sent, "body", None),
        "html": None,
    }


def _send_cli(argv: list[str] | None = None) -> int:
    """``make tg``: act as a Telegram user against a running runner and print what the bot answered."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m infra.local.sandbox", description=_send_cli.__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the runner's HTTP address")
    parser.add_argument("--chat", type=int, default=1, help="chat id (= the Telegram user id in a private chat)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="a message, e.g. /help or '/start <code>'")
    what.add_argument("--callback-data", help="press the inline button carrying this callback_data")
    parser.add_argument("--message-id", type=int, help="the bot message whose button is pressed (default: latest)")
    args = parser.parse_args(argv)

    body: dict[str, Any] = {"chat_id": args.chat}
    if args.text is not None:
        body["text"] = args.text
    else:
        body["callback_data"] = args.callback_data
    if args.message_id is not None:
        body["message_id"] = args.message_id
    req = urllib.request.Request(  # noqa: S310  # the local runner's address
        f"{args.url.rstrip('/')}/_local/telegram/send",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
            result = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        print(f"{exc.code}: {exc.read().decode(errors='replace')}")
        return 1
    except urllib.error.URLError as exc:
        print(f"cannot reach the runner at {args.url} ({exc.reason}); is `make run` running?")
        return 1
    print(f"you → chat {args.chat}: {args.text if args.text is not None else f'[pressed {args.callback_data}]'}")
    if result["webhook_status"] != 200:
        print(f"the bot's webhook answered {result['webhook_status']}: {result.get('webhook_response')}")
    for reply in result["replies"]:
        buttons = ", ".join(_callback_datas(reply.get("reply_markup")))
        print(f"bot {reply['method']} #{reply['message_id']}: {reply['text']}" + (f"  [{buttons}]" if buttons else ""))
    if not result["replies"]:
        print("(the bot sent nothing back)")
    return 0


if __name__ == "__main__":
    raise SystemExit(_send_cli())
