"""The tests' Telegram: the runner's Bot API sandbox on a port of its own (``infra.local.telegram.server``), with a
test token and bot name. One fake for every test, so what the functional tests assert of Telegram is what the runner
does; see ``infra.local.telegram.sandbox`` for what it answers, records and can be told to fail."""

from __future__ import annotations

from infra.local.telegram.html import html_error
from infra.local.telegram.server import BotApiServer

TOKEN = "123456:AAF-fake-test-token_0123456789abcdefghi"

__all__ = ["TOKEN", "FakeTelegram", "html_error"]


class FakeTelegram(BotApiServer):
    def __init__(self, token: str = TOKEN, username: str = "oncall_test_bot") -> None:
        super().__init__(token, username)
