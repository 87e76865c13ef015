"""Through the runner in outbox mode, as a person would: link a chat with /start, put someone on duty 10 min 30 s
from now, move the runner's clock, and read the Telegram outbox: exactly one 10-minute reminder, then nothing more."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, start_runner

pytestmark = pytest.mark.e2e

ADMIN = {"username": "root", "password": "correct horse battery staple"}
CHAT = 424242


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    runner = start_runner(
        tmp_path_factory.mktemp("reminders"),
        topology=PRODUCT_TOPOLOGY,
        env={"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]},
    )
    try:
        yield runner
    finally:
        runner.stop()


def _auth(runner: Runner) -> dict[str, str]:
    login = runner.post("/auth/login", ADMIN)
    assert login.status_code == 200, login.text
    return {"authorization": f"Bearer {login.json()['access_token']}"}


def _reminders(outbox: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in outbox if m["method"] == "sendMessage" and str(m["text"]).startswith("⏰")]


def test_one_ten_minute_reminder_through_the_runner(product: Runner) -> None:
    headers = _auth(product)
    created = requests.post(
        f"{product.http}/users",
        json={"username": "oncall-ada", "password": "a long enough password", "role": "responder"},
        headers=headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    code = requests.post(f"{product.http}/users/{user_id}/telegram-link", headers=headers, timeout=30).json()["code"]
    linked = product.post("/_local/telegram/send", {"chat_id": CHAT, "text": f"/start {code}"}).json()
    assert linked["webhook_status"] == 200 and "Linked" in linked["replies"][0]["text"], linked

    schedule = requests.post(
        f"{product.http}/schedules", json={"name": "Payments", "timezone": "Europe/Berlin"}, headers=headers, timeout=30
    ).json()
    now = datetime.fromisoformat(product.get("/_local/clock").json()["now"].replace("Z", "+00:00"))
    start = now + timedelta(minutes=10, seconds=30)
    shift = requests.post(
        f"{product.http}/schedules/{schedule['id']}/shifts",
        json={"user_id": user_id, "start": start.isoformat(), "end": (start + timedelta(hours=8)).isoformat()},
        headers=headers,
        timeout=30,
    )
    assert shift.status_code == 201, shift.text
    shift_id = shift.json()["id"]

    # the shift.created event travels outbox → stream → publisher → bus → reminder_planner; wait until planned
    table = product.client("dynamodb")
    deadline = time.monotonic() + 30
    planned: dict[str, Any] = {}
    while time.monotonic() < deadline:
        planned = table.get_item(
            TableName="oncall-reminders", Key={"pk": {"S": f"SHIFT#{shift_id}"}, "sk": {"S": "R#00010"}}
        ).get("Item", {})
        if planned:
            break
        time.sleep(0.2)
    assert planned.get("status", {}).get("S") == "pending", f"not planned in 30 s\n{product.log()[-3000:]}"

    before = _reminders(product.get("/_local/telegram/outbox", params={"chat_id": CHAT}).json()["items"])
    assert before == []
    fired = product.post("/_local/clock", {"advance": "PT2M"}).json()["fired"]
    assert any("reminders" in str(f) for f in fired), fired
    sent = _reminders(product.get("/_local/telegram/outbox", params={"chat_id": CHAT}).json()["items"])
    assert len(sent) == 1, sent
    assert "starts in 10 minutes" in sent[0]["text"] and "Payments" in sent[0]["text"]

    # on past the start, and then some: nothing more (the 2 h and 24 h reminders were due before the shift existed)
    product.post("/_local/clock", {"advance": "PT15M"})
    product.post("/_local/clock", {"advance": "PT1H"})
    after = _reminders(product.get("/_local/telegram/outbox", params={"chat_id": CHAT}).json()["items"])
    assert after == sent


def test_the_bot_answers_commands_in_the_sandbox(product: Runner) -> None:
    for command, expected in (("/help", "/oncall"), ("/shifts", "not linked"), ("/oncall", "not linked")):
        reply = product.post("/_local/telegram/send", {"chat_id": 515151, "text": command}).json()
        assert reply["webhook_status"] == 200 and expected in reply["replies"][-1]["text"], reply


def test_a_wrong_secret_is_refused_by_the_bot_function(product: Runner) -> None:
    # a wrong secret is refused by the deployed bot function itself, not by the runner
    resp = requests.post(
        f"{product.http}/telegram/webhook",
        json={"update_id": 1, "message": {"chat": {"id": 1}, "text": "/help"}},
        headers={"x-telegram-bot-api-secret-token": "wrong"},
        timeout=30,
    )
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "forbidden"
