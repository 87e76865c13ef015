"""The product's logs: structured JSON lines from the one logger, and no secret in any of them. Every credential the
product handles goes through the real handlers while every line is captured at DEBUG: a password at sign-in, the
access and refresh tokens it answers with, a refresh (and a forged one), an API token, the metrics token, the Telegram
webhook secret (right and wrong) and the bot token; none may appear in any line, whatever its level."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from oncall.domain.users import Role
from tests.support.identity import PASSWORD, make_user
from tests.support.lambdas import call_api
from tests.support.logs import product_logs
from tests.support.telegram import SECRET, message_update, next_chat, post_update, telegram_env

METRICS_TOKEN = "metrics-token-never-logged-0123456789"


@pytest.fixture
def tg(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("ONCALL_METRICS_TOKEN", METRICS_TOKEN)
    with telegram_env(monkeypatch) as fake:
        yield fake


def test_no_credential_reaches_any_log_line(tg: object) -> None:
    user = make_user(Role.ADMIN)
    with product_logs() as logs:
        signed_in = call_api("POST", "/auth/login", body=json.dumps({"username": user.username, "password": PASSWORD}))
        assert signed_in.status == 200
        tokens = signed_in.json
        wrong = call_api(
            "POST", "/auth/login", body=json.dumps({"username": user.username, "password": PASSWORD + "x"})
        )
        assert wrong.status == 401
        bearer = {"authorization": f"Bearer {tokens['access_token']}"}
        refreshed = call_api("POST", "/auth/refresh", body=json.dumps({"refresh_token": tokens["refresh_token"]}))
        assert refreshed.status == 200
        assert call_api("POST", "/auth/refresh", body=json.dumps({"refresh_token": "x" * 40})).status == 401
        made = call_api(
            "POST",
            "/me/api-tokens",
            headers={**bearer, "content-type": "application/json"},
            body=json.dumps({"name": "ci", "scopes": ["incidents:read"]}),
        )
        assert made.status in (200, 201), made.raw
        api_token = made.json["token"]
        assert call_api("GET", "/incidents", headers={"authorization": f"Bearer {api_token}x"}).status == 401
        assert call_api("GET", "/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"}).status == 200
        assert call_api("GET", "/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}x"}).status == 401
        assert post_update(message_update(next_chat(), "/start")).status == 200
        assert post_update(message_update(next_chat(), "/start"), secret=SECRET + "x").status in (401, 403)

    text = logs.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "the flows above log something (sign-in failures, token reuse, the refused webhook)"
    for line in lines:
        record = json.loads(line)  # structured: every line is one JSON object
        assert {"level", "message", "timestamp", "service"} <= set(record)
    secrets = {
        "password": PASSWORD,
        "access token": tokens["access_token"],
        "refresh token": tokens["refresh_token"],
        "new refresh token": refreshed.json["refresh_token"],
        "api token secret": api_token.rsplit(".", 1)[1],
        "metrics token": METRICS_TOKEN,
        "telegram webhook secret": SECRET,
        "telegram bot token": tg.token.split(":")[1],  # type: ignore[attr-defined]
    }
    leaked = [name for name, value in secrets.items() if value in text]
    assert leaked == []
