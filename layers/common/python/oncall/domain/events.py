"""The domain-event contract on the ``oncall`` bus (docs/architecture.md, "How an event flows"), independent of how
events travel.

An event says "this entity is now like this": ``detail`` is the entity's snapshot plus ``version``, a number that
grows by at least one with every change of that entity. EventBridge delivers at least once and in no particular
order, so a consumer keeps the highest version it has acted on per entity and drops anything not above it
(``is_newer``).

``detail-type`` is ``<entity>.<what happened>`` (``shift.created``, ``incident.acknowledged``); ``source`` is always
``oncall``. The entity types the product publishes are listed in ``KNOWN_DETAIL_TYPES``; the outbox itself is generic,
so a new entity type only needs its own detail types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SOURCE = "oncall"

KNOWN_DETAIL_TYPES: frozenset[str] = frozenset(
    {
        *(
            f"incident.{what}"
            for what in ("triggered", "acknowledged", "escalated", "resolved", "closed", "reopened", "reassigned")
        ),
        "shift.created",
        "shift.updated",
        "shift.deleted",
        "reminder.sent",
        # a team and its members changed (published with the change's audit record)
        *(f"team.{what}" for what in ("created", "updated", "deleted", "member_set", "member_removed")),
        # a subscription disabled after persistent delivery failures (outgoing webhooks)
        "webhook.disabled",
    }
)

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_DETAIL_TYPE = re.compile(r"^([a-z][a-z0-9_-]{0,63})\.([a-z][a-z0-9_]{0,63})$")


@dataclass(frozen=True)
class DomainEvent:
    """One change of one entity, as it will appear on the bus."""

    entity_type: str
    entity_id: str
    #: the entity's version after this change; ≥ 1 and increasing per entity
    version: int
    detail_type: str
    #: the entity snapshot (JSON-compatible); its own ``version``, if present, must equal ``version``
    snapshot: Mapping[str, Any]
    occurred_at: datetime
    resources: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not _NAME.match(self.entity_type):
            raise ValueError(f"entity_type {self.entity_type!r} must be lower-case letters, digits, '-' or '_'")
        if not self.entity_id or "#" in self.entity_id:
            raise ValueError("entity_id must be non-empty and must not contain '#'")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ValueError("version must be an integer ≥ 1")
        m = _DETAIL_TYPE.match(self.detail_type)
        if not m or m.group(1) != self.entity_type:
            raise ValueError(f"detail_type {self.detail_type!r} must be '{self.entity_type}.<what happened>'")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        own = self.snapshot.get("version")
        if own is not None and own != self.version:
            raise ValueError(f"snapshot version {own!r} differs from event version {self.version}")

    @property
    def detail(self) -> dict[str, Any]:
        """What goes on the bus as ``detail``: the snapshot plus ``version``."""
        return {**self.snapshot, "version": self.version}


def is_newer(event_version: int, last_seen: int | None) -> bool:
    """A consumer's dedup rule: act only on a version above the last one acted on for that entity."""
    return last_seen is None or event_version > last_seen
