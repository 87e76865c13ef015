"""Writing an event into the outbox inside a change's own transaction: ``add`` for a pynamodb ``TransactWrite`` (how
our repositories write), ``transact_put`` for a low-level ``TransactItems`` element. Either way the put is
conditional on the version never having been announced."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from oncall.adapters.outbox.model import DEFAULT_TTL, bound_model, outbox_pk, outbox_sk
from oncall.domain.events import DomainEvent
from oncall.settings import get_settings

if TYPE_CHECKING:
    from pynamodb.transactions import TransactWrite


def _fields(event: DomainEvent, ttl: timedelta) -> dict[str, Any]:
    return {
        "pk": outbox_pk(event.entity_type, event.entity_id),
        "sk": outbox_sk(event.version),
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "version": event.version,
        "detail_type": event.detail_type,
        "detail": json.dumps(dict(event.snapshot), separators=(",", ":"), sort_keys=True),
        "occurred_at": event.occurred_at.isoformat(),
        "resources": json.dumps(list(event.resources)) if event.resources else None,
        "expires_at": int((event.occurred_at + ttl).timestamp()),
    }


def add(transaction: TransactWrite, event: DomainEvent, *, ttl: timedelta = DEFAULT_TTL) -> None:
    """Add ``event`` to a pynamodb ``TransactWrite``; the transaction fails if this version was announced before."""
    model = bound_model()
    item = model(**{k: v for k, v in _fields(event, ttl).items() if v is not None})
    transaction.save(item, condition=model.pk.does_not_exist())


def transact_put(event: DomainEvent, *, table: str | None = None, ttl: timedelta = DEFAULT_TTL) -> dict[str, Any]:
    """A ``TransactItems`` element (low-level client shape) that writes ``event`` to the outbox."""
    item: dict[str, Any] = {}
    for key, value in _fields(event, ttl).items():
        if value is None:
            continue
        item[key] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return {
        "Put": {
            "TableName": table or get_settings().table("outbox"),
            "Item": item,
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }
