"""API tokens: long-lived, scoped, revocable credentials for automation (docs/architecture.md, "API tokens").

A token is ``och_<owner id>.<token id>.<secret>``. The owner is a person (a personal token) or a team's service
account; the secret (256 random bits) is shown once and only its SHA-256 is stored: a secret that long needs no slow
KDF, and a fast hash lets the one read per request stay one read. Naming the owner in the token is what makes that
read one: the owner's user item and the token's item share a partition and come back from one ``BatchGetItem``.

A token acts as its owner, narrowed by its scopes: the owner's role and team roles decide what the token *could* do
(``oncall.domain.teams``), the scope of the route (``required_scope``) decides whether this token may try. Signing in,
changing a password and minting more tokens need a person's session, never a token: a leaked token cannot make
itself permanent. Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from oncall.domain.errors import Forbidden, InvalidInput
from oncall.domain.names import check_name

PREFIX = "och_"
#: how long after the last recorded use a use is written down again: last use is for people, to the minute
TOUCH_INTERVAL = timedelta(minutes=5)
NAME_MAX = 100
#: per owner: a listing stays one page and a leaked owner cannot mint without bound
MAX_PER_OWNER = 50

RESOURCES: tuple[str, ...] = (
    "incidents",
    "schedules",
    "policies",
    "services",
    "teams",
    "users",
    "webhooks",
    "audit",
    "analytics",
)
#: every scope a token may hold: ``<resource>:read`` and ``<resource>:write`` (write includes nothing else)
SCOPES: frozenset[str] = frozenset(f"{r}:{a}" for r in RESOURCES for a in ("read", "write"))

#: the first segment of a route's path → the resource its scopes name
_RESOURCE_OF_SEGMENT: dict[str, str] = {
    "incidents": "incidents",
    "analytics": "analytics",
    "schedules": "schedules",
    "escalation-policies": "policies",
    "services": "services",
    # routing belongs to services: a token that may change a service may change how its alerts are routed
    "alerts": "services",
    "silences": "services",
    "maintenance-windows": "services",
    "teams": "teams",
    "service-accounts": "teams",
    "people": "users",
    "users": "users",
    "webhooks": "webhooks",
    "audit": "audit",
}
#: routes a token may never call: they need a person at a keyboard
SESSION_ONLY: frozenset[tuple[str, str]] = frozenset(
    {
        ("POST", "/auth/logout"),
        ("POST", "/me/password"),
        ("GET", "/me/api-tokens"),
        ("POST", "/me/api-tokens"),
        ("DELETE", "/me/api-tokens/<token_id>"),
        ("POST", "/service-accounts/<account_id>/api-tokens"),
        ("POST", "/users/<user_id>/telegram-link"),
        ("POST", "/me/calendar-token"),
        ("POST", "/schedules/<schedule_id>/calendar-token"),
        # a phone number is verified by the person holding the phone
        ("GET", "/me/phone"),
        ("PUT", "/me/phone"),
        ("POST", "/me/phone/verify"),
        ("DELETE", "/me/phone"),
    }
)
#: any valid token may ask who it is
ANY_TOKEN: frozenset[tuple[str, str]] = frozenset({("GET", "/me")})
_ME_RESOURCE: dict[str, str] = {"shifts": "schedules", "notification-rules": "users"}

_SECRET = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ApiToken:
    """A token as stored, without its secret."""

    id: str
    owner_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    #: the owner's ``api_token_epoch`` at minting: disabling the owner raises theirs and ends this token for good
    owner_epoch: int = 0

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def touch_due(self, now: datetime) -> bool:
        return self.last_used_at is None or now - self.last_used_at >= TOUCH_INTERVAL


@dataclass(frozen=True)
class Presented:
    """What a bearer string says, before anything is looked up."""

    owner_id: str
    token_id: str
    secret: str


def compose(owner_id: str, token_id: str, secret: str) -> str:
    return f"{PREFIX}{owner_id}.{token_id}.{secret}"


def is_api_token(bearer: str) -> bool:
    return bearer.startswith(PREFIX)


def parse(bearer: str) -> Presented | None:
    """None for anything not shaped like one of our tokens (then it is refused like a wrong secret)."""
    owner_id, _, rest = bearer.removeprefix(PREFIX).partition(".")
    token_id, _, secret = rest.partition(".")
    if not (_ID.match(owner_id) and _ID.match(token_id) and _SECRET.match(secret)):
        return None
    return Presented(owner_id, token_id, secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def check_token_name(raw: str) -> str:
    return check_name(raw, "name", max_length=NAME_MAX)


def check_scopes(raw: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    if not raw:
        raise InvalidInput("scopes", "name at least one scope, e.g. incidents:read")
    unknown = sorted(set(raw) - SCOPES)
    if unknown:
        raise InvalidInput("scopes", f"unknown scopes {unknown}; known: {sorted(SCOPES)}")
    return tuple(sorted(set(raw)))


def check_expiry(expires_at: datetime | None, now: datetime) -> datetime | None:
    if expires_at is not None and expires_at <= now:
        raise InvalidInput("expires_at", "must be in the future")
    return expires_at


def required_scope(method: str, route: str) -> str | None:
    """The scope a token needs for ``method route`` (the resolver's path, ``/incidents/<incident_id>``); None when
    no token may call it. ``GET`` and ``HEAD`` read; every other method writes."""
    segments = [p for p in route.split("/") if p]
    if not segments or (method, route) in SESSION_ONLY:
        return None
    action = "read" if method in ("GET", "HEAD") else "write"
    first = segments[0]
    if first == "me":
        resource = _ME_RESOURCE.get(segments[1]) if len(segments) > 1 else "users"
    else:
        resource = _RESOURCE_OF_SEGMENT.get(first)
    return f"{resource}:{action}" if resource else None


def authorize_route(token: ApiToken, method: str, route: str) -> None:
    """Nothing if ``token`` may call the route; ``Forbidden`` naming the scope it lacks otherwise."""
    if (method, route) in ANY_TOKEN:
        return
    needed = required_scope(method, route)
    if needed is None:
        raise Forbidden("API tokens cannot call this route; sign in as a person", reason="session_required")
    if needed not in token.scopes:
        raise Forbidden(f"this token lacks the scope {needed}", reason="insufficient_scope", required=needed)
