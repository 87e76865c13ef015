"""TELEGRAM_MODE=polling with a token: the runner long-polls a Bot API (the fake Telegram on 127.0.0.1) and hands each
update to the bot function, whose replies go to that same API, not to the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from infra.local.telegram.sandbox import Call
from tests.e2e.launch import start_runner
from tests.support.fake_telegram import FakeTelegram

pytestmark = pytest.mark.e2e

TOKEN = "4242:polling-test-token"


@pytest.fixture
def bot_api() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as api:
        yield api


def _first(api: FakeTelegram, method: str, timeout: float = 20) -> Call:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := api.of(method):
            return found[0]
        time.sleep(0.05)
    raise AssertionError(f"no {method} call; calls: {api.methods()}")


def test_polling_mode_delivers_updates_and_replies_through_the_real_api(tmp_path: Path, bot_api: FakeTelegram) -> None:
    runner = start_runner(
        tmp_path,
        env={"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "polling", "TELEGRAM_API_URL": bot_api.url},
    )
    try:
        _first(bot_api, "deleteWebhook")
        bot_api.updates.append(
            {
                "update_id": 500,
                "message": {
                    "message_id": 1,
                    "from": {"id": 31, "is_bot": False, "first_name": "Ada"},
                    "chat": {"id": 31, "type": "private"},
                    "date": int(time.time()),
                    "text": "hello from a real chat",
                },
            }
        )
        sent = _first(bot_api, "sendMessage").params
        assert sent["chat_id"] == 31
        assert sent["text"] == "echo: hello from a real chat"
        # the update is confirmed (offset moves past it) and not delivered twice
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            offsets = [c.params.get("offset") for c in bot_api.of("getUpdates")]
            if 501 in offsets:
                break
            time.sleep(0.1)
        assert 501 in offsets
        assert bot_api.methods().count("sendMessage") == 1
        # outbox endpoints say plainly that messages go to Telegram in this mode
        outbox = requests.get(f"{runner.http}/_local/telegram/outbox", timeout=10)
        assert outbox.status_code == 409
    finally:
        assert runner.stop() == 0
