"""``make telegram-webhook``: registers the stack's API URL and webhook secret with Telegram (a fake Bot API on
127.0.0.1), reading them from the stack's outputs and SecureString parameters (moto), and refuses what Telegram
would."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra import telegram_webhook
from tests.support.fake_telegram import FakeTelegram

API_URL = "https://abc123.execute-api.us-east-1.amazonaws.com"
WEBHOOK_SECRET = "generated0webhook0secret0of0letters0and0digits"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    import boto3
    from moto import mock_aws

    with mock_aws(), FakeTelegramServer() as fake:
        ssm = boto3.client("ssm", region_name="us-east-1")
        token_arn, secret_arn = "/OnCallHub/secrets/telegram-bot-token", "/OnCallHub/secrets/telegram-webhook-secret"
        ssm.put_parameter(Name=token_arn, Value="placeholder0generated0by0cdk", Type="SecureString")
        ssm.put_parameter(Name=secret_arn, Value=WEBHOOK_SECRET, Type="SecureString")
        template = {
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {
                "ApiUrl": {"Value": API_URL},
                "SecretTelegramBotTokenParameter": {"Value": token_arn},
                "SecretTelegramWebhookSecretParameter": {"Value": secret_arn},
            },
        }
        boto3.client("cloudformation", region_name="us-east-1").create_stack(
            StackName="OnCallHub", TemplateBody=json.dumps(template)
        )
        for var in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("TELEGRAM_API_URL", fake.url)
        yield {"fake": fake, "token_arn": token_arn}


class FakeTelegramServer:
    def __enter__(self) -> FakeTelegram:
        self.fake = FakeTelegram()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.fake.close()


def test_refuses_the_generated_placeholder_token(stack: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert telegram_webhook.main([]) == 2
    assert "placeholder" in capsys.readouterr().err
    assert stack["fake"].calls == []


def test_stores_the_token_then_registers_url_and_secret(
    stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    fake: FakeTelegram = stack["fake"]
    monkeypatch.setattr("sys.stdin", io.StringIO(fake.token + "\n"))
    assert telegram_webhook.main(["--token-stdin"]) == 0
    stored = boto3.client("ssm", region_name="us-east-1").get_parameter(Name=stack["token_arn"], WithDecryption=True)
    assert stored["Parameter"]["Value"] == fake.token
    assert stored["Parameter"]["Type"] == "SecureString"
    assert fake.webhook == {
        "url": f"{API_URL}/telegram/webhook",
        "secret_token": WEBHOOK_SECRET,
        "allowed_updates": ["message", "callback_query"],
    }
    out = capsys.readouterr().out
    assert "@oncall_test_bot now receives updates" in out and fake.token not in out
    # later runs read the token from the secret; --delete removes the webhook
    assert telegram_webhook.main(["--delete"]) == 0
    assert fake.webhook is None


def test_explicit_url_and_environment_need_no_stack(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeTelegramServer() as fake:
        env = {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_WEBHOOK_SECRET": "s3cret", "TELEGRAM_API_URL": fake.url}
        assert telegram_webhook.main(["--url", "http://insecure.example/telegram/webhook"], env=env) == 2
        assert "https://" in capsys.readouterr().err
        assert telegram_webhook.main(["--url", "https://tunnel.example/telegram/webhook"], env=env) == 0
        assert fake.webhook is not None and fake.webhook["url"] == "https://tunnel.example/telegram/webhook"
