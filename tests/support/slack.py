"""Helpers for the Slack tests: requests signed as Slack signs them, delivered to the slack function's real handler
(API Gateway v2 events), and people linked through ``/oncall link`` against the sandbox."""

from __future__ import annotations

import itertools
import time
from typing import Any

from infra.local.apigw import http_event
from infra.local.slack.sandbox import SlackSandbox
from infra.local.slack.signing import command_body, interaction_body, signed_headers
from tests.support.identity import make_user
from tests.support.lambdas import HttpResult, call_raw

TOKEN = "xoxb-test-0123456789-abcdefghijklmnop"
SIGNING_SECRET = "slack-signing-secret-for-tests-0123456789"
_emails = itertools.count(1)

ENV = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET}


def post(path: str, body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> HttpResult:
    headers = signed_headers(secret, body, int(time.time()) if timestamp is None else timestamp)
    return send(path, body, headers)


def send(path: str, body: str, headers: dict[str, str]) -> HttpResult:
    return call_raw(http_event("POST", path, body=body, headers=headers), function="slack")


def command(slack: SlackSandbox, user: str, name: str, text: str = "", **kwargs: Any) -> HttpResult:
    return post("/integrations/slack/commands", command_body(slack.command_form(user, name, text)), **kwargs)


def reply_text(result: HttpResult) -> str:
    assert result.status == 200, result.raw
    return str(result.json["text"])


def press(slack: SlackSandbox, user: str, channel: str, ts: str, label: str, **kwargs: Any) -> HttpResult:
    body = interaction_body(slack.press_payload(user, channel, ts, label))
    return post("/integrations/slack/interactions", body, **kwargs)


def linked_member(slack: SlackSandbox, **kwargs: Any) -> tuple[Any, str]:
    """A person here and a Slack member with the same confirmed email, linked through ``/oncall link``."""
    email = f"slack{next(_emails)}-{time.monotonic_ns()}@example.org"
    user = make_user(email=email, **kwargs)
    member = slack.add_user(email, name=user.display_name)
    assert "Linked" in reply_text(command(slack, member, "/oncall", "link"))
    return user, member
