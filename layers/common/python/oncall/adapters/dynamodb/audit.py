"""The ``audit`` table: one item per recorded change, written in the change's own transaction.

=================================  ==================================================================================
``AUDIT#<UTC day>`` / ``<time>#<id>``  the record: ``actor_id``, ``action``, ``kind``, ``object_id``, ``changes``
                                       (JSON: field → before/after, secrets redacted), ``expires_at`` (TTL)
=================================  ==================================================================================

``by-object`` (``object_key`` = ``<kind>#<id>``) and ``by-actor`` (``actor_key`` = user id, or ``system``) are sorted
by the same ``<time>#<id>``, newest first. ``recording`` hands the record to ``kit.riding``: the store's next write
carries it in its transaction, so the record exists exactly when the change does. Changes are people's, made by hand:
one day's key takes a handful of writes a minute, far from any partition's limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall.adapters import outbox
from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.audit import AuditRecord
from oncall.domain.events import DomainEvent
from oncall.observability import log

SYSTEM = "system"
#: a record's changes are cut to this many characters of JSON (a policy's levels can be long; the record says so)
CHANGES_MAX = 32_000
#: the widest time window one unfiltered search walks, day by day
MAX_DAYS = 93


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day_pk(at: datetime) -> str:
    return f"AUDIT#{at.astimezone(UTC).date().isoformat()}"


def audit_item(record: AuditRecord, retention: timedelta) -> dict[str, Attr]:
    changes = json.dumps(record.changes, separators=(",", ":"), sort_keys=True, default=str)
    if len(changes) > CHANGES_MAX:
        changes = json.dumps({"truncated": {"before": None, "after": f"{len(changes)} characters of changes"}})
    return {
        "pk": s(day_pk(record.at)),
        "sk": s(f"{stamp(record.at)}#{record.id}"),
        "id": s(record.id),
        "at": s(record.at.isoformat()),
        "action": s(record.action),
        "kind": s(record.kind),
        "object_id": s(record.object_id),
        "object_key": s(f"{record.kind}#{record.object_id}"),
        "actor_key": s(record.actor_id or SYSTEM),
        "changes": s(changes),
        "expires_at": n(int((record.at + retention).timestamp())),
        **({"actor_id": s(record.actor_id)} if record.actor_id else {}),
    }


def event_of(record: AuditRecord) -> DomainEvent:
    """The bus event of a change to a ``record.kind``: the change itself is the entity (its id is the record's), as a
    membership bumps no version an ordering by object could use; the object is named by ``<kind>_id``."""
    return DomainEvent(
        entity_type=record.kind,
        entity_id=record.id,
        version=1,
        detail_type=record.action,
        snapshot={
            "id": record.id,
            f"{record.kind}_id": record.object_id,
            "actor_id": record.actor_id,
            "changes": record.changes,
            "at": record.at.isoformat(),
        },
        occurred_at=record.at,
    )


def record_of(item: dict[str, Any]) -> AuditRecord:
    return AuditRecord(
        id=str(item["id"]["S"]),
        at=datetime.fromisoformat(item["at"]["S"]),
        actor_id=kit.text(item, "actor_id"),
        action=str(item["action"]["S"]),
        kind=str(item["kind"]["S"]),
        object_id=str(item["object_id"]["S"]),
        changes=json.loads(item["changes"]["S"]),
    )


class DynamoAuditTrail:
    def __init__(
        self, table: str, retention: timedelta, client: Any = None, *, outbox_table: str | None = None
    ) -> None:
        self.outbox_table = outbox_table
        self.table = table
        self.retention = retention
        self.client = client if client is not None else kit.client()

    @contextmanager
    def recording(self, record: AuditRecord, *, publish: bool = False) -> Iterator[None]:
        """Inside the block, the next write to DynamoDB carries ``record`` in its transaction (and, with
        ``publish``, its event in the outbox). A change whose write went around the kit (none should) still gets its
        record, after it, rather than none."""
        item = audit_item(record, self.retention)
        riders = [{"Put": {"TableName": self.table, "Item": item}}]
        if publish and self.outbox_table:
            riders.append(outbox.transact_put(event_of(record), table=self.outbox_table))
        with kit.riding(*riders) as untaken:
            yield
        if untaken:
            log.warning("audit record %s written after its change, not with it", record.action)
            kit.transact(self.client, untaken)

    def search(
        self,
        *,
        start: datetime,
        end: datetime,
        kind: str | None = None,
        object_id: str | None = None,
        actor_id: str | None = None,
        limit: int = 50,
        cursor: dict[str, Any] | None = None,
    ) -> tuple[list[AuditRecord], dict[str, Any] | None]:
        """Records in ``[start, end)``, newest first, of one object (``kind`` and ``object_id``), by one actor, or
        all of them."""
        below = str(cursor["below"]) if cursor and cursor.get("below") else f"{stamp(end)}"
        low = stamp(start)
        if below <= low:
            return [], None  # a cursor past this window's start: nothing older in it
        keys: list[tuple[str | None, str, str]]
        if kind and object_id:
            keys = [("by-object", "object_key", f"{kind}#{object_id}")]
        elif actor_id:
            keys = [("by-actor", "actor_key", actor_id)]
        else:
            top = datetime.fromisoformat(below[:10]).date() if cursor else end.astimezone(UTC).date()
            span = min((top - start.astimezone(UTC).date()).days + 1, MAX_DAYS)
            keys = [(None, "pk", f"AUDIT#{(top - timedelta(days=d)).isoformat()}") for d in range(max(span, 0))]
        found: list[dict[str, Any]] = []
        for index, attr, value in keys:
            request: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "#h = :h AND sk BETWEEN :lo AND :hi",
                "ExpressionAttributeNames": {"#h": attr},
                "ExpressionAttributeValues": {":h": s(value), ":lo": s(low), ":hi": s(below)},
                "ScanIndexForward": False,
                "Limit": limit + 1 - len(found),
            }
            if index:
                request["IndexName"] = index
            if actor_id and index == "by-object":
                request["FilterExpression"] = "actor_key = :a"
                request["ExpressionAttributeValues"][":a"] = s(actor_id)
            for item in kit.query_all(self.client, **request):
                if item["sk"]["S"] < below:
                    found.append(item)
                if len(found) > limit:
                    break
            if len(found) > limit:
                break
        page = found[:limit]
        more = len(found) > limit
        return [record_of(i) for i in page], ({"below": page[-1]["sk"]["S"]} if more and page else None)
