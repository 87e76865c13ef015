"""Services and their integration keys. Pure; ``now`` and randomness are passed in or drawn from ``secrets`` only
where a key is minted.

An integration key (like a PagerDuty routing key) authenticates an alert source for one service: 32 characters from
``[a-z0-9]`` (~165 bits), shown once at creation/rotation and stored only as its SHA-256. A request's key is hashed
and looked up by that hash (a key-value read), then the stored hash is compared in constant time, so neither the
lookup nor the comparison leaks a prefix through timing. Rotation keeps the previous key valid for a short overlap so
senders can be reconfigured without dropping alerts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oncall.domain import names
from oncall.domain.errors import InvalidInput
from oncall.domain.page_content import URL_MAX, safe_url

KEY_LENGTH = 32
KEY_ALPHABET = string.ascii_lowercase + string.digits
#: how long the previous key keeps working after a rotation
ROTATION_OVERLAP = timedelta(hours=1)
NAME_MAX = 100


def new_integration_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hashes_match(stored: str, presented_hash: str) -> bool:
    return hmac.compare_digest(stored.encode(), presented_hash.encode())


def looks_like_key(raw: str) -> bool:
    return len(raw) == KEY_LENGTH and all(c in KEY_ALPHABET for c in raw)


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    escalation_policy_id: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    #: sha256 of the current key; the previous one until ``previous_key_expires_at``
    key_hash: str = ""
    previous_key_hash: str | None = None
    previous_key_expires_at: datetime | None = None
    key_rotated_at: datetime | None = None
    version: int = 1
    #: what to do when this service pages (an absolute http(s) URL); a page links to it unless the alert has its own
    runbook_url: str | None = None
    #: the owning team (``oncall.domain.teams``); None: stored before teams, the default team's
    team_id: str | None = None
    #: the version of its routing (``oncall.domain.routing.Routing``): read with the service on every alert, it tells
    #: a warm function whether its cached routing is current without reading it
    routing_version: int = 0
    #: the Slack channel (its id, ``C0123ABCD``) every incident of the service is posted to, besides the pages
    slack_channel: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "team_id": self.team_id or "default",
            "description": self.description,
            "runbook_url": self.runbook_url,
            "slack_channel": self.slack_channel,
            "escalation_policy_id": self.escalation_policy_id,
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
            "updated_at": self.updated_at.isoformat().replace("+00:00", "Z"),
            "key_rotated_at": self.key_rotated_at.isoformat().replace("+00:00", "Z") if self.key_rotated_at else None,
            "previous_key_expires_at": (
                self.previous_key_expires_at.isoformat().replace("+00:00", "Z")
                if self.previous_key_expires_at
                else None
            ),
            "version": self.version,
        }


def check_name(raw: str) -> str:
    """The rule every name follows (``oncall.domain.names``), with runs of spaces made one."""
    return " ".join(names.check_name(raw, max_length=NAME_MAX).split())


def check_runbook_url(raw: str | None) -> str | None:
    """An absolute http(s) URL of at most ``URL_MAX`` characters, or None to have none. Anything else (a relative
    path, ``javascript:``, a bare host) would become a broken or hostile link on every page."""
    if raw is None or not raw.strip():
        return None
    url = safe_url(raw)
    if url is None:
        raise InvalidInput("runbook_url", f"must be an absolute http(s) URL of at most {URL_MAX} characters")
    return url


def key_valid(service: Service, presented_hash: str, now: datetime) -> bool:
    """Whether a key hashing to ``presented_hash`` opens ``service`` at ``now`` (current key, or previous within the
    overlap). Both comparisons always run, so the answer's timing does not say which one matched."""
    current = hashes_match(service.key_hash, presented_hash)
    previous = service.previous_key_hash is not None and hashes_match(service.previous_key_hash, presented_hash)
    in_overlap = service.previous_key_expires_at is not None and now < service.previous_key_expires_at
    return current or (previous and in_overlap)
