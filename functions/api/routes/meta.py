"""Unauthenticated service routes: health, the OpenAPI document and Swagger UI (assets inlined, no CDN)."""

from __future__ import annotations

import json
from functools import cache

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from oncall.api import openapi as document
from oncall.api.auth import PUBLIC
from routes.api_tokens import ApiTokenOut
from routes.audit import AuditOut
from routes.routing import SilenceOut, SuppressedAlertOut, WindowOut
from routes.sso import SignedInOut

TITLE = "OnCall Hub"
VERSION = "0.1.0"
DESCRIPTION = (
    'On-call schedules, incidents and escalations. Errors are `{"error": {"code", "message", "details"}}`; '
    'lists are `{"items", "next_cursor"}` with `ETag`; creating POSTs honour `Idempotency-Key`.'
)

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

_PD_STATUS = {"type": "string"}
#: what the document cannot learn from the routes' annotations (``oncall.api.openapi``); the fuzzing test holds it
#: to what the API answers
SURFACE = document.Surface(
    public=frozenset((method, document.openapi_path(path)) for method, path in PUBLIC),
    status={
        **dict.fromkeys(
            [
                ("POST", "/users"),
                ("POST", "/users/{user_id}/telegram-link"),
                ("POST", "/schedules"),
                ("POST", "/schedules/{schedule_id}/shifts"),
                ("POST", "/schedules/{schedule_id}/rotations"),
                ("POST", "/schedules/{schedule_id}/overrides"),
                ("POST", "/schedules/{schedule_id}/calendar-token"),
                ("POST", "/me/calendar-token"),
                ("POST", "/escalation-policies"),
                ("POST", "/services"),
                ("POST", "/services/{service_id}/maintenance-windows"),
                ("POST", "/maintenance-windows"),
                ("POST", "/silences"),
                ("POST", "/incidents"),
                ("POST", "/incidents/{incident_id}/notes"),
                ("POST", "/webhooks"),
                ("POST", "/teams"),
                ("POST", "/me/api-tokens"),
                ("POST", "/service-accounts"),
                ("POST", "/service-accounts/{account_id}/api-tokens"),
            ],
            201,
        ),
        **dict.fromkeys(
            [
                ("POST", "/auth/logout"),
                ("DELETE", "/users/{user_id}"),
                ("DELETE", "/schedules/{schedule_id}"),
                ("DELETE", "/schedules/{schedule_id}/shifts/{shift_id}"),
                ("DELETE", "/schedules/{schedule_id}/rotations/{rotation_id}"),
                ("DELETE", "/escalation-policies/{policy_id}"),
                ("DELETE", "/services/{service_id}"),
                ("DELETE", "/services/{service_id}/maintenance-windows/{window_id}"),
                ("DELETE", "/silences/{silence_id}"),
                ("DELETE", "/webhooks/{webhook_id}"),
                ("DELETE", "/teams/{team_id}"),
                ("DELETE", "/teams/{team_id}/members/{user_id}"),
                ("DELETE", "/me/api-tokens/{token_id}"),
                ("DELETE", "/users/{user_id}/api-tokens/{token_id}"),
                ("DELETE", "/service-accounts/{account_id}"),
                ("DELETE", "/service-accounts/{account_id}/api-tokens/{token_id}"),
            ],
            204,
        ),
        ("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): 202,
        ("POST", "/v2/enqueue"): 202,
        ("GET", "/auth/oidc/login"): 302,
        ("PUT", "/me/phone"): 202,
        ("DELETE", "/me/phone"): 204,
    },
    lists={
        ("GET", "/users"): "UserOut",
        ("GET", "/schedules"): "ScheduleOut",
        ("GET", "/schedules/{schedule_id}/shifts"): "ShiftOut",
        ("GET", "/me/shifts"): "ShiftOut",
        ("GET", "/schedules/{schedule_id}/rotations"): "RotationOut",
        ("GET", "/escalation-policies"): "PolicyOut",
        ("GET", "/services"): "ServiceOut",
        ("GET", "/incidents"): "IncidentOut",
        ("GET", "/incidents/{incident_id}/timeline"): "TimelineOut",
        ("GET", "/webhooks"): "WebhookOut",
        ("GET", "/webhooks/{webhook_id}/deliveries"): "DeliveryOut",
        ("GET", "/teams"): "TeamOut",
        ("GET", "/teams/{team_id}/members"): "MemberOut",
        ("GET", "/people"): "PersonOut",
        ("GET", "/audit"): "AuditOut",
        ("GET", "/me/api-tokens"): "ApiTokenOut",
        ("GET", "/users/{user_id}/api-tokens"): "ApiTokenOut",
        ("GET", "/service-accounts"): "ServiceAccountOut",
        ("GET", "/service-accounts/{account_id}/api-tokens"): "ApiTokenOut",
        ("GET", "/services/{service_id}/maintenance-windows"): "WindowOut",
        ("GET", "/silences"): "SilenceOut",
        ("GET", "/alerts"): "SuppressedAlertOut",
    },
    integration_key=frozenset({("POST", "/integrations/alertmanager"), ("POST", "/integrations/grafana")}),
    media={
        ("GET", "/schedules/{schedule_id}/calendar.ics"): "text/calendar",
        ("GET", "/users/{user_id}/calendar.ics"): "text/calendar",
        ("GET", "/metrics"): "text/plain",
        ("GET", "/sms/ack/{token}"): "text/html",
        ("POST", "/sms/ack/{token}"): "text/html",
    },
    bodies={
        ("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): "DeliveryOut",
        ("POST", "/v2/enqueue"): "PagerDutyAccepted",
        ("GET", "/auth/oidc/callback"): "SignedInOut",
    },
    foreign={
        ("POST", "/v2/enqueue"): {400: "PagerDutyInvalid", 429: "PagerDutyThrottled"},
        # not ready: the same body as ready, naming each failing check
        ("GET", "/health/ready"): {503: "ReadinessOut"},
    },
    meaning={("GET", "/health/ready"): {503: "Not ready: at least one check failed; each failing one says why"}},
    optional=frozenset({("GET", "/auth/oidc/login"), ("GET", "/auth/oidc/callback"), ("GET", "/me/phone")}),
    pages={
        key: {404: "The link is not one we signed", 410: "The link was used or has expired"}
        for key in (("GET", "/sms/ack/{token}"), ("POST", "/sms/ack/{token}"))
    },
    schemas={
        # the one list whose item no other route returns: its schema is given here
        "AuditOut": AuditOut.model_json_schema(),
        "ApiTokenOut": ApiTokenOut.model_json_schema(),
        "SignedInOut": SignedInOut.model_json_schema(),
        "WindowOut": WindowOut.model_json_schema(),
        "SilenceOut": SilenceOut.model_json_schema(),
        "SuppressedAlertOut": SuppressedAlertOut.model_json_schema(),
        "DeliveryOut": {
            "type": "object",
            "required": ["id", "event_type", "event_id", "status", "attempts", "created_at", "last_attempts"],
            "properties": {
                "id": {"type": "string"},
                "event_type": {"type": "string"},
                "event_id": {"type": "string"},
                "status": {"type": "string", "enum": ["pending", "succeeded", "dead", "cancelled"]},
                "attempts": {"type": "integer"},
                "created_at": {"type": "string", "format": "date-time"},
                "next_attempt_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
                "last_attempts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["at", "status", "ok", "detail", "duration_ms"],
                        "properties": {
                            "at": {"type": "string", "format": "date-time"},
                            "status": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                            "ok": {"type": "boolean"},
                            "detail": {"type": "string"},
                            "duration_ms": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "PagerDutyAccepted": {
            "type": "object",
            "required": ["status", "message", "dedup_key"],
            "properties": {"status": _PD_STATUS, "message": {"type": "string"}, "dedup_key": {"type": "string"}},
        },
        "PagerDutyInvalid": {
            "type": "object",
            "required": ["status", "message", "errors"],
            "properties": {
                "status": _PD_STATUS,
                "message": {"type": "string"},
                "errors": {"type": "array", "items": {"type": "string"}},
            },
        },
        "PagerDutyThrottled": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {"status": _PD_STATUS, "message": {"type": "string"}},
        },
    },
)


class Health(BaseModel):
    status: str
    version: str


@router.get("/health", tags=["meta"], summary="Liveness")
def health() -> Health:
    return Health(status="ok", version=VERSION)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)

    @cache
    def spec() -> str:
        import routes

        routes.register_all(app)  # the document describes every route, not only those requests have loaded
        generated = app.get_openapi_schema(title=TITLE, version=VERSION, description=DESCRIPTION).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        return json.dumps(document.complete(generated, SURFACE))

    @app.get("/openapi.json", include_in_schema=False)
    def openapi():  # type: ignore[no-untyped-def]  # powertools derives schemas from annotations
        return Response(status_code=200, content_type="application/json", body=spec())

    @cache
    def swagger_page() -> str:
        from pathlib import Path

        import aws_lambda_powertools.event_handler as powertools
        from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

        assets = Path(powertools.__file__).parent / "openapi" / "swagger_ui"
        js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
        css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
        # the completed document, not powertools' own, so Swagger UI offers "Authorize" with the bearer scheme
        return generate_swagger_html(spec().replace("</", "<\\/"), js, css, "", None, False)

    @app.get("/docs", include_in_schema=False)
    def docs():  # type: ignore[no-untyped-def]  # powertools derives schemas from annotations
        if (app.current_event.query_string_parameters or {}).get("format") == "json":
            return Response(status_code=200, content_type="application/json", body=spec())
        return Response(status_code=200, content_type="text/html", body=swagger_page())
