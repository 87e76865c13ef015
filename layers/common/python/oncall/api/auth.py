"""Authentication for every route, by default.

``middleware`` runs first among the API's global middlewares: a route not on the explicit ``PUBLIC`` allow-list needs a
valid access token, so a route added tomorrow is protected without anyone remembering to protect it. It verifies the
token, reads the user once (the only DynamoDB read auth costs a request), exposes the caller to route code
(``current_user()``, ``require(Role.ADMIN)``) and to the idempotency middleware (``app.context["principal_id"]``).
A bearer string that is one of our API tokens is checked here too, with its own one read, and the route's scope
(``oncall.domain.api_tokens.authorize_route``) before the role checks every caller meets.

Viewers read: a mutating method from a viewer is refused here unless the route is on ``VIEWER_WRITABLE`` (their own
profile, password, Telegram link, logout, and, since a viewer can be put on call and paged, their own notification
rules, personal calendar feed and API tokens), so write routes are responder-or-better by default too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from oncall.api.errors import envelope, error_response
from oncall.domain.api_tokens import authorize_route, is_api_token
from oncall.domain.errors import Forbidden, Unauthenticated
from oncall.domain.users import Role, User

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

    from oncall.services.auth import Principal

#: (method, resolver path) pairs anyone may call; each authenticates some other way or not at all
PUBLIC: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/health"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("POST", "/auth/login"),
        ("POST", "/auth/refresh"),
        ("GET", "/auth/oidc/login"),  # single sign-on: the identity provider authenticates
        ("GET", "/auth/oidc/callback"),
        ("POST", "/telegram/webhook"),  # secret-token header
        ("POST", "/v2/enqueue"),  # integration key in the body
        ("POST", "/integrations/alertmanager"),  # integration key as bearer
        ("POST", "/integrations/grafana"),
        ("GET", "/schedules/<schedule_id>/calendar.ics"),  # per-feed token
        ("GET", "/users/<user_id>/calendar.ics"),  # per-feed token
        ("GET", "/sms/ack/<token>"),  # the signed, expiring, single-use token
        ("POST", "/sms/ack/<token>"),
    }
)

#: monitoring routes: the metrics bearer token (``MetricsSettings``) lets a scraper in without a person's account;
#: any other caller must be a signed-in admin (``require_monitor``)
MONITORING: frozenset[tuple[str, str]] = frozenset({("GET", "/metrics"), ("GET", "/health/ready")})

#: mutating routes a viewer may still call: their own things
VIEWER_WRITABLE: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/auth/logout"),
        ("PATCH", "/me"),
        ("POST", "/me/password"),
        ("POST", "/users/<user_id>/telegram-link"),
        # a person who can be on call manages how they are told and sees their own shifts
        ("PUT", "/me/notification-rules"),
        ("PUT", "/me/phone"),
        ("POST", "/me/phone/verify"),
        ("DELETE", "/me/phone"),
        ("POST", "/me/calendar-token"),
        # a read-only dashboard is a viewer's own token (its scopes cannot exceed the viewer's reads)
        ("POST", "/me/api-tokens"),
        ("DELETE", "/me/api-tokens/<token_id>"),
    }
)

_MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
_principal: ContextVar[Principal | None] = ContextVar("oncall_principal", default=None)
#: handed from ``precheck`` (before the resolver) to ``middleware`` (inside it) for the same request
_pending: ContextVar[Principal | None] = ContextVar("oncall_pending_principal", default=None)
#: the request presented the metrics token (a monitoring route, no person behind it)
_monitor: ContextVar[bool] = ContextVar("oncall_monitor", default=False)


def bearer_token(headers: dict[str, str] | None) -> str | None:
    for name, value in (headers or {}).items():
        if name.lower() == "authorization":
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


_CHALLENGE = 'Bearer realm="oncall"'


def _unauthorized(exc: Unauthenticated) -> Response[Any]:
    return error_response(401, exc.code, exc.message, exc.details, {"WWW-Authenticate": _CHALLENGE})


def _authenticate(headers: dict[str, str] | None) -> Principal:
    token = bearer_token(headers)
    if token is None:
        raise Unauthenticated("missing bearer token", reason="missing")
    from oncall import wiring

    if is_api_token(token):
        return wiring.core.api_token_service().authenticate(token)
    return wiring.core.auth_service().authenticate(token)


def _is_monitor(key: tuple[str, str] | None, headers: dict[str, str] | None) -> bool:
    """A monitoring route called with the metrics token (compared in constant time)."""
    if key not in MONITORING:
        return False
    token = bearer_token(headers)
    if token is None or is_api_token(token):
        return False
    import hmac

    from oncall import wiring

    try:
        expected = wiring.core.metrics_token()
    except Exception:  # an unreadable secret must not lock admins out too: their token is checked next
        from oncall.observability import log

        log.exception("the metrics token could not be read")
        return False
    return expected is not None and hmac.compare_digest(token.encode(), expected.encode())


def _route_key(app: APIGatewayHttpResolver, method: str, path: str) -> tuple[str, str] | None:
    """The (method, resolver path) of the route powertools will pick, or None when none matches (404/405)."""
    for route in (*app._static_routes, *app._dynamic_routes):
        if route.method.upper() == method and route.rule.match(path):
            return route.method.upper(), str(route.path)
    return None


def precheck(app: APIGatewayHttpResolver, event: dict[str, Any]) -> dict[str, Any] | None:
    """Authenticate before the resolver runs, so a caller without a valid token learns nothing else (not even that
    the body fails validation, which powertools checks before any middleware). Returns a 401 response or None."""
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

    _pending.set(None)  # nothing from an earlier invocation of this warm container may leak into this one
    _monitor.set(False)
    proxy = APIGatewayProxyEventV2(event)  # the resolver's own reading of method and path (stage prefix removed)
    key = _route_key(app, proxy.http_method.upper(), proxy.path)
    if key is None or key in PUBLIC:
        return None
    if _is_monitor(key, event.get("headers")):
        _monitor.set(True)
        return None
    try:
        _pending.set(_authenticate(event.get("headers")))
    except Unauthenticated as exc:
        return {
            "statusCode": 401,
            "headers": {"Content-Type": "application/json", "WWW-Authenticate": _CHALLENGE},
            "body": json.dumps(envelope(exc.code, exc.message, exc.details)),
            "isBase64Encoded": False,
        }
    return None


def resolve_as(
    app: APIGatewayHttpResolver, principal: Principal, event: dict[str, Any], context: Any
) -> dict[str, Any]:
    """Resolve ``event`` for a caller the console already authenticated from its session cookie: the same route,
    role, scope and validation checks as any API request, without reading the user again for each of a page's calls.
    The event must still carry that caller's bearer token (routes that read it, such as logout, see the same)."""
    _pending.set(principal)
    try:
        return app.resolve(event, context)
    finally:
        _pending.set(None)


def middleware(
    app: APIGatewayHttpResolver, next_middleware: Callable[[APIGatewayHttpResolver], Response[Any]]
) -> Response[Any]:
    route = app.context.get("_route")
    registered = (*app._static_routes, *app._dynamic_routes)
    if route is None or not any(route is r for r in registered):
        # unmatched: powertools runs its synthetic 404 route through middlewares too; 404/405 protects nothing
        return next_middleware(app)
    key = (route.method.upper(), route.path)
    if key in PUBLIC:
        return next_middleware(app)
    if _monitor.get() or _is_monitor(key, app.current_event.headers):
        _monitor.set(True)
        try:
            return next_middleware(app)
        finally:
            _monitor.set(False)
    # normally ``precheck`` authenticated already; a resolver driven without it authenticates here
    principal = _pending.get()
    _pending.set(None)
    if principal is None:
        try:
            principal = _authenticate(app.current_event.headers)
        except Unauthenticated as exc:
            return _unauthorized(exc)
    if principal.token is not None:
        authorize_route(principal.token, *key)
    if principal.user.role is Role.VIEWER and key[0] in _MUTATING and key not in VIEWER_WRITABLE:
        raise Forbidden("viewers cannot change anything here", role=principal.user.role.value)
    app.context["principal_id"] = principal.user.id
    reset = _principal.set(principal)
    try:
        return next_middleware(app)
    finally:
        _principal.reset(reset)


def current_principal() -> Principal:
    principal = _principal.get()
    if principal is None:
        # a route on the PUBLIC list asked for a user: a programming error, not the client's
        raise RuntimeError("current_user() called outside an authenticated request")
    return principal


def current_user() -> User:
    return current_principal().user


def require_monitor() -> None:
    """The caller of a monitoring route: the metrics token, or a signed-in admin; otherwise ``Forbidden``."""
    if not _monitor.get():
        require(Role.ADMIN)


def require(*roles: Role) -> User:
    """The caller, if their role is one of ``roles``; otherwise ``Forbidden`` (403)."""
    user = current_user()
    if user.role not in roles:
        raise Forbidden(
            f"requires role {' or '.join(r.value for r in roles)}",
            required=[r.value for r in roles],
            role=user.role.value,
        )
    return user
