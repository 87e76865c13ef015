"""The Bot API's wire format, as the sandbox speaks it wherever it is served (the runner's ``/_local/telegram`` or a
port of its own): how a call's parameters arrive, how an answer and an error look, and the values Telegram accepts
in several forms (chat ids as numbers or strings, reply markup as an object or as JSON text)."""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import parse_qs

#: (HTTP status, ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code", "description", "parameters"?}``)
Reply = tuple[int, dict[str, Any]]


class BotApi(Protocol):
    def call(self, token: str, method: str, params: dict[str, Any]) -> Reply: ...


def ok(result: Any, **extra: Any) -> Reply:
    return 200, {"ok": True, "result": result, **extra}


def error(code: int, description: str, **parameters: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return code, body


def call_from_http(api: BotApi, rest: str, query: dict[str, str], body: bytes) -> Reply:
    """One HTTP request to ``.../bot<token>/<method>`` (``rest`` is ``<token>/<method>``): Telegram takes parameters
    from the query string and from a JSON or form-encoded body alike."""
    token, _, method = rest.partition("/")
    params: dict[str, Any] = dict(query)
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        if isinstance(parsed, dict):
            params.update(parsed)
    return api.call(token, method, params)


def chat_id(value: Any) -> int | str | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    try:
        return int(text)
    except ValueError:
        return text


def markup(value: Any) -> Any:
    """Reply markup as the bot sent it (an object, or the JSON text of one in a form-encoded call); an empty inline
    keyboard is no keyboard, as in Telegram."""
    if isinstance(value, str) and value:
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not value or value == {"inline_keyboard": []}:
        return None
    return value


def callback_datas(markup: Any) -> list[str]:
    if not isinstance(markup, dict):
        return []
    return [
        str(button["callback_data"])
        for row in markup.get("inline_keyboard", [])
        for button in row
        if isinstance(button, dict) and "callback_data" in button
    ]
