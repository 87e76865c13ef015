"""Register the bot's webhook with Telegram after a deploy (``make telegram-webhook``).

    make telegram-webhook                                  # the deployed stack: URL and secrets from its outputs
    python -m infra.telegram_webhook --token-stdin < token # first store the @BotFather token in the stack's secret
    python -m infra.telegram_webhook --url https://<public host>/telegram/webhook  # e.g. a runner in webhook mode
    python -m infra.telegram_webhook --delete              # back to no webhook (getUpdates / polling works again)

Where things come from: the webhook URL is the stack output ``ApiUrl`` + ``/telegram/webhook`` (or ``--url``); the
bot token and the webhook secret are read from the stack's SecureString parameters (outputs
``SecretTelegramBotTokenParameter`` / ``SecretTelegramWebhookSecretParameter``), or from ``TELEGRAM_BOT_TOKEN`` /
``TELEGRAM_WEBHOOK_SECRET`` when set. ``TELEGRAM_API_URL`` points the calls elsewhere (tests use a fake Bot API).
The token is never printed.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from typing import Any

from infra.local.loader import LAYER_PATH

DEFAULT_STACK_NAME = "OnCallHub"
TOKEN_OUTPUT = "SecretTelegramBotTokenParameter"  # noqa: S105 (an output name)
SECRET_OUTPUT = "SecretTelegramWebhookSecretParameter"  # noqa: S105 (an output name)
URL_OUTPUT = "ApiUrl"
_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def stack_outputs(stack: str, region: str | None) -> dict[str, str]:
    import boto3

    cfn: Any = boto3.client("cloudformation", region_name=region)
    stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def read_secret(name: str, region: str | None) -> str:
    import boto3

    client: Any = boto3.client("ssm", region_name=region)
    return str(client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]).strip()


def put_secret(name: str, value: str, region: str | None) -> None:
    import boto3

    client: Any = boto3.client("ssm", region_name=region)
    client.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="python -m infra.telegram_webhook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default=DEFAULT_STACK_NAME, help="CloudFormation stack (default %(default)s)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--url", help="webhook URL (default: the stack's ApiUrl + /telegram/webhook)")
    parser.add_argument("--token-stdin", action="store_true", help="store the bot token read from stdin first")
    parser.add_argument("--delete", action="store_true", help="remove the webhook instead")
    args = parser.parse_args(argv)

    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))
    from oncall.adapters.telegram import DEFAULT_API_URL, TelegramClient, TelegramError

    needs_stack = not (env.get("TELEGRAM_BOT_TOKEN") and env.get("TELEGRAM_WEBHOOK_SECRET") and args.url)
    outputs = stack_outputs(args.stack, args.region) if needs_stack or args.token_stdin else {}

    if args.token_stdin:
        token = sys.stdin.readline().strip()
        if not _TOKEN.match(token):
            print("that does not look like a bot token (<digits>:<secret>) from @BotFather", file=sys.stderr)
            return 2
        if TOKEN_OUTPUT not in outputs:
            print(f"stack {args.stack} has no output {TOKEN_OUTPUT}", file=sys.stderr)
            return 2
        put_secret(outputs[TOKEN_OUTPUT], token, args.region)
        print("bot token stored in the stack's secret")
    else:
        token = env.get("TELEGRAM_BOT_TOKEN") or (
            read_secret(outputs[TOKEN_OUTPUT], args.region) if TOKEN_OUTPUT in outputs else ""
        )
    if not _TOKEN.match(token):
        print(
            "no usable bot token: the stack's secret still holds its generated placeholder; store the real one with "
            "--token-stdin (or set TELEGRAM_BOT_TOKEN)",
            file=sys.stderr,
        )
        return 2
    client = TelegramClient(token=token, api_url=env.get("TELEGRAM_API_URL") or DEFAULT_API_URL)
    try:
        if args.delete:
            client.call("deleteWebhook", {"drop_pending_updates": False})
            print("webhook removed")
            return 0
        secret = env.get("TELEGRAM_WEBHOOK_SECRET") or (
            read_secret(outputs[SECRET_OUTPUT], args.region) if SECRET_OUTPUT in outputs else ""
        )
        if not _SECRET.match(secret):
            print("no usable webhook secret (1-256 of A-Z a-z 0-9 _ -)", file=sys.stderr)
            return 2
        url = args.url or (outputs[URL_OUTPUT].rstrip("/") + "/telegram/webhook" if URL_OUTPUT in outputs else "")
        if not url.startswith("https://"):
            print(f"Telegram needs an https:// webhook URL, got {url or 'none'}", file=sys.stderr)
            return 2
        me = client.get_me()
        client.set_webhook(url, secret)
        info = client.call("getWebhookInfo", {})
    except TelegramError as exc:
        print(f"Telegram refused: {exc.description}", file=sys.stderr)
        return 1
    print(f"@{me.get('username')} now receives updates at {info.get('url') or url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
