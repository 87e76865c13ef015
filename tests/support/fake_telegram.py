"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 speaking the subset the product uses.

It answers like Telegram (``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description",
"parameters"}``), keeps the messages it was asked to send (so edits and "message is not modified" behave), records
every call in order, and can be told to fail: ``fail(method, 429, retry_after=1)``, ``fail(method, 502, times=2)``,
``block(chat_id)`` (403 "bot was blocked by the user" for that chat from then on). Text sent with
``parse_mode: "HTML"`` is checked as Telegram checks it (only its tags, balanced, every ``<``, ``>`` and ``&`` that is
not markup escaped, at most 4,096 characters once parsed) and refused with Telegram's 400 otherwise.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TOKEN = "123456:AAF-fake-test-token_0123456789abcdefghi"


#: the tags Telegram's HTML parse mode knows; anything else is "Unsupported start tag"
TELEGRAM_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre"}
    | {"blockquote", "tg-emoji"}
)


class _TelegramHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.open: list[str] = []
        self.error: str | None = None
        self.units = 0

    def _fail(self, why: str) -> None:
        self.error = self.error or why

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TELEGRAM_TAGS:
            self._fail(f'Unsupported start tag "{tag}"')
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self._fail(f'Can\'t find end tag corresponding to start tag "{tag}"')
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if any(c in data for c in "<>&"):
            self._fail("Can't find end of the entity")
        self.units += len(data.encode("utf-16-le")) // 2

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            self._fail(f'Unsupported HTML entity "&{name};"')
        self.units += 1

    def handle_charref(self, name: str) -> None:
        self.units += 1


def html_error(text: str) -> str | None:
    """Why Telegram would refuse ``text`` in HTML parse mode, or None."""
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.error is None and parser.open:
        parser.error = f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"'
    if parser.error is None and parser.units > 4096:
        return "message is too long"
    return f"can't parse entities: {parser.error}" if parser.error else None


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float


class FakeTelegram:
    def __init__(self, token: str = TOKEN, username: str = "oncall_test_bot") -> None:
        self.token = token
        self.username = username
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, int], dict[str, Any]] = {}
        self.blocked: set[str] = set()
        self.webhook: dict[str, Any] | None = None
        self.updates: list[dict[str, Any]] = []
        self._failures: list[tuple[str, int, str, float | None]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                params: dict[str, Any] = {}
                if raw:
                    try:
                        params = json.loads(raw)
                    except ValueError:
                        params = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
                path = self.path.split("?", 1)[0]
                token, _, method = path.removeprefix("/bot").partition("/")
                status, body = fake.answer(token, method, params)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = _serve
            do_GET = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- steering --------------------------------------------------------------------------------------------------

    def fail(
        self, method: str, status: int, description: str = "", *, retry_after: float | None = None, times: int = 1
    ) -> None:
        default = {
            429: "Too Many Requests: retry after",
            403: "Forbidden",
            502: "Bad Gateway",
            500: "Internal Server Error",
        }
        with self._lock:
            for _ in range(times):
                self._failures.append((method, status, description or default.get(status, "Error"), retry_after))

    def clear_failures(self) -> None:
        """Forget failures still planned by ``fail`` (a test that made Telegram "down" leaves it healthy)."""
        with self._lock:
            self._failures.clear()

    def block(self, chat_id: int | str) -> None:
        with self._lock:
            self.blocked.add(str(chat_id))

    # -- reading ---------------------------------------------------------------------------------------------------

    def sent(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Successful sendMessage calls (optionally to one chat), in order."""
        with self._lock:
            return [
                c.params
                for c in self.calls
                if c.method == "sendMessage"
                and c.status == 200
                and (chat_id is None or str(c.params.get("chat_id")) == str(chat_id))
            ]

    def methods(self) -> list[str]:
        with self._lock:
            return [c.method for c in self.calls]

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    # -- the API ---------------------------------------------------------------------------------------------------

    def answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if token != self.token:
            return self._record(method, params, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        with self._lock:
            failure = next((f for f in self._failures if f[0] == method), None)
            if failure is not None:
                self._failures.remove(failure)
        if failure is not None:
            _, status, description, retry_after = failure
            body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
            if retry_after is not None:
                body["parameters"] = {"retry_after": retry_after}
            return self._record(method, params, status, body)
        handler = getattr(self, "_m_" + method.lower(), None)
        if handler is None:
            return self._record(method, params, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
        status, result = handler(params)
        return self._record(method, params, status, result)

    def _record(
        self, method: str, params: dict[str, Any], status: int, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append(Call(method, params, status, time.monotonic()))
        return status, body

    @staticmethod
    def _err(code: int, description: str) -> tuple[int, dict[str, Any]]:
        return code, {"ok": False, "error_code": code, "description": description}

    def _m_getme(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        return 200, {
            "ok": True,
            "result": {
                "id": int(self.token.split(":")[0]),
                "is_bot": True,
                "first_name": "OnCall",
                "username": self.username,
            },
        }

    def _m_sendmessage(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat = str(params.get("chat_id") or "")
        text = str(params.get("text") or "")
        if not chat:
            return self._err(400, "Bad Request: chat_id is empty")
        if not text.strip():
            return self._err(400, "Bad Request: message text is empty")
        if chat in self.blocked:
            return self._err(403, "Forbidden: bot was blocked by the user")
        if params.get("parse_mode") == "HTML" and (error := html_error(text)):
            return self._err(400, f"Bad Request: {error}")
        with self._lock:
            message_id = next(self._ids)
            message = {
                "message_id": message_id,
                "chat": {"id": int(chat), "type": "private"},
                "date": int(time.time()),
                "text": text,
            }
            if params.get("reply_markup"):
                message["reply_markup"] = params["reply_markup"]
            self.messages[(chat, message_id)] = message
        return 200, {"ok": True, "result": message}

    def _m_editmessagetext(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat = str(params.get("chat_id") or "")
        key = (chat, int(params.get("message_id") or 0))
        if params.get("parse_mode") == "HTML" and (error := html_error(str(params.get("text") or ""))):
            return self._err(400, f"Bad Request: {error}")
        with self._lock:
            message = self.messages.get(key)
            if message is None:
                return self._err(400, "Bad Request: message to edit not found")
            markup = params.get("reply_markup") or None
            if markup == {"inline_keyboard": []}:
                markup = None
            if message["text"] == params.get("text") and message.get("reply_markup") == markup:
                return self._err(
                    400,
                    "Bad Request: message is not modified: specified new message content and reply markup are "
                    "exactly the same",
                )
            message = {**message, "text": params.get("text")}
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            self.messages[key] = message
        return 200, {"ok": True, "result": message}

    def _m_answercallbackquery(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not params.get("callback_query_id"):
            return self._err(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return 200, {"ok": True, "result": True}

    def _m_setwebhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            return self._err(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        with self._lock:
            self.webhook = (
                {
                    "url": url,
                    "secret_token": params.get("secret_token"),
                    "allowed_updates": params.get("allowed_updates"),
                }
                if url
                else None
            )
        return 200, {"ok": True, "result": True, "description": "Webhook was set"}

    def _m_deletewebhook(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.webhook = None
        return 200, {"ok": True, "result": True}

    def _m_getwebhookinfo(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            url = self.webhook["url"] if self.webhook else ""
        return 200, {"ok": True, "result": {"url": url, "pending_update_count": len(self.updates)}}

    def _m_getupdates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        # a short long-poll: wait up to half a second (or the asked timeout) for an update
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.5)
        while True:
            with self._lock:
                if self.webhook:
                    return self._err(409, "Conflict: can't use getUpdates method while webhook is active")
                offset = int(params.get("offset") or 0)
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if self.updates or time.monotonic() >= deadline:
                    return 200, {"ok": True, "result": list(self.updates)}
            time.sleep(0.02)


@contextmanager
def fake_telegram(token: str = TOKEN) -> Iterator[FakeTelegram]:
    fake = FakeTelegram(token)
    try:
        yield fake
    finally:
        fake.close()
