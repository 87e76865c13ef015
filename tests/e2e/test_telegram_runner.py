"""The product bot behind the runner in TELEGRAM_MODE=polling: the runner long-polls a Bot API (the fake on
127.0.0.1, standing in for Telegram behind NAT) and hands each update to the bot function, whose replies and button
answers go back to that API, not to the sandbox."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.launch import PRODUCT_TOPOLOGY, start_runner
from tests.support.fake_telegram import FakeTelegram
from tests.support.telegram import callback_update, message_update

pytestmark = pytest.mark.e2e


def _wait(fake: FakeTelegram, method: str, count: int = 1, timeout: float = 30) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        calls = [c for c in fake.of(method) if c.status == 200]
        if len(calls) >= count:
            return calls
        time.sleep(0.05)
    raise AssertionError(f"{count} × {method} not seen; calls: {fake.methods()[-10:]}")


def test_polling_mode_runs_the_product_bot(tmp_path: Path) -> None:
    fake = FakeTelegram()
    runner = start_runner(
        tmp_path,
        topology=PRODUCT_TOPOLOGY,
        env={"TELEGRAM_MODE": "polling", "TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.url},
    )
    try:
        _wait(fake, "deleteWebhook")
        fake.updates.append(message_update(31, "/help", update_id=500))
        (reply,) = _wait(fake, "sendMessage")
        assert reply.params["chat_id"] in (31, "31") and "/oncall" in reply.params["text"]
        # a button nobody registered: answered politely through the same API
        message = fake.messages[("31", 1)]
        fake.updates.append(callback_update(31, "nosuch:ack:1", message, update_id=501))
        (answer,) = _wait(fake, "answerCallbackQuery")
        assert answer.params["text"]
        assert requests.get(f"{runner.http}/_local/telegram/outbox", timeout=10).status_code == 409
        assert len(fake.sent(31)) == 1  # each update once, though the poller asked many times
    finally:
        assert runner.stop() == 0
        fake.close()
