"""Helpers for the bot and notification tests: the fake Bot API wired in, users with linked chats, webhook calls."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from infra.local.apigw import http_event
from tests.support.fake_telegram import FakeTelegram
from tests.support.identity import make_user
from tests.support.lambdas import HttpResult, call_raw

SECRET = "webhook-secret-for-tests_0123456789"
_update_ids = itertools.count(10_000)
_chats = itertools.count(700_000)


@contextmanager
def telegram_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    """The fake Bot API, with the product configured to use it (token, URL, webhook secret); use inside ``aws``."""
    from oncall import wiring

    fake = FakeTelegram()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", fake.token)
    monkeypatch.setenv("TELEGRAM_API_URL", fake.url)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    wiring.reset()
    try:
        yield fake
    finally:
        wiring.reset()
        fake.close()


def next_chat() -> int:
    return next(_chats)


def message_update(chat_id: int, text: str, update_id: int | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 1,
        "from": {"id": chat_id, "is_bot": False, "first_name": "Ada", "language_code": "en"},
        "chat": {"id": chat_id, "first_name": "Ada", "type": "private"},
        "date": 1_763_000_000,
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return {"update_id": update_id if update_id is not None else next(_update_ids), "message": message}


def callback_update(chat_id: int, data: str, message: dict[str, Any], update_id: int | None = None) -> dict[str, Any]:
    return {
        "update_id": update_id if update_id is not None else next(_update_ids),
        "callback_query": {
            "id": f"cbq-{next(_update_ids)}",
            "from": {"id": chat_id, "is_bot": False, "first_name": "Ada"},
            "message": message,
            "chat_instance": "-42",
            "data": data,
        },
    }


def post_update(update: dict[str, Any] | str, secret: str | None = SECRET) -> HttpResult:
    headers = {"content-type": "application/json"}
    if secret is not None:
        headers["x-telegram-bot-api-secret-token"] = secret
    body = update if isinstance(update, str) else json.dumps(update)
    return call_raw(http_event("POST", "/telegram/webhook", body=body, headers=headers), function="telegram")


def linked_user(chat_id: int | None = None, *, via_bot: bool = False, **kwargs: Any) -> tuple[Any, int]:
    """A user whose Telegram chat is linked with a real one-time code: through the bot's ``/start <code>``
    (``via_bot``, which also sends the "Linked" reply) or by consuming the code as the bot does (quicker, silent)."""
    from oncall import wiring

    user = make_user(**kwargs)
    chat = chat_id if chat_id is not None else next_chat()
    code = wiring.core.user_service().create_link_code(user, user.id).code
    if via_bot:
        result = post_update(message_update(chat, f"/start {code}"))
        assert result.status == 200, result.raw
    else:
        wiring.core.user_service().consume_link_code(code, str(chat), wiring.clock()())
    linked = wiring.core.user_service().find_by_telegram_chat(str(chat))
    assert linked is not None and linked.id == user.id
    return linked, chat
