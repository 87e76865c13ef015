"""``Idempotency-Key`` on POSTs, backed by powertools idempotency and the ``idempotency`` table.

A client that retries a creating POST with the same key gets the first response again (with ``Idempotent-Replayed:
true``) instead of a second resource. The key is scoped to the caller and the route, and bound to a hash of the body:
reusing a key with a different body is a 422, a retry while the first attempt still runs is a 409. A request that
failed (4xx/5xx raised as an exception) leaves no record, so it can be retried with the same key.

A replay record lives a day in the ``idempotency`` table, so it never holds a secret:

- routes whose answer *is* a secret (tokens, link codes, feed tokens, a rotated key or signing secret) keep no record
  at all (``NOT_RECORDED``): the key is ignored and every call runs, so a login replayed after a password change
  is refused like any login with the old password;
- creating routes whose answer carries a secret shown once (a service's integration key, a webhook's signing
  secret) record the answer without it (``REDACTED``): the first answer has it, a replay answers ``null`` in its
  place and says so in ``Idempotent-Redacted`` (rotate the key or secret to get a new one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oncall.api.errors import error_response, is_safe_token
from oncall.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

HEADER = "idempotency-key"
REPLAY_HEADER = "Idempotent-Replayed"
REDACTED_HEADER = "Idempotent-Redacted"

#: (method, resolver path) of routes whose answer is a secret: never recorded, the key is ignored
NOT_RECORDED: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/auth/login"),
        ("POST", "/auth/refresh"),
        ("POST", "/me/password"),
        ("POST", "/me/calendar-token"),
        ("POST", "/schedules/<schedule_id>/calendar-token"),
        ("POST", "/users/<user_id>/telegram-link"),
        ("POST", "/services/<service_id>/rotate-key"),
        ("POST", "/webhooks/<webhook_id>/rotate-secret"),
    }
)
#: (method, resolver path) → the answer's fields that are secrets: recorded as null
REDACTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/services"): ("integration_key",),
    ("POST", "/webhooks"): ("secret",),
}

_runner: Callable[..., dict[str, Any]] | None = None
_config: Any = None


def _build() -> Callable[..., dict[str, Any]]:
    global _runner, _config
    if _runner is None:
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        settings = get_settings()

        def _mark_replay(response: Any, _data: Any) -> Any:  # the hook protocol takes a DataRecord
            response.setdefault("headers", {})[REPLAY_HEADER] = "true"
            return response

        _config = IdempotencyConfig(
            event_key_jmespath="[principal, route, key]",
            payload_validation_jmespath="body_sha256",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=settings.idempotency_ttl_seconds,
            hash_function="sha256",
            response_hook=_mark_replay,  # type: ignore[arg-type]
        )
        store = DynamoDBPersistenceLayer(table_name=settings.table("idempotency"))

        @idempotent_function(data_keyword_argument="request", persistence_store=store, config=_config)
        def run(*, request: dict[str, Any], call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
            return call()

        _runner = run
    return _runner


def middleware(
    app: APIGatewayHttpResolver, next_middleware: Callable[[APIGatewayHttpResolver], Response[Any]]
) -> Response[Any]:
    from aws_lambda_powertools.event_handler import Response
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    event = app.current_event
    key = event.headers.get(HEADER) if event.headers else None
    if event.http_method.upper() != "POST" or key is None:
        return next_middleware(app)
    route = _route_key(app)
    if route in NOT_RECORDED:
        return next_middleware(app)
    if not is_safe_token(key):
        return error_response(
            400,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
            {"fields": [{"field": "Idempotency-Key", "message": "1-255 visible ASCII characters"}]},
        )

    #: this attempt's own answer, when it ran (not a replay): the client gets it whole, the record loses secrets
    ran: dict[str, dict[str, Any]] = {}

    def call() -> dict[str, Any]:
        response = next_middleware(app)
        body = response.body
        if not isinstance(body, (str, bytes)) and body is not None:
            body = app._serializer(body)
        if isinstance(body, bytes):
            body = body.decode()
        answer = {
            "status": response.status_code,
            "content_type": response.headers.get("Content-Type"),
            "headers": {k: v for k, v in response.headers.items() if k != "Content-Type"},
            "body": body,
        }
        ran["answer"] = answer
        return _without_secrets(answer, REDACTED.get(route or ("", ""), ()))

    request = {
        "principal": str(app.context.get("principal_id", "anonymous")),
        "route": f"POST {event.path}",
        "key": key,
        "body_sha256": hashlib.sha256((event.body or "").encode()).hexdigest(),
    }
    run = _build()
    # In-progress records then expire with the invocation, so a crashed attempt does not block retries for a day.
    _config.register_lambda_context(app.lambda_context)
    try:
        result = run(request=request, call=call)
    except IdempotencyValidationError:
        return error_response(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request body",
            {"fields": [{"field": "Idempotency-Key", "message": "reused with a different body"}]},
        )
    except IdempotencyAlreadyInProgressError:
        return error_response(
            409,
            "request_in_progress",
            "a request with this Idempotency-Key is still in progress",
            {},
            {"Retry-After": "1"},
        )
    result = ran.get("answer", result)
    headers = dict(result.get("headers") or {})
    return Response(
        status_code=int(result["status"]),
        content_type=result.get("content_type") or "application/json",
        body=result.get("body"),
        headers=headers,
    )


def _route_key(app: APIGatewayHttpResolver) -> tuple[str, str] | None:
    route = app.context.get("_route")
    if route is None:
        return None
    return str(route.method).upper(), str(route.path)


def _without_secrets(answer: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``answer`` as it may be stored: each of ``fields`` in a JSON object body set to null, and named in
    ``Idempotent-Redacted`` so the replay says what it left out."""
    body = answer.get("body")
    if not fields or not isinstance(body, str):
        return answer
    try:
        parsed = json.loads(body)
    except ValueError:
        return answer
    if not isinstance(parsed, dict):
        return answer
    removed = [f for f in fields if parsed.get(f) is not None]
    if not removed:
        return answer
    for name in removed:
        parsed[name] = None
    headers = {**answer.get("headers", {}), REDACTED_HEADER: ",".join(removed)}
    return {**answer, "headers": headers, "body": json.dumps(parsed, separators=(",", ":"))}


def stable_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
