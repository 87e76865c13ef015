"""The ``incidents`` table: incidents, their timelines and the lifecycle's waiting token.

=====================================  ==========================================================================
``INC#<id>`` / ``META``                the incident; ``version`` (+1 per change) is the optimistic-concurrency
                                       guard every move is conditioned on, ``task_token`` the wait to answer,
                                       ``last_alert`` (JSON) what pages show of the newest alert
``INC#<id>`` / ``TL#<ulid>``           one timeline entry (ULIDs sort by time; entries are append-only)
=====================================  ==========================================================================

Indexes (all sorted by ``created_sk`` = ``<created_at>#<id>``, newest first): ``by-created`` (``list_pk`` = ``INC``)
lists everything, ``by-status`` and ``by-service`` narrow the common filters; the remaining filters are applied on
the read page. A move is ONE ``TransactWriteItems``: the incident (condition: the version read and the token read),
its timeline entries and the outbox event, so the event exists exactly when the change does.

The item shapes, both ways, are in ``incident_items``; this module is the store: the conditional writes and the
reads, the filtered list among them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from oncall.adapters import outbox
from oncall.adapters.dynamodb import alerts as alert_claims
from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.incident_items import (
    LIST_PK,
    MAX_ENTRIES,
    entry_item,
    entry_of,
    incident_item,
    incident_of,
    incident_pk,
    newest_alert_summary,
    stamp,
    summary_json,
)
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.events import DomainEvent
from oncall.domain.incidents import Incident, Status, TimelineEntry
from oncall.services.incident_ports import AlertClaim, GuardFailed, IncidentFilter, StaleWrite


class DynamoIncidentStore:
    """Implements ``oncall.services.incident_ports.IncidentStore``."""

    def __init__(
        self, table: str, client: Any = None, *, outbox_table: str | None = None, alerts_table: str | None = None
    ) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()
        self.outbox_table = outbox_table
        #: where alert ingestion's claims live (only functions that ingest alerts are granted it)
        self.alerts_table = alerts_table

    def _claim_items(
        self, claim: AlertClaim | None, incident_id: str, build: Callable[[str, AlertClaim, str], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        if claim is None:
            return []
        if self.alerts_table is None:
            raise RuntimeError("an alert claim needs the alerts table: DynamoIncidentStore(..., alerts_table=...)")
        return build(self.alerts_table, claim, incident_id)

    def _outbox(self, event: DomainEvent) -> dict[str, Any]:
        return outbox.transact_put(event, table=self.outbox_table)

    def create(
        self,
        incident: Incident,
        entries: Sequence[TimelineEntry],
        event: DomainEvent,
        claim: AlertClaim | None = None,
    ) -> None:
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": incident_item(incident),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            }
        ]
        items += [{"Put": {"TableName": self.table, "Item": entry_item(e)}} for e in entries[:MAX_ENTRIES]]
        items.append(self._outbox(event))
        self._transact_guarded(items, self._claim_items(claim, incident.id, alert_claims.take_items))

    def _transact_guarded(self, items: list[dict[str, Any]], also: Sequence[Mapping[str, Any]]) -> None:
        """One transaction of ``items`` + ``also`` (the claim's items, last, so their reasons are found by
        position); a failed condition on one of ``also`` is GuardFailed."""
        try:
            kit.transact(self.client, [*items, *also])
        except kit.Cancelled as exc:
            if exc.condition_failed(start=len(items)):
                raise GuardFailed(str(exc)) from exc
            raise

    def attach_alert(
        self, incident_id: str, at: datetime, entries: Sequence[TimelineEntry], claim: AlertClaim | None = None
    ) -> bool:
        expression = (
            "SET alert_count = if_not_exists(alert_count, :zero) + :one, "
            "version = version + :one, updated_at = :at, last_alert_at = :at"
        )
        values: dict[str, Attr] = {
            ":zero": n(0),
            ":one": n(1),
            ":at": s(at.isoformat()),
            ":t": s(Status.TRIGGERED.value),
            ":a": s(Status.ACKNOWLEDGED.value),
        }
        summary = newest_alert_summary(entries)
        if summary is not None:
            # the joining alert becomes the one pages describe: in this same update, so it costs no extra write
            expression += ", last_alert = :la"
            values[":la"] = s(summary_json(summary))
        update = {
            "Update": {
                "TableName": self.table,
                "Key": kit.key(incident_pk(incident_id), "META"),
                # no read and no version condition: concurrent alerts all count, and the version bump makes any
                # move that read the incident before this re-read it (its Put would otherwise lose the count)
                "UpdateExpression": expression,
                "ConditionExpression": "#st IN (:t, :a)",
                "ExpressionAttributeNames": {"#st": "status"},
                "ExpressionAttributeValues": values,
            }
        }
        items: list[dict[str, Any]] = [update]
        items += [{"Put": {"TableName": self.table, "Item": entry_item(e)}} for e in entries[:MAX_ENTRIES]]
        try:
            self._transact_guarded(items, self._claim_items(claim, incident_id, alert_claims.join_items))
        except kit.Cancelled as exc:
            if exc.condition_failed(stop=1):
                return False
            raise
        return True

    def get(self, incident_id: str) -> Incident | None:
        got = self.client.get_item(
            TableName=self.table,
            Key=kit.key(incident_pk(incident_id), "META"),
            ConsistentRead=True,
        )
        item = got.get("Item")
        return incident_of(item) if item else None

    def commit(
        self, before: Incident, after: Incident, entries: Sequence[TimelineEntry], event: DomainEvent | None
    ) -> None:
        names = {"#v": "version"}
        values: dict[str, Attr] = {":v": n(before.version)}
        condition = "#v = :v"
        if before.task_token is None:
            condition += " AND attribute_not_exists(task_token)"
        else:
            condition += " AND task_token = :tok"
            values[":tok"] = s(before.task_token)
        items: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": incident_item(after),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        ]
        items += [{"Put": {"TableName": self.table, "Item": entry_item(e)}} for e in entries[:MAX_ENTRIES]]
        if event is not None:
            items.append(self._outbox(event))
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            if exc.condition_failed():
                raise StaleWrite(before.id) from exc
            raise

    def arm(self, incident_id: str, *, generation: int, status: Status, step: int | None, token: str) -> bool:
        condition = "#st = :st AND generation = :g"
        values: dict[str, Attr] = {":st": s(status.value), ":g": n(generation), ":tok": s(token)}
        if step is not None:
            condition += " AND escalation_step = :step"
            values[":step"] = n(step)
        armed = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(incident_pk(incident_id), "META"),
            UpdateExpression="SET task_token = :tok",
            ConditionExpression=condition,
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues=values,
        )
        return armed is not None

    def add_entries(self, entries: Sequence[TimelineEntry]) -> None:
        kit.batch_write(self.client, self.table, [{"PutRequest": {"Item": entry_item(e)}} for e in entries])

    def timeline(
        self, incident_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[TimelineEntry], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :tl)",
            "ExpressionAttributeValues": {":pk": s(incident_pk(incident_id)), ":tl": s("TL#")},
            "Limit": limit,
            "ConsistentRead": True,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = {k: s(str(v)) for k, v in cursor.items()}
        out = self.client.query(**kwargs)
        last = out.get("LastEvaluatedKey")
        return [entry_of(i) for i in out.get("Items", [])], ({k: v["S"] for k, v in last.items()} if last else None)

    def paginate(
        self, filters: IncidentFilter, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Incident], dict[str, Any] | None]:
        names: dict[str, str] = {}
        values: dict[str, Attr] = {}
        if filters.service_id:
            index, hash_attr, hash_value = "by-service", "service_id", filters.service_id
        elif filters.status:
            index, hash_attr, hash_value = "by-status", "status", filters.status.value
        else:
            index, hash_attr, hash_value = "by-created", "list_pk", LIST_PK
        names["#h"] = hash_attr
        values[":h"] = s(hash_value)
        key = "#h = :h"
        if filters.created_from and filters.created_to:
            key += " AND created_sk BETWEEN :lo AND :hi"
            values[":lo"] = s(stamp(filters.created_from))
            values[":hi"] = s(stamp(filters.created_to) + "#~")
        elif filters.created_from:
            key += " AND created_sk >= :lo"
            values[":lo"] = s(stamp(filters.created_from))
        elif filters.created_to:
            key += " AND created_sk <= :hi"
            values[":hi"] = s(stamp(filters.created_to) + "#~")
        clauses = []
        for attr, value in (
            ("status", filters.status.value if filters.status else None),
            ("service_id", filters.service_id),
            ("severity", filters.severity),
            ("source", filters.source),
        ):
            if value is None or attr == hash_attr:
                continue
            names[f"#{attr}"] = attr
            values[f":{attr}"] = s(value)
            clauses.append(f"#{attr} = :{attr}")
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": key,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if clauses:
            kwargs["FilterExpression"] = " AND ".join(clauses)
        start = {k: s(str(v)) for k, v in cursor.items()} if cursor else None
        found: list[Incident] = []
        last_item: Mapping[str, Attr] | None = None
        # a filtered page can come back short; keep reading until ``limit`` matches or the index ends, and make the
        # cursor the key of the last item returned so nothing is skipped or repeated
        for _ in range(20):
            if start:
                kwargs["ExclusiveStartKey"] = start
            kwargs["Limit"] = max(limit - len(found), 1) * (4 if clauses else 1)
            out = self.client.query(**kwargs)
            for item in out.get("Items", []):
                if len(found) < limit:
                    found.append(incident_of(item))
                    last_item = item
                else:
                    break
            start = out.get("LastEvaluatedKey")
            if len(found) >= limit or not start:
                break
        if len(found) < limit and not start:
            return found, None
        if last_item is None:
            return found, {k: v["S"] for k, v in start.items()} if start else None
        cursor_key = {
            "pk": last_item["pk"]["S"],
            "sk": last_item["sk"]["S"],
            "created_sk": last_item["created_sk"]["S"],
        }
        cursor_key[hash_attr] = last_item[hash_attr]["S"]
        return found, cursor_key

    def created_between(self, start: datetime, end: datetime) -> list[Incident]:
        found: list[Incident] = []
        cursor: dict[str, Any] | None = None
        while True:
            batch, cursor = self.paginate(IncidentFilter(created_from=start, created_to=end), 200, cursor)
            found.extend(i for i in batch if start <= i.created_at < end)
            if cursor is None:
                return found
