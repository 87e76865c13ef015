"""The runner's configuration, clock durations, and front-door answers that need no runner process."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from infra.local.config import SANDBOX_TOKEN, ConfigError, RunnerConfig
from infra.local.control import parse_duration
from infra.local.telegram.sandbox import TelegramSandbox
from tests.e2e.fixtures.topology import TOPOLOGY


def test_defaults_are_the_documented_ports_and_outbox_mode() -> None:
    cfg = RunnerConfig.load([], {})
    assert (cfg.http_port, cfg.https_port, cfg.emulator_port) == (8000, 8443, 4566)
    assert cfg.data_dir == Path(".oncall-local") and not cfg.ephemeral
    assert cfg.telegram.mode == "outbox" and cfg.telegram.token == SANDBOX_TOKEN
    assert len(cfg.telegram.webhook_secret) >= 24


def test_environment_then_flags() -> None:
    env = {"ONCALL_HTTP_PORT": "9000", "ONCALL_EMULATOR_PORT": "4999", "ONCALL_HTTPS_PORT": "-1"}
    assert RunnerConfig.load([], env).http_port == 9000
    cfg = RunnerConfig.load(["--http-port", "0", "--ephemeral"], env)
    assert (cfg.http_port, cfg.emulator_port, cfg.https_port, cfg.ephemeral) == (0, 4999, None, True)


def test_functions_get_oncall_settings_but_not_the_runners_own() -> None:
    env = {
        "ONCALL_WEBHOOK_ALLOWLIST": "127.0.0.1",
        "ONCALL_ADMIN_PASSWORD": "secret",
        "ONCALL_HTTP_PORT": "1",
        "ONCALL_LOCAL_LOG_LEVEL": "DEBUG",
        "HOME": "/root",
    }
    passthrough = RunnerConfig.load([], env).passthrough
    assert passthrough["ONCALL_WEBHOOK_ALLOWLIST"] == "127.0.0.1"
    assert not {"ONCALL_ADMIN_PASSWORD", "ONCALL_HTTP_PORT", "ONCALL_LOCAL_LOG_LEVEL", "HOME"} & set(passthrough)


def test_a_setting_the_functions_would_refuse_stops_the_runner_naming_it() -> None:
    with pytest.raises(ConfigError, match=r"ONCALL_ALERTS_RATE_PER_MINUTE \(alerts.rate_per_minute\)"):
        RunnerConfig.load([], {"ONCALL_ALERTS_RATE_PER_MINUTE": "lots"})
    with pytest.raises(ConfigError, match=r"TELEGRAM_API_URL \(api_url\): must be an absolute http\(s\) URL"):
        RunnerConfig.load([], {"TELEGRAM_BOT_TOKEN": "1:abc", "TELEGRAM_API_URL": "api.telegram.org"})
    # resources are the runner's to provide, so only the values given are checked
    no_retries = RunnerConfig.load([], {"ONCALL_WEBHOOK_RETRY_SCHEDULE": ""})
    assert no_retries.passthrough["ONCALL_WEBHOOK_RETRY_SCHEDULE"] == ""


def test_concurrency_per_function_and_default() -> None:
    cfg = RunnerConfig.load(["--concurrency", "fixture-race=8, 2"], {})
    per_fn = cfg.concurrency_for(TOPOLOGY)
    assert per_fn["fixture-race"] == 8
    assert per_fn["api"] == 2
    with pytest.raises(ConfigError, match="unknown functions: nope"):
        RunnerConfig.load(["--concurrency", "nope=1"], {}).concurrency_for(TOPOLOGY)
    for bad in ("api=0", "api=x"):
        with pytest.raises(ConfigError):
            RunnerConfig.load(["--concurrency", bad], {})


def test_telegram_modes() -> None:
    polling = RunnerConfig.load([], {"TELEGRAM_BOT_TOKEN": "1:abc"}).telegram
    assert (polling.mode, polling.api_url) == ("polling", "https://api.telegram.org")
    webhook = RunnerConfig.load([], {"TELEGRAM_BOT_TOKEN": "1:abc", "TELEGRAM_MODE": "webhook"}).telegram
    assert webhook.mode == "webhook"
    with pytest.raises(ConfigError, match="needs TELEGRAM_BOT_TOKEN"):
        RunnerConfig.load([], {"TELEGRAM_MODE": "polling"})
    with pytest.raises(ConfigError, match="expected outbox"):
        RunnerConfig.load([], {"TELEGRAM_MODE": "carrier-pigeon"})
    fixed = RunnerConfig.load([], {"TELEGRAM_WEBHOOK_SECRET": "s3cret"}).telegram
    assert fixed.environment()["TELEGRAM_WEBHOOK_SECRET"] == "s3cret"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PT10M", timedelta(minutes=10)),
        ("pt1h30m", timedelta(hours=1, minutes=30)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P2W", timedelta(weeks=2)),
        ("PT0.5S", timedelta(seconds=0.5)),
        (90, timedelta(seconds=90)),
        (1.5, timedelta(seconds=1.5)),
        ("600", timedelta(minutes=10)),
    ],
)
def test_durations(value: Any, expected: timedelta) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["P", "PT", "P1DT", "10M", "-PT1M", -1, True, None, "", [1]])
def test_not_durations(value: Any) -> None:
    with pytest.raises(ValueError, match=r"duration|forward"):
        parse_duration(value)


def test_sandbox_state_survives_save_and_load(tmp_path: Path) -> None:
    first = TelegramSandbox("1:t")
    status, sent = first.call(
        "1:t",
        "sendMessage",
        {"chat_id": 5, "text": "hi", "reply_markup": '{"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}'},
    )
    assert status == 200
    first.user_update(5, text="/start")
    first.save(tmp_path / "tg.json")
    second = TelegramSandbox("1:t")
    second.load(tmp_path / "tg.json")
    assert second.outbox() == first.outbox()
    pressed = second.user_update(5, callback_data="a")
    assert pressed["callback_query"]["message"]["message_id"] == sent["result"]["message_id"]
    assert pressed["update_id"] == 2
    status, later = second.call("1:t", "sendMessage", {"chat_id": 5, "text": "again"})
    assert later["result"]["message_id"] == 3  # after the bot's first message (1) and the user's /start (2)


def _front_door(topology: Any) -> Any:
    from infra.local.gateway import Gateway
    from infra.local.workers import WorkerPools

    pools = WorkerPools(topology, lambda fn: {}, "http://127.0.0.1:1", log=lambda fn, line: None)
    return Gateway(topology, pools, telegram=TelegramSandbox(SANDBOX_TOKEN)), pools


def test_telegram_send_says_when_no_bot_function_is_deployed() -> None:
    without_bot = replace(
        TOPOLOGY,
        functions=tuple(f for f in TOPOLOGY.functions if f.name != "telegram"),
        routes=tuple(r for r in TOPOLOGY.routes if r.function != "telegram"),
    )
    gateway, pools = _front_door(without_bot)
    with pools:
        status, _, body = gateway.handle(
            "POST",
            "/_local/telegram/send",
            [("host", "127.0.0.1:8000"), ("content-type", "application/json")],
            b'{"chat_id": 1, "text": "/help"}',
            "",
            "http",
        )
    assert status == 409
    assert json.loads(body)["error"]["code"] == "bot_not_deployed"


def test_a_path_no_route_matches_is_a_404_envelope() -> None:
    only_race = replace(TOPOLOGY, routes=tuple(r for r in TOPOLOGY.routes if r.function == "fixture-race"))
    gateway, pools = _front_door(only_race)
    with pools:
        status, headers, body = gateway.handle("GET", "/health", [], b"", "127.0.0.1", "http")
    assert status == 404
    assert ("content-type", "application/json") in headers
    assert json.loads(body) == {"error": {"code": "not_found", "message": "No route for GET /health", "details": {}}}
