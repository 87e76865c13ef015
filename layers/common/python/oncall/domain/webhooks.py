"""Outgoing webhooks: subscriptions, Standard Webhooks signatures and the retry schedule. Pure; no I/O, no clock.

Signing follows the Standard Webhooks specification (https://www.standardwebhooks.com, "Signature scheme"):

- headers ``webhook-id`` (the delivery's id, the same on every retry: receivers deduplicate on it),
  ``webhook-timestamp`` (integer seconds since the epoch, of this attempt) and ``webhook-signature``;
- the signed content is ``f"{id}.{timestamp}.{body}"``; the signature is ``v1,`` + base64(HMAC-SHA256(key, content))
  where ``key`` is the base64-decoded part of the secret after the ``whsec_`` prefix;
- ``webhook-signature`` holds several space-separated signatures while a secret is being rotated, so a receiver that
  still knows only the previous secret keeps verifying.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from oncall.domain.errors import InvalidInput
from oncall.domain.events import KNOWN_DETAIL_TYPES

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format prefix, not a secret)
#: the spec asks for 24-64 random bytes; 32 is what its reference libraries generate
SECRET_BYTES = 32
#: a receiver should refuse timestamps further than this from its clock (replay protection)
TOLERANCE = timedelta(minutes=5)

#: Standard Webhooks' recommended schedule (Svix): immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after
#: each failure: eight attempts spread over ~27 h, so a receiver that is down for a day still gets every event
DEFAULT_RETRY_SCHEDULE: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
#: an SQS message can be delayed by at most 15 minutes; longer waits are chained
MAX_QUEUE_DELAY_S = 900
#: longest request we make to a receiver (the issue caps it at 15 s)
MAX_TIMEOUT_S = 15.0
MAX_URL_CHARS = 2048
MAX_EVENTS = 32

#: event types a subscription may name: what the bus carries (docs/architecture.md, "How an event flows"), or a
#: wildcard per entity
EVENT_TYPES: frozenset[str] = KNOWN_DETAIL_TYPES - {
    # about webhooks themselves: announced on the bus for operators, not offered to the subscriptions it concerns
    "webhook.disabled"
}
WILDCARDS: frozenset[str] = frozenset({"*", "incident.*", "shift.*", "reminder.*", "team.*"})


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    #: every scheduled attempt failed: listed at GET /webhooks/{id}/deliveries, redeliverable
    DEAD = "dead"
    #: the subscription was deleted or disabled before the delivery went out
    CANCELLED = "cancelled"


# -- secrets and signatures ----------------------------------------------------------------------------------------


def new_secret(random_bytes: bytes) -> str:
    """``whsec_`` + base64 of the random bytes (the caller draws them from ``secrets.token_bytes``)."""
    if len(random_bytes) < 24 or len(random_bytes) > 64:
        raise ValueError("a webhook secret needs 24-64 random bytes")
    return SECRET_PREFIX + base64.b64encode(random_bytes).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded part after ``whsec_`` (the prefix is optional, as in the spec's libraries)."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("secret", "not a base64 webhook secret") from None


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``{id}.{timestamp}.{body}``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per active secret, space-separated (rotation overlap)."""
    if not secrets:
        raise ValueError("at least one secret")
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets)


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(secret: str, msg_id: str, timestamp: str, body: bytes, signature_header_value: str, now: datetime) -> bool:
    """Receiver side (used by our own tests of the format only; the acceptance tests use an independent verifier):
    any ``v1`` signature matching, timestamp within ``TOLERANCE`` of ``now``."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now.timestamp() - ts) > TOLERANCE.total_seconds():
        return False
    expected = sign(secret, msg_id, ts, body).encode()
    for candidate in signature_header_value.split():
        if candidate.startswith("v1,") and hmac.compare_digest(candidate.encode(), expected):
            return True
    return False


# -- subscriptions -------------------------------------------------------------------------------------------------


def check_events(events: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated event types in the given order (``incident.*`` etc. allowed)."""
    out: list[str] = []
    for i, name in enumerate(events):
        if name not in EVENT_TYPES and name not in WILDCARDS:
            raise InvalidInput(f"events[{i}]", f"unknown event type {name!r}", allowed=sorted(EVENT_TYPES | WILDCARDS))
        if name not in out:
            out.append(name)
    if not out:
        raise InvalidInput("events", "name at least one event type")
    if len(out) > MAX_EVENTS:
        raise InvalidInput("events", f"at most {MAX_EVENTS} event types")
    return tuple(out)


def matches(subscribed: Iterable[str], event_type: str) -> bool:
    for name in subscribed:
        if name == event_type or name == "*":
            return True
        if name.endswith(".*") and event_type.startswith(name[:-1]):
            return True
    return False


_URL = re.compile(r"^https?://", re.IGNORECASE)


def check_url_shape(url: str) -> str:
    """Cheap checks before any DNS: scheme http(s), length, no credentials in the URL. The SSRF guard
    (``oncall.adapters.ssrf``) does the address checks at creation and again at every delivery."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise InvalidInput("url", f"at most {MAX_URL_CHARS} characters")
    if not _URL.match(url):
        raise InvalidInput("url", "only http:// and https:// URLs are accepted")
    return url


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: datetime
    #: while ``now < previous_until`` deliveries carry a second signature made with ``previous_secret``
    previous_secret: str | None = None
    previous_until: datetime | None = None
    enabled: bool = True
    disabled_reason: str | None = None
    #: dead-lettered deliveries since the last success; at the threshold the subscription is disabled
    consecutive_dead: int = 0
    version: int = 1
    description: str | None = None
    #: only events of these teams (their ``team_id``); empty: every event, team or not
    teams: tuple[str, ...] = ()

    def signing_secrets(self, now: datetime) -> tuple[str, ...]:
        if self.previous_secret and self.previous_until is not None and now < self.previous_until:
            return (self.secret, self.previous_secret)
        return (self.secret,)

    def wants(self, event_type: str, team_id: str | None = None) -> bool:
        """An event of ``event_type`` (of ``team_id``, for the events that belong to a team) is delivered here."""
        if self.teams and team_id not in self.teams:
            return False
        return self.enabled and matches(self.events, event_type)


# -- retries -------------------------------------------------------------------------------------------------------


def parse_schedule(raw: str) -> tuple[int, ...]:
    """``"5,300,1800"`` → seconds to wait after the 1st, 2nd, 3rd failure."""
    try:
        values = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise InvalidInput("retry_schedule", "comma-separated whole seconds") from None
    if any(v < 0 for v in values):
        raise InvalidInput("retry_schedule", "delays must not be negative")
    return values


def next_delay(schedule: Sequence[int], attempts_made: int) -> int | None:
    """Seconds until the next attempt after ``attempts_made`` failed ones, or None when the schedule is spent."""
    if attempts_made < 1:
        return 0
    index = attempts_made - 1
    return schedule[index] if index < len(schedule) else None


def horizon(schedule: Sequence[int]) -> timedelta:
    """How long after the first attempt the last one is made."""
    return timedelta(seconds=sum(schedule))


def queue_delay(due: datetime, now: datetime) -> int:
    """The SQS ``DelaySeconds`` for a message that must not be processed before ``due``: capped at 15 minutes, so a
    longer wait is a chain of delayed messages (the consumer re-sends one that arrives early)."""
    wait = (due - now).total_seconds()
    if wait <= 0:
        return 0
    return min(MAX_QUEUE_DELAY_S, int(wait) + (0 if wait == int(wait) else 1))


@dataclass(frozen=True)
class Attempt:
    at: datetime
    #: HTTP status, or None when there was no response (timeout, refused, blocked by the SSRF guard)
    status: int | None
    ok: bool
    detail: str
    duration_ms: int


def is_success(status: int | None) -> bool:
    """2xx only: redirects are not followed (a 3xx could point anywhere, including inside our network)."""
    return status is not None and 200 <= status < 300


#: attempts kept on a delivery record (the newest ones); the count itself is always exact
HISTORY_KEPT = 10


@dataclass(frozen=True)
class WebhookDelivery:
    """One event to one subscription. ``id`` is the ``webhook-id`` of every attempt (stable across retries and
    redeliveries), derived from the event id and the subscription id so a duplicated fan-out creates nothing new."""

    id: str
    subscription_id: str
    event_type: str
    event_id: str
    body: str
    status: DeliveryStatus
    created_at: datetime
    attempts: int = 0
    next_attempt_at: datetime | None = None
    history: tuple[Attempt, ...] = ()


def delivery_id(event_id: str, subscription_id: str) -> str:
    digest = hashlib.sha256(f"{event_id}|{subscription_id}".encode()).hexdigest()[:26]
    return f"msg_{digest}"
