"""TELEGRAM_MODE=polling with a token: the runner long-polls a Bot API (here a real fake on 127.0.0.1) and hands each
update to the bot function, whose replies go to that same API, not to the sandbox."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.launch import start_runner

pytestmark = pytest.mark.e2e

TOKEN = "4242:polling-test-token"


class FakeBotApi:
    """Enough of the Bot API for polling: queued updates served by getUpdates (offset confirms), calls recorded."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                params = json.loads(self.rfile.read(length) or b"{}")
                token, _, method = self.path.removeprefix("/bot").partition("/")
                status, body = api.answer(token, method, params)
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if token != TOKEN:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        with self.lock:
            self.calls.append((method, params))
            self.lock.notify_all()
            if method == "getUpdates":
                offset = int(params.get("offset") or 0)
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
                if not self.updates:
                    # a short long-poll keeps the test quick
                    self.lock.wait(min(float(params.get("timeout") or 0), 0.5))
                return 200, {"ok": True, "result": list(self.updates)}
            if method == "sendMessage":
                return 200, {"ok": True, "result": {"message_id": len(self.calls), "text": params.get("text")}}
        return 200, {"ok": True, "result": True}

    def push(self, update: dict[str, Any]) -> None:
        with self.lock:
            self.updates.append(update)
            self.lock.notify_all()

    def wait_for(self, method: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                found = [p for m, p in self.calls if m == method]
                if found:
                    return found[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {method} call; calls: {[m for m, _ in self.calls]}")
                self.lock.wait(remaining)


@pytest.fixture
def bot_api() -> Iterator[FakeBotApi]:
    api = FakeBotApi()
    yield api
    api.server.shutdown()


def test_polling_mode_delivers_updates_and_replies_through_the_real_api(tmp_path: Path, bot_api: FakeBotApi) -> None:
    runner = start_runner(
        tmp_path,
        env={"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_MODE": "polling", "TELEGRAM_API_URL": bot_api.url},
    )
    try:
        bot_api.wait_for("deleteWebhook")
        bot_api.push(
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
        sent = bot_api.wait_for("sendMessage")
        assert sent["chat_id"] == 31
        assert sent["text"] == "echo: hello from a real chat"
        # the update is confirmed (offset moves past it) and not delivered twice
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            offsets = [p.get("offset") for m, p in bot_api.calls if m == "getUpdates"]
            if 501 in offsets:
                break
            time.sleep(0.1)
        assert 501 in offsets
        assert [m for m, _ in bot_api.calls].count("sendMessage") == 1
        # outbox endpoints say plainly that messages go to Telegram in this mode
        outbox = requests.get(f"{runner.http}/_local/telegram/outbox", timeout=10)
        assert outbox.status_code == 409
    finally:
        assert runner.stop() == 0
