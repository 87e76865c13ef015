"""The transactional outbox: a change and the event describing it are written in ONE ``TransactWriteItems``.

A service that changes an entity adds one outbox item to the transaction that writes the change, so either both are
stored or neither is; the ``outbox`` table's stream hands each new item to ``functions/publisher``, which puts it on
the ``oncall`` bus (``relay``). A crash between "write" and "publish" therefore loses nothing: the stream keeps the
record until the publisher succeeds (DESIGN §1).

Item format (table ``outbox``, TTL ``expires_at``, one day by default):

===============  =================================================================================================
``pk``           ``<entity_type>#<entity_id>``
``sk``           ``v#<version, 12 digits>``: sorts by version; written on ``attribute_not_exists(pk)``, so one
                 version of one entity can be announced only once (a retried transaction cannot publish twice)
``detail_type``  e.g. ``shift.created``
``detail``       the snapshot as JSON text: DynamoDB would turn floats into decimals and reorder nothing else, but
                 text round-trips the snapshot exactly
``occurred_at``  RFC 3339; becomes the event's ``time``
===============  =================================================================================================

Two ways to add an item: ``add(transaction, event)`` for a pynamodb ``TransactWrite`` (how our repositories write),
``transact_put(event)`` for a low-level ``TransactItems`` element.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from oncall.domain.events import SOURCE, DomainEvent
from oncall.settings import get_settings

if TYPE_CHECKING:
    from pynamodb.transactions import TransactWrite

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(days=1)
#: EventBridge accepts at most 10 entries per PutEvents
PUT_EVENTS_MAX = 10


def outbox_pk(entity_type: str, entity_id: str) -> str:
    return f"{entity_type}#{entity_id}"


def outbox_sk(version: int) -> str:
    return f"v#{version:012d}"


class OutboxItem(Model):
    class Meta:
        table_name = "oncall-outbox"
        region = "us-east-1"
        host: str | None = None

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    entity_type = UnicodeAttribute()
    entity_id = UnicodeAttribute()
    version = NumberAttribute()
    detail_type = UnicodeAttribute()
    detail = UnicodeAttribute()
    occurred_at = UnicodeAttribute()
    resources = UnicodeAttribute(null=True)
    expires_at = NumberAttribute()


def _bind() -> type[OutboxItem]:
    settings = get_settings()
    OutboxItem.Meta.table_name = settings.table("outbox")
    OutboxItem.Meta.region = settings.region
    return OutboxItem


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
    model = _bind()
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


def event_from_image(image: Mapping[str, Any]) -> DomainEvent:
    """Read an outbox item back from a stream record's ``NewImage`` (DynamoDB JSON)."""

    def s(name: str) -> str:
        return str(image[name]["S"])

    resources = image.get("resources", {}).get("S")
    return DomainEvent(
        entity_type=s("entity_type"),
        entity_id=s("entity_id"),
        version=int(image["version"]["N"]),
        detail_type=s("detail_type"),
        snapshot=json.loads(s("detail")),
        occurred_at=datetime.fromisoformat(s("occurred_at")),
        resources=tuple(json.loads(resources)) if resources else (),
    )


def bus_entry(event: DomainEvent, bus_name: str) -> dict[str, Any]:
    """The ``PutEvents`` entry for ``event``."""
    return {
        "Source": SOURCE,
        "DetailType": event.detail_type,
        "Detail": json.dumps(event.detail, separators=(",", ":"), sort_keys=True),
        "EventBusName": bus_name,
        "Time": event.occurred_at,
        "Resources": list(event.resources),
    }


class EventBus(Protocol):
    """The part of an EventBridge client ``relay`` uses (boto3's ``events`` client fits)."""

    def put_events(self, *, Entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]: ...


def relay(records: Iterable[Mapping[str, Any]], bus: EventBus, bus_name: str) -> dict[str, list[dict[str, str]]]:
    """Put the INSERTs of an outbox stream batch on the bus, ≤ 10 per call, in stream order.

    Returns Lambda's partial batch response. The stream retries from the lowest failed sequence number, so once an
    entry fails, it and every later record are reported (later ones would be re-sent anyway; not sending them now
    keeps duplicates down). MODIFY/REMOVE (TTL expiry) records are not events and are skipped.
    """
    pending: list[tuple[str, DomainEvent | None]] = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        seq = str(record["dynamodb"]["SequenceNumber"])
        try:
            pending.append((seq, event_from_image(record["dynamodb"]["NewImage"])))
        except (KeyError, ValueError, TypeError):
            log.exception("outbox record %s is malformed", seq)
            pending.append((seq, None))

    for start in range(0, len(pending), PUT_EVENTS_MAX):
        chunk = pending[start : start + PUT_EVENTS_MAX]
        valid = [(seq, ev) for seq, ev in chunk if ev is not None]
        first_bad = next((i for i, (_, ev) in enumerate(chunk) if ev is None), None)
        failed_at: int | None = first_bad
        if valid:
            try:
                response = bus.put_events(Entries=[bus_entry(ev, bus_name) for _, ev in valid])
            except Exception:
                log.exception("PutEvents failed for %d entries", len(valid))
                failed_at = 0
            else:
                for (seq, _), entry in zip(valid, response.get("Entries", []), strict=False):
                    if entry.get("ErrorCode"):
                        log.error("event %s rejected: %s %s", seq, entry["ErrorCode"], entry.get("ErrorMessage"))
                        index = next(i for i, (s, _) in enumerate(chunk) if s == seq)
                        failed_at = index if failed_at is None else min(failed_at, index)
                        break
        if failed_at is not None:
            return {"batchItemFailures": [{"itemIdentifier": seq} for seq, _ in pending[start + failed_at :]]}
    return {"batchItemFailures": []}
