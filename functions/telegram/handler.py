"""``POST /telegram/webhook``: Telegram delivers each update here with the secret-token header.

Answers fast and always 200 for an update it could read: a failure inside is parked by the bot (stored with the
reason) instead of being returned as an error Telegram would redeliver forever. Only a wrong secret (403) and a body
that is not a JSON object (400) are refused.
"""

from __future__ import annotations

import base64
import hmac
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oncall import observability, wiring
from oncall.observability import log

SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)


def _envelope(status: int, code: str, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"error": {"code": code, "message": message, "details": {}}}),
    }


def _body(event: dict[str, Any]) -> str:
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(raw).decode("utf-8", "replace")
    return str(raw)


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    expected = wiring.telegram.telegram_webhook_secret()
    presented = headers.get(SECRET_HEADER, "")
    # constant time, and an unconfigured secret accepts nothing
    if not expected or not hmac.compare_digest(presented.encode(), expected.encode()):
        log.warning("telegram webhook: wrong or missing secret token")
        return _envelope(403, "forbidden", "invalid X-Telegram-Bot-Api-Secret-Token")

    from oncall.services.telegram_bot import parse_update

    raw = _body(event)
    update = parse_update(raw)
    if update is None:
        return _envelope(400, "invalid_json", "the body is not a Telegram Update (a JSON object)")
    outcome = wiring.telegram.telegram_bot().handle(update, raw, wiring.clock()())
    log.info("telegram update", extra={"update_id": update.get("update_id"), "outcome": outcome})
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}
