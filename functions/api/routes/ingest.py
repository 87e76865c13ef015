"""Alert ingestion over HTTP: ``POST /v2/enqueue`` (PagerDuty Events API v2), ``POST /integrations/alertmanager``
and ``POST /integrations/grafana``.

These routes are on auth's PUBLIC list: they authenticate by integration key (PagerDuty: ``routing_key`` in the
body; Alertmanager/Grafana: ``Authorization: Bearer <key>``), never by a user's token. Input is validated completely
before anything is written (the rate-limit counter included), so a bad request leaves no trace.

``/v2/enqueue`` answers in PagerDuty's own shapes, because PagerDuty clients parse them: 202
``{"status": "success", "message": "Event processed", "dedup_key": ...}`` (the official client treats a reply
without ``dedup_key`` as an error), 400 ``{"status": "invalid event", "message": "Event object is invalid",
"errors": [...]}`` (also for bad JSON, an unknown key and a body over 512 KB), 429 ``{"status": "throttle event",
...}`` with ``Retry-After``. The integrations answer 200 with one result per alert, or the API's error envelope.

No route refuses alerts for the service's rate: a trigger over it is coalesced into the service's storm incident and
answered like any other (202 / 200, result ``coalesced``), so an Alertmanager group of any size is accepted whole and
the same body retried is applied again idempotently (no second incident). A 429 now means only "retry shortly": some
alert kept meeting concurrent writes (``Retry-After: 1``); PagerDuty's clients and Alertmanager retry it.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from oncall.domain.alerts import InvalidAlert, Outcome
from oncall.domain.errors import RateLimited

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

ENQUEUE = "/v2/enqueue"
INTEGRATIONS = ("/integrations/alertmanager", "/integrations/grafana")
#: Alertmanager and Grafana batch whole groups into one delivery: thousands of alerts of ~0.6 KB; 4 MB stays under
#: Lambda's 6 MB request once base64-encoded (past ``MAX_ALERTS`` alerts the rest are counted as truncated)
INTEGRATION_BODY_MAX = 4 * 1024 * 1024


def _pd(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


def _pd_invalid(errors: list[str]) -> dict[str, Any]:
    return {"status": "invalid event", "message": "Event object is invalid", "errors": errors}


def _route(event: dict[str, Any]) -> tuple[str, str]:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method", "")).upper(), str(event.get("rawPath") or http.get("path") or "")


def body_limit(event: dict[str, Any], default: int) -> int:
    from oncall.adapters.alert_sources.pagerduty import BODY_MAX_BYTES

    method, path = _route(event)
    if method == "POST" and path in INTEGRATIONS:
        return max(default, INTEGRATION_BODY_MAX)
    if method == "POST" and path == ENQUEUE:
        return max(default, BODY_MAX_BYTES)
    return default


def precheck(event: dict[str, Any]) -> dict[str, Any] | None:
    """``/v2/enqueue`` failures before routing, in PagerDuty's shape (the generic guard would answer with ours)."""
    import base64

    from oncall.adapters.alert_sources.pagerduty import BODY_MAX_BYTES

    method, path = _route(event)
    if method != "POST" or path != ENQUEUE:
        return None

    def invalid(message: str) -> dict[str, Any]:
        return {
            "statusCode": 400,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(_pd_invalid([message])),
            "isBase64Encoded": False,
        }

    body = event.get("body") or ""
    try:
        raw = base64.b64decode(body, validate=True) if event.get("isBase64Encoded") else body.encode()
        if len(raw) > BODY_MAX_BYTES:
            return invalid(f"Event object is too large (maximum is {BODY_MAX_BYTES} bytes)")
        text = raw.decode("utf-8")
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return invalid("Malformed JSON: the body must be a JSON object")
    if not isinstance(parsed, dict):
        return invalid("Malformed JSON: the body must be a JSON object")
    event["body"] = text
    event["isBase64Encoded"] = False
    return None


def _receive(source: str, payload: Any, key: str | None = None) -> list[Outcome]:
    from oncall.wiring.alerts import alert_service

    return list(alert_service().receive(source, payload, key).outcomes)


@router.post(ENQUEUE, tags=["alerts"], summary="PagerDuty Events API v2: trigger / acknowledge / resolve")
def enqueue() -> Response[Any]:
    from oncall.adapters.alert_sources import pagerduty

    try:
        [outcome] = _receive(pagerduty.NAME, json.loads(router.current_event.body or "{}"))
    except InvalidAlert as exc:
        return _pd(400, _pd_invalid(exc.errors))
    except RateLimited as exc:
        return _pd(
            429,
            {
                "status": "throttle event",
                "message": "Events for this service are contending with each other. Please retry shortly.",
            },
            {"Retry-After": str(exc.retry_after)},
        )
    return _pd(202, {"status": "success", "message": "Event processed", "dedup_key": outcome.dedup_key})


def _webhook(source: str) -> dict[str, Any]:
    """Alertmanager and Grafana: the delivery as received, its Bearer key beside it; failures are the API's error
    envelope (401 for the key or a signature, 400 ``invalid_event``, 429)."""
    from oncall.api.auth import bearer_token
    from oncall.services.alert_ports import Delivery

    event = router.current_event
    delivery = Delivery(body=event.body or "", headers=dict(event.headers or {}))
    outcomes = _receive(source, delivery, bearer_token(event.headers))
    return {
        "accepted": len(outcomes),
        "results": [
            {"dedup_key": o.dedup_key, "result": o.result, "incident_id": o.incident_id, "reason": o.reason}
            for o in outcomes
        ],
    }


@router.post("/integrations/alertmanager", tags=["alerts"], summary="Alertmanager webhook (v4); Bearer key")
def alertmanager_webhook() -> dict[str, Any]:
    from oncall.adapters.alert_sources import alertmanager

    return _webhook(alertmanager.NAME)


@router.post("/integrations/grafana", tags=["alerts"], summary="Grafana unified alerting webhook; Bearer key, HMAC")
def grafana_webhook() -> dict[str, Any]:
    from oncall.adapters.alert_sources import grafana

    return _webhook(grafana.NAME)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
