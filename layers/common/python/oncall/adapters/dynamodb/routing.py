"""Alert routing's items: a service's routing and the silences in the ``catalog`` table, suppressed alerts in the
``alerts`` table.

==========================================  ====================================================================
``SVC#<id>`` / ``ROUTING`` (catalog)        the service's event rules, urgency rule and maintenance windows (JSON
                                            text: read whole, never queried into) and ``version``; the service's
                                            META item carries the same number as ``routing_version``, written in
                                            the same transaction, so intake knows its cached copy is current from
                                            the service read it makes anyway
``SILENCES`` / ``<id>`` (catalog)           one silence (``team_id``, matchers as JSON text, period, creator);
                                            TTL a week after it ends. One partition: intake reads every silence at
                                            once (bounded per team) and caches them briefly
``SUPPRESSED#<service>`` / ``<time>#<id>``  an alert routing kept from opening anything, with the decision and
(alerts)                                    its raw payload (first 8 KB); TTL 30 days
``SUPPCOUNT#<service>`` / ``D#<day>``       how many of the service's alerts were suppressed that UTC day, by kind
``SUPPCOUNT#<service>`` / ``ALL``          the same, ever (``GET /metrics``)
(alerts)                                    (``maintenance``, ``silence``, ``rule``): analytics reads these
==========================================  ====================================================================
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Attr, n, s, text
from oncall.domain.alerts import Alert
from oncall.domain.errors import Conflict
from oncall.domain.routing import (
    EventRule,
    MaintenanceWindow,
    Matcher,
    MatchOp,
    Routing,
    Silence,
    UrgencyRule,
    check_rules,
    check_urgency,
    iso,
)
from oncall.domain.shifts import sort_key

SILENCES_PK = "SILENCES"
SILENCE_KEPT = timedelta(days=7)
SUPPRESSED_KEPT = timedelta(days=30)
#: what the suppression counters count: all (``suppressed``) and each kind
SUPPRESSION_KINDS = ("suppressed", "maintenance", "silence", "rule")
SUPPRESSED_RAW_MAX = 8 * 1024


def _rules_of(raw: str, service_id: str) -> tuple[EventRule, ...]:
    def no_new_id() -> str:
        raise ValueError("stored rules carry their ids")

    return check_rules(json.loads(raw), service_id, no_new_id)


def _window_of(raw: dict[str, Any]) -> MaintenanceWindow:
    return MaintenanceWindow(
        id=raw["id"],
        start=datetime.fromisoformat(raw["start"]),
        end=datetime.fromisoformat(raw["end"]),
        reason=raw["reason"],
        created_by=raw["created_by"],
        created_at=datetime.fromisoformat(raw["created_at"]),
    )


def routing_of(item: dict[str, Attr] | None, service_id: str) -> Routing:
    if not item:
        return Routing(service_id)
    urgency = text(item, "urgency")
    return Routing(
        service_id=service_id,
        rules=_rules_of(text(item, "rules") or "[]", service_id),
        urgency=check_urgency(json.loads(urgency)) if urgency else UrgencyRule(),
        windows=tuple(_window_of(w) for w in json.loads(text(item, "windows") or "[]")),
        version=int(item["version"]["N"]),
    )


def routing_item(routing: Routing) -> dict[str, Attr]:
    return {
        **kit.key(f"SVC#{routing.service_id}", "ROUTING"),
        "service_id": s(routing.service_id),
        "rules": s(json.dumps([r.to_dict() for r in routing.rules], separators=(",", ":"))),
        "urgency": s(json.dumps(routing.urgency.to_dict(), separators=(",", ":"))),
        "windows": s(
            json.dumps(
                [
                    {
                        "id": w.id,
                        "start": w.start.isoformat(),
                        "end": w.end.isoformat(),
                        "reason": w.reason,
                        "created_by": w.created_by,
                        "created_at": w.created_at.isoformat(),
                    }
                    for w in routing.windows
                ],
                separators=(",", ":"),
            )
        ),
        "version": n(routing.version),
    }


def silence_item(silence: Silence) -> dict[str, Attr]:
    return {
        **kit.key(SILENCES_PK, silence.id),
        "id": s(silence.id),
        "team_id": s(silence.team_id),
        "matchers": s(json.dumps([m.to_dict() for m in silence.matchers], separators=(",", ":"))),
        "starts_at": s(silence.starts_at.isoformat()),
        "ends_at": s(silence.ends_at.isoformat()),
        "created_by": s(silence.created_by),
        "comment": s(silence.comment),
        "created_at": s(silence.created_at.isoformat()),
        "updated_at": s(silence.updated_at.isoformat()),
        "expires_at": n(int((silence.ends_at + SILENCE_KEPT).timestamp())),
    }


def silence_of(item: dict[str, Attr]) -> Silence:
    def when(name: str) -> datetime:
        return datetime.fromisoformat(str(item[name]["S"]))

    return Silence(
        id=str(item["id"]["S"]),
        team_id=str(item["team_id"]["S"]),
        matchers=tuple(Matcher(m["name"], MatchOp(m["op"]), m["value"]) for m in json.loads(item["matchers"]["S"])),
        starts_at=when("starts_at"),
        ends_at=when("ends_at"),
        created_by=str(item["created_by"]["S"]),
        comment=str(item["comment"]["S"]),
        created_at=when("created_at"),
        updated_at=when("updated_at"),
    )


class DynamoRoutingStore:
    """Implements ``oncall.services.routing.RoutingStore``."""

    def __init__(self, catalog_table: str, alerts_table: str, client: Any = None) -> None:
        self.catalog = catalog_table
        self.alerts = alerts_table
        self.client = client if client is not None else kit.client()

    # -- a service's routing ----------------------------------------------------------------------------------------
    def routing(self, service_id: str) -> Routing:
        got = self.client.get_item(
            TableName=self.catalog, Key=kit.key(f"SVC#{service_id}", "ROUTING"), ConsistentRead=True
        )
        return routing_of(got.get("Item"), service_id)

    def save(self, changes: Sequence[tuple[Routing, Routing]]) -> None:
        """Write each ``after`` if its routing is still ``before`` (Conflict otherwise), all or nothing, with the
        service's ``routing_version`` (and its ``version``: its configuration changed) in the same transaction."""
        items: list[dict[str, Any]] = []
        for before, after in changes:
            condition = "attribute_not_exists(pk)" if before.version == 0 else "version = :v"
            put: dict[str, Any] = {
                "TableName": self.catalog,
                "Item": routing_item(after),
                "ConditionExpression": condition,
            }
            if before.version:
                put["ExpressionAttributeValues"] = {":v": n(before.version)}
            items.append({"Put": put})
            items.append(
                {
                    "Update": {
                        "TableName": self.catalog,
                        "Key": kit.key(f"SVC#{after.service_id}", "META"),
                        "UpdateExpression": "SET routing_version = :rv ADD version :one",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": {":rv": n(after.version), ":one": n(1)},
                    }
                }
            )
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            raise Conflict("the service's routing changed meanwhile (or the service is gone); retry") from exc

    def forget(self, service_id: str) -> None:
        """A deleted service's routing goes with it."""
        self.client.delete_item(TableName=self.catalog, Key=kit.key(f"SVC#{service_id}", "ROUTING"))

    # -- silences ---------------------------------------------------------------------------------------------------
    def silences(self) -> list[Silence]:
        items = kit.query_all(
            self.client,
            TableName=self.catalog,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(SILENCES_PK)},
            ConsistentRead=True,
        )
        return [silence_of(i) for i in items]

    def silence(self, silence_id: str) -> Silence | None:
        got = self.client.get_item(TableName=self.catalog, Key=kit.key(SILENCES_PK, silence_id), ConsistentRead=True)
        return silence_of(got["Item"]) if "Item" in got else None

    def put_silence(self, silence: Silence, before: Silence | None = None) -> None:
        request: dict[str, Any] = {"TableName": self.catalog, "Item": silence_item(silence)}
        if before is None:
            request["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            request["ConditionExpression"] = "updated_at = :u"
            request["ExpressionAttributeValues"] = {":u": s(before.updated_at.isoformat())}
        if kit.try_write(self.client.put_item, **request) is None:
            raise Conflict("the silence changed meanwhile; read it again and retry")

    # -- suppressed alerts ------------------------------------------------------------------------------------------
    def record_suppressed(self, alert_id: str, alert: Alert, decision: dict[str, Any], now: datetime) -> None:
        kind = str(decision.get("suppressed", {}).get("kind", "rule"))
        raw = alert.raw.text.encode()[:SUPPRESSED_RAW_MAX].decode(errors="ignore")
        record = {
            "id": alert_id,
            "at": iso(now),
            "service_id": alert.service_id,
            "source": alert.source.value,
            "action": alert.action.value,
            "summary": alert.title,
            "severity": alert.severity.value,
            "dedup_key": alert.dedup_key,
            "labels": dict(alert.labels),
            "decision": decision,
            "raw": raw,
            "raw_truncated": len(alert.raw.text.encode()) > SUPPRESSED_RAW_MAX or alert.raw.truncated,
        }
        day = now.astimezone(UTC).strftime("%Y-%m-%d")
        kit.transact(
            self.client,
            [
                {
                    "Put": {
                        "TableName": self.alerts,
                        "Item": {
                            **kit.key(f"SUPPRESSED#{alert.service_id}", f"{sort_key(now)}#{alert_id}"),
                            "record": s(json.dumps(record, separators=(",", ":"), default=str, ensure_ascii=False)),
                            "expires_at": n(int((now + SUPPRESSED_KEPT).timestamp())),
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": self.alerts,
                        "Key": kit.key(f"SUPPCOUNT#{alert.service_id}", f"D#{day}"),
                        "UpdateExpression": "ADD #all :one, #kind :one SET expires_at = :exp",
                        "ExpressionAttributeNames": {"#all": "suppressed", "#kind": kind},
                        "ExpressionAttributeValues": {
                            ":one": n(1),
                            ":exp": n(int((now + timedelta(days=400)).timestamp())),
                        },
                    }
                },
                {
                    # the all-time count GET /metrics reports (a Prometheus counter never starts again)
                    "Update": {
                        "TableName": self.alerts,
                        "Key": kit.key(f"SUPPCOUNT#{alert.service_id}", "ALL"),
                        "UpdateExpression": "ADD #all :one, #kind :one",
                        "ExpressionAttributeNames": {"#all": "suppressed", "#kind": kind},
                        "ExpressionAttributeValues": {":one": n(1)},
                    }
                },
            ],
        )

    def suppressed(
        self, service_id: str, since: datetime, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        request: dict[str, Any] = {
            "TableName": self.alerts,
            "KeyConditionExpression": "pk = :pk AND sk >= :since",
            "ExpressionAttributeValues": {":pk": s(f"SUPPRESSED#{service_id}"), ":since": s(sort_key(since))},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = cursor
        out = self.client.query(**request)
        return [json.loads(i["record"]["S"]) for i in out.get("Items", [])], out.get("LastEvaluatedKey")

    def suppressed_totals(self, service_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Every suppressed alert of each service ever, per kind: one ``BatchGetItem`` per 100 services."""
        keys = [kit.key(f"SUPPCOUNT#{sid}", "ALL") for sid in service_ids]
        return {
            str(item["pk"]["S"]).removeprefix("SUPPCOUNT#"): {
                name: int(item[name]["N"]) for name in SUPPRESSION_KINDS if name in item
            }
            for item in kit.batch_get(self.client, self.alerts, keys, consistent=False)
        }

    def suppressed_counts(self, service_id: str, start: datetime, end: datetime) -> dict[str, int]:
        """Suppressed alerts of the service per kind (and ``suppressed`` in all) over the UTC days ``[start, end]``
        touches: one Query, at most a day's item per day."""
        first, last = start.astimezone(UTC).strftime("%Y-%m-%d"), end.astimezone(UTC).strftime("%Y-%m-%d")
        totals: dict[str, int] = {}
        for item in kit.query_all(
            self.client,
            TableName=self.alerts,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":pk": s(f"SUPPCOUNT#{service_id}"),
                ":a": s(f"D#{first}"),
                ":b": s(f"D#{last}"),
            },
        ):
            for name in SUPPRESSION_KINDS:
                if name in item:
                    totals[name] = totals.get(name, 0) + int(item[name]["N"])
        return totals
