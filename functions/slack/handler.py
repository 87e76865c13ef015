"""``POST /integrations/slack/{commands,interactions,events}``: the Slack app's three request URLs.

Every request's signature is checked on the raw body before anything is parsed (401 otherwise, nothing changes);
then a command answers with its reply (shown only to the person who ran it), a button press with an empty 200 (the
pressed message is rewritten through the Web API), and the events URL answers Slack's challenge. A body Slack would
never send is a 400 naming the field.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oncall import observability, wiring
from oncall.domain.slack import json_object, parse_form
from oncall.observability import log

JSON = {"content-type": "application/json"}


def _reply(status: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": JSON, "body": json.dumps(body) if body is not None else ""}


def _error(status: int, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return _reply(status, {"error": {"code": code, "message": message, "details": {"field": field} if field else {}}})


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raw = event.get("body") or ""
    raw = base64.b64decode(raw).decode("utf-8", "replace") if event.get("isBase64Encoded") else str(raw)
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    if not wiring.slack.verified(raw, headers):
        log.warning("slack: request with a wrong, stale or missing signature")
        return _error(401, "unauthorized", "invalid or stale X-Slack-Signature")
    path, signature, now = str(event.get("rawPath") or ""), headers["x-slack-signature"], wiring.clock()()
    form = parse_form(raw)
    if path.endswith("/events"):
        if (body := json_object(raw)) is None:
            return _error(400, "invalid_json", "the body is not a JSON object", "body")
        return _reply(200, wiring.slack.slack_app_events(body))
    if path.endswith("/commands"):
        text = wiring.slack.slack_app().command(form, signature, now)
        return _reply(200, {"response_type": "ephemeral", "text": text} if text is not None else None)
    if (payload := json_object((form.get("payload") or [""])[0])) is None:
        return _error(400, "invalid_payload", "payload must be a JSON object", "payload")
    log.info("slack interaction", extra={"outcome": wiring.slack.slack_app().interaction(payload, signature, now)})
    return _reply(200, None)
