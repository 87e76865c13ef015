"""The ``incidents`` table: incidents, their alert counters, their timelines and the lifecycle's waiting token.

=====================================  ==========================================================================
``INC#<id>`` / ``META``                the incident; ``version`` (+1 per change) is the optimistic-concurrency
                                       guard every move is conditioned on, ``task_token`` the wait to answer
``INC#<id>`` / ``ALERTS``              the alert counter: ``alert_count``, ``last_alert_at``, ``last_alert`` (JSON,
                                       what pages show of the newest alert) and ``closed`` while the incident is
                                       not open; a repeated alert updates only this small item
``INC#<id>`` / ``TL#<ulid>``           one timeline entry (ULIDs sort by time; entries are append-only; alert
                                       lines, which carry the bounded raw payload, expire after 90 days)
``INC#<id>`` / ``PG#<ulid>``           a copy of each page line that has a message reference: what an
                                       acknowledgement edits, read with one Query whatever the timeline's length
=====================================  ==========================================================================

Indexes (all sorted by ``created_sk`` = ``<created_at>#<id>``, newest first): ``by-created`` (``list_pk`` =
``INC#<shard>``) lists everything, ``by-status-sharded`` (``status_pk`` = ``<status>#<shard>``, projecting only what
the filters read) and ``by-service`` narrow the common filters; the list is in ``incident_list``. The unsharded
``by-status`` is neither read nor written: META keeps its status as ``incident_status``, not the index's key
``status`` (the index stays declared so an existing stack upgrades in one deploy). A repeated alert writes no index.

A move is ONE ``TransactWriteItems``: the incident (condition: the version read and the token read), its timeline
entries, the outbox event and, when it opens or closes the incident, the counter's ``closed`` mark, so the event
exists exactly when the change does. A repeated alert is ONE ``UpdateItem`` of the counter, conditioned on it not
being ``closed``; one alert line in ``ALERT_LINE_EVERY`` is written beside it. An incident written before the
counter existed has none: its alerts count on META as they used to (a transaction conditioned on its status) until
it closes.

The item shapes, both ways, are in ``incident_items``; this module is the store: the conditional writes and the
reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from oncall.adapters import outbox
from oncall.adapters.dynamodb import alerts as alert_claims
from oncall.adapters.dynamodb import incident_list, kit
from oncall.adapters.dynamodb.incident_items import (
    ALERT_LINE_EVERY,
    ALERTS_SK,
    LEGACY_STATUS,
    MAX_ENTRIES,
    STATUS,
    alerts_item,
    entry_items,
    entry_of,
    incident_item,
    incident_of,
    incident_pk,
    is_open,
    newest_alert_summary,
    summary_json,
)
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.events import DomainEvent
from oncall.domain.incidents import Incident, Status, TimelineEntry
from oncall.services.incident_ports import AlertClaim, GuardFailed, IncidentFilter, StaleWrite

#: timeline lines an incident without page copies (written before them) is searched for its pages
LEGACY_PAGE_SCAN = 500


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

    def _entry_puts(self, entries: Sequence[TimelineEntry]) -> list[dict[str, Any]]:
        return [{"Put": {"TableName": self.table, "Item": i}} for e in entries[:MAX_ENTRIES] for i in entry_items(e)]

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
        items.append({"Put": {"TableName": self.table, "Item": alerts_item(incident)}})
        items += self._entry_puts(entries)
        items.append(self._outbox(event))
        self._transact_guarded(items, self._claim_items(claim, incident.id, alert_claims.take_items))

    def _transact_guarded(self, items: list[dict[str, Any]], also: Sequence[Mapping[str, Any]]) -> None:
        """One transaction of ``items`` + ``also`` (the claim's items, last, so their reasons are found by
        position); a failed condition on one of ``also`` is GuardFailed, and so is a claim's transaction still
        meeting concurrent ones after the kit's rounds: nothing was written, the alert is decided again."""
        try:
            kit.transact(self.client, [*items, *also])
        except kit.Cancelled as exc:
            conflicted = bool(also) and kit.TRANSACTION_CONFLICT in exc.reasons and not exc.condition_failed()
            if exc.condition_failed(start=len(items)) or conflicted:
                raise GuardFailed(str(exc)) from exc
            raise

    def attach_alert(
        self, incident_id: str, at: datetime, entries: Sequence[TimelineEntry], claim: AlertClaim | None = None
    ) -> bool:
        expression = "SET alert_count = alert_count + :one, last_alert_at = :at"
        values: dict[str, Attr] = {":one": n(1), ":at": s(at.isoformat())}
        summary = newest_alert_summary(entries)
        if summary is not None:
            # the joining alert becomes the one pages describe: in this same update, so it costs no extra write
            expression += ", last_alert = :la"
            values[":la"] = s(summary_json(summary))
        update = {
            "TableName": self.table,
            "Key": kit.key(incident_pk(incident_id), ALERTS_SK),
            # no read and no version: concurrent alerts all count, and no move conflicts with a count
            "UpdateExpression": expression,
            "ConditionExpression": "attribute_exists(alert_count) AND attribute_not_exists(closed)",
            "ExpressionAttributeValues": values,
        }
        also = self._claim_items(claim, incident_id, alert_claims.join_items)
        if not also:
            out = kit.try_write(self.client.update_item, **update, ReturnValues="UPDATED_NEW")
            if out is not None:
                count = int(out["Attributes"]["alert_count"]["N"])
                if count % ALERT_LINE_EVERY == 0:
                    self.add_entries(entries[:MAX_ENTRIES])
                return True
        else:
            # a joining alert key: its line and its claim with the count, all or nothing
            items: list[dict[str, Any]] = [{"Update": update}]
            items += self._entry_puts(entries)
            try:
                self._transact_guarded(items, also)
                return True
            except kit.Cancelled as exc:
                if not exc.condition_failed(stop=1):
                    raise
        if self._closed(incident_id):
            return False
        return self._attach_legacy(incident_id, at, entries, also, summary)

    def _closed(self, incident_id: str) -> bool:
        """Whether the incident's counter marks it closed (False: it has no counter, written before it existed)."""
        got = self.client.get_item(
            TableName=self.table, Key=kit.key(incident_pk(incident_id), ALERTS_SK), ConsistentRead=True
        )
        item = got.get("Item") or {}
        return "closed" in item

    def _attach_legacy(
        self,
        incident_id: str,
        at: datetime,
        entries: Sequence[TimelineEntry],
        also: Sequence[Mapping[str, Any]],
        summary: Any,
    ) -> bool:
        """An incident written before the alert counter: count on META, conditioned on its status, as it was."""
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
        if summary is not None:
            expression += ", last_alert = :la"
            values[":la"] = s(summary_json(summary))
        update = {
            "Update": {
                "TableName": self.table,
                "Key": kit.key(incident_pk(incident_id), "META"),
                "UpdateExpression": expression,
                "ConditionExpression": "#st IN (:t, :a) OR #old IN (:t, :a)",
                "ExpressionAttributeNames": {"#st": STATUS, "#old": LEGACY_STATUS},
                "ExpressionAttributeValues": values,
            }
        }
        items: list[dict[str, Any]] = [update]
        items += self._entry_puts(entries)
        try:
            self._transact_guarded(items, also)
        except kit.Cancelled as exc:
            if exc.condition_failed(stop=1):
                return False
            raise
        return True

    def get(self, incident_id: str) -> Incident | None:
        # the counter (ALERTS) and the incident (META) are neighbours: one Query reads both
        got = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :m",
            ExpressionAttributeValues={":pk": s(incident_pk(incident_id)), ":a": s(ALERTS_SK), ":m": s("META")},
            ConsistentRead=True,
        )
        by_sk = {str(i["sk"]["S"]): i for i in got.get("Items", [])}
        meta = by_sk.get("META")
        return incident_of(meta, by_sk.get(ALERTS_SK)) if meta else None

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
        if is_open(before.status) != is_open(after.status):
            # the counter's mark: a repeated alert stops counting on a closed incident without reading META
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": kit.key(incident_pk(after.id), ALERTS_SK),
                        "UpdateExpression": "REMOVE closed" if is_open(after.status) else "SET closed = :t",
                        **({} if is_open(after.status) else {"ExpressionAttributeValues": {":t": kit.boolean(True)}}),
                    }
                }
            )
        items += self._entry_puts(entries)
        if event is not None:
            items.append(self._outbox(event))
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            if exc.condition_failed():
                raise StaleWrite(before.id) from exc
            raise

    def arm(self, incident_id: str, *, generation: int, status: Status, step: int | None, token: str) -> bool:
        condition = "(#st = :st OR #old = :st) AND generation = :g"
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
            ExpressionAttributeNames={"#st": STATUS, "#old": LEGACY_STATUS},
            ExpressionAttributeValues=values,
        )
        return armed is not None

    def add_entries(self, entries: Sequence[TimelineEntry]) -> None:
        kit.batch_write(self.client, self.table, [{"PutRequest": {"Item": i}} for e in entries for i in entry_items(e)])

    def page_entries(self, incident_id: str) -> list[TimelineEntry]:
        found = [
            entry_of(i)
            for i in kit.query_all(
                self.client,
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :pg)",
                ExpressionAttributeValues={":pk": s(incident_pk(incident_id)), ":pg": s("PG#")},
                ConsistentRead=True,
            )
        ]
        if found:
            return found
        # pages written before their copies existed: the timeline's first lines, as they used to be read
        lines, _ = self.timeline(incident_id, LEGACY_PAGE_SCAN, None)
        return [e for e in lines if e.kind == "page"]

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
        return incident_list.search(self.client, self.table, filters, limit, cursor)

    def created_between(self, start: datetime, end: datetime, within: IncidentFilter | None = None) -> list[Incident]:
        found: list[Incident] = []
        cursor: dict[str, Any] | None = None
        asked = replace(within or IncidentFilter(), created_from=start, created_to=end)
        while True:
            batch, cursor = self.paginate(asked, 200, cursor)
            found.extend(i for i in batch if start <= i.created_at < end)
            if cursor is None:
                return found
