"""The one place where failures become HTTP responses.

Every error leaves as ``{"error": {"code", "message", "details"}}`` (docs/architecture.md, "Conventions"). Domain
errors map by type; validation errors name the field; anything unexpected is logged with its stack and answered with a
bare 500 envelope, so no response ever carries a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from oncall.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from oncall.observability import log as logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response


_STATUS_BY_TYPE: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (RateLimited, 429),
)


def status_for(exc: DomainError) -> int:
    for kind, status in _STATUS_BY_TYPE:
        if isinstance(exc, kind):
            return status
    return 400


def envelope(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Any]:
    from aws_lambda_powertools.event_handler import Response

    return Response(
        status_code=status,
        content_type="application/json",
        body=json.dumps(envelope(code, message, details)),
        headers=dict(headers or {}),
    )


def raw_error(status: int, code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An API Gateway (payload 2.0) response for failures caught before the resolver runs."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(envelope(code, message, details)),
        "isBase64Encoded": False,
    }


def field_name(loc: Iterable[Any]) -> str:
    """("body", "levels", 0, "timeout_seconds") → levels[0].timeout_seconds; ("query", "limit") → limit."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "headers"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "body"


def validation_details(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    fields = []
    for err in errors:
        message = str(err.get("msg", "invalid"))
        fields.append({"field": field_name(err.get("loc", ())), "message": message, "type": str(err.get("type", ""))})
    return fields


def install(app: APIGatewayHttpResolver) -> None:
    """Register the exception handlers and the not-found handler on ``app``."""
    from aws_lambda_powertools.event_handler.exceptions import NotFoundError
    from aws_lambda_powertools.event_handler.openapi.exceptions import (
        RequestUnsupportedContentType,
        RequestValidationError,
    )

    @app.exception_handler(RequestUnsupportedContentType)
    def _media_type(_: RequestUnsupportedContentType) -> Response[Any]:
        declared = app.current_event.headers.get("content-type", "")
        media = declared.partition(";")[0].strip().lower()[:100]
        return error_response(
            415,
            "unsupported_media_type",
            "request body must be application/json",
            {"content_type": media, "accepted": ["application/json"]},
        )

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response[Any]:
        fields = validation_details(exc.errors())
        # A body that is not valid JSON for the model's container is a malformed request, not a bad field.
        if any(f["type"] == "json_invalid" for f in fields):
            return error_response(400, "malformed_json", "request body is not valid JSON")
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        return error_response(422, "validation_error", summary or "invalid request", {"fields": fields})

    @app.exception_handler(DomainError)
    def _domain(exc: DomainError) -> Response[Any]:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        return error_response(status_for(exc), exc.code, exc.message, exc.details, headers)

    @app.not_found
    def _not_found(_: NotFoundError) -> Response[Any]:
        method = app.current_event.http_method.upper()
        path = app.current_event.path
        allowed = sorted(
            {r.method for r in (*app._static_routes, *app._dynamic_routes) if r.rule.match(path) and r.method != method}
        )
        if allowed:
            return error_response(
                405,
                "method_not_allowed",
                f"{method} is not allowed on {path}",
                {"allowed": allowed},
                {"Allow": ", ".join(allowed)},
            )
        return error_response(404, "route_not_found", f"no route for {method} {path}")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[Any]:
        if refused_for_capacity(exc):
            # the refused write was not made, and every use case decides again from what is stored, so the retry that
            # Alertmanager, Grafana and PagerDuty clients send finishes the work (a released key still resolves)
            logger.warning("DynamoDB refused for capacity after retries", extra={"path": app.current_event.path})
            return error_response(
                503, "unavailable", "storage is busy; send the request again", {"retry_after": 2}, {"Retry-After": "2"}
            )
        logger.exception("unhandled error", extra={"path": app.current_event.path})
        return error_response(500, "internal_error", "internal error; the request id is in the logs")


def refused_for_capacity(exc: BaseException) -> bool:
    """DynamoDB still refused a write for capacity (a hot partition key) after the SDK's and the kit's retries: that
    write was not made, and sending the request again finishes it."""
    from oncall.adapters.dynamodb import kit

    if isinstance(exc, kit.Cancelled):
        return exc.any_of(kit.THROTTLED) and not exc.condition_failed()
    return kit.error_code(exc) in kit.THROTTLED_ERRORS


_SAFE_HEADER = re.compile(r"^[\x21-\x7e]{1,255}$")


def is_safe_token(value: str) -> bool:
    """Visible ASCII, bounded: what we accept in header-borne keys (Idempotency-Key, cursors)."""
    return bool(_SAFE_HEADER.match(value))
