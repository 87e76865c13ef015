"""Requests signed as Slack signs them: ``X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">`` with the
app's signing secret, and ``X-Slack-Request-Timestamp``. The runner's sandbox and the tests sign with this; the
product checks with ``slack_sdk``'s verifier, so the two are independent implementations of Slack's scheme."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode


def signed_headers(secret: str, body: str, timestamp: int) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": str(timestamp),
        "x-slack-signature": f"v0={digest}",
    }


def command_body(form: dict[str, str]) -> str:
    return urlencode(form)


def interaction_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})
