"""The ``alerts`` table: dedup claims, alert keys, per-service rate windows and parked events.

=====================================  ==========================================================================
``GRP#<service>#<group digest>`` /     which incident a group of alerts feeds: ``incident_id``, ``open_keys``
``CLAIM``                              (string set of alert keys not yet resolved), ``live_until`` (epoch: the
                                       correlation window's end, or 30 days for keyed groups; decides liveness,
                                       compared with ``now`` in the condition) and ``expires_at`` (DynamoDB TTL,
                                       30 days later, only for cleanup: TTL deletion may lag by days)
``KEY#<service>#<key digest>`` / ``KEY``  an alert key → its incident and group (acknowledge / resolve lookups)
``RATE#<service>`` / ``W#<minute>``    alerts counted in one fixed minute (conditional ADD: shared by all Lambdas)
``PARKED#<day>`` / ``<event id>``      an EventBridge event we could not process, with the reason (two weeks;
                                       the event's first 32 KB)
``PARKCOUNT#<day>#<source digest>`` /  what one event source parked that day (``parked``, ``parked_bytes``) and
``COUNT``                              what it sent over the day's cap, counted but not stored (``over``,
                                       ``over_bytes``); its own partition, so one broken source writes one key
=====================================  ==========================================================================

Parking is capped per source per day (``PARK_DAILY_COUNT`` events, ``PARK_DAILY_BYTES`` stored): a misconfigured
source in a storm would otherwise write an item for every event it sends, all into the day's one partition.

The claim and key records are written inside the incident store's own ``TransactWriteItems`` (claim + incident +
timeline + outbox, all or nothing): the incident store turns the port's ``AlertClaim`` into items with
``take_items`` / ``join_items`` here, so their shapes and conditions live with the rest of the table's. The many new
keys of one big delivery (an Alertmanager group of a thousand) join at once instead (``join``): their records in
batches of 25, then ONE conditional update of the claim; its many resolves likewise read their records 100 at a
time (``refs``) and leave the claim in one update (``release_many``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.alerts import KEYED_CLAIM_TTL, digest
from oncall.services.alert_ports import GroupClaim, KeyRef
from oncall.services.incident_ports import AlertClaim

#: after a claim stops deciding anything, DynamoDB may delete it this much later
CLEANUP_AFTER = timedelta(days=30)
PARK_TTL = timedelta(days=14)
#: what is kept of one parked event: enough to see what is wrong with it, and 32 WRU at most
PARKED_MAX_BYTES = 32 * 1024
#: per event source per UTC day; what is over is counted on the source's counter, not stored
PARK_DAILY_COUNT = 1000
PARK_DAILY_BYTES = 8 * 1024 * 1024


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def claim_pk(service_id: str, group: str) -> str:
    return f"GRP#{service_id}#{digest(group)}"


def key_pk(service_id: str, key: str) -> str:
    return f"KEY#{service_id}#{digest(key)}"


def park_count_pk(day: str, source: str) -> str:
    return f"PARKCOUNT#{day}#{digest(source)}"


def _key_put(table: str, claim: AlertClaim, incident_id: str, since: datetime) -> dict[str, Any]:
    """The alert key's record (acknowledge / resolve find the incident by it), kept ``KEYED_CLAIM_TTL`` from
    ``since``."""
    assert claim.key is not None
    return {
        "Put": {
            "TableName": table,
            "Item": {
                **kit.key(key_pk(claim.service_id, claim.key), "KEY"),
                "incident_id": s(incident_id),
                "group": s(claim.group),
                "dedup_key": s(claim.key),
                "expires_at": n(_epoch(since) + int(KEYED_CLAIM_TTL.total_seconds())),
            },
        }
    }


def take_items(table: str, claim: AlertClaim, incident_id: str) -> list[dict[str, Any]]:
    """Transaction items that take the group for a new ``incident_id`` and record the alert's key (the incident
    store writes them with the incident)."""
    live_until = _epoch(claim.live_until)
    item: dict[str, Attr] = {
        **kit.key(claim_pk(claim.service_id, claim.group), "CLAIM"),
        "incident_id": s(incident_id),
        "group": s(claim.group),
        "service_id": s(claim.service_id),
        "live_until": n(live_until),
        "expires_at": n(live_until + int(CLEANUP_AFTER.total_seconds())),
    }
    if claim.key is not None:
        item["open_keys"] = kit.string_set([claim.key])
    # taken if: nobody holds it, or the holder's window ended (whether or not TTL removed it yet), or it still
    # names the incident this writer saw closed; two writers that saw the same state cannot both pass
    condition = "attribute_not_exists(pk) OR live_until <= :now"
    values: dict[str, Attr] = {":now": n(_epoch(claim.at))}
    if claim.stale is not None:
        condition += " OR incident_id = :stale"
        values[":stale"] = s(claim.stale)
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": table,
                "Item": item,
                "ConditionExpression": condition,
                "ExpressionAttributeValues": values,
            }
        }
    ]
    if claim.key is not None:
        items.append(_key_put(table, claim, incident_id, claim.at))
    return items


def join_items(table: str, claim: AlertClaim, incident_id: str) -> list[dict[str, Any]]:
    """Transaction items that add the alert's key to the claim still naming ``incident_id`` (none for a keyless
    alert: the group is all there is)."""
    if claim.key is None:
        return []
    return [
        {
            "Update": {
                "TableName": table,
                "Key": kit.key(claim_pk(claim.service_id, claim.group), "CLAIM"),
                "UpdateExpression": "ADD open_keys :k",
                "ConditionExpression": "incident_id = :inc",
                "ExpressionAttributeValues": {":k": kit.string_set([claim.key]), ":inc": s(incident_id)},
            }
        },
        _key_put(table, claim, incident_id, claim.live_until),
    ]


class DynamoAlertStore:
    """Implements ``oncall.services.alert_ports.AlertStore``."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    def claim(self, service_id: str, group: str) -> GroupClaim | None:
        got = self.client.get_item(
            TableName=self.table,
            Key=kit.key(claim_pk(service_id, group), "CLAIM"),
            ConsistentRead=True,
        )
        item = got.get("Item")
        if not item:
            return None
        live = item.get("live_until")
        return GroupClaim(
            incident_id=str(item["incident_id"]["S"]),
            expires_at=datetime.fromtimestamp(int(live["N"]), tz=UTC) if live else None,
            open_keys=frozenset(item.get("open_keys", {}).get("SS", [])),
        )

    def key(self, service_id: str, key: str) -> KeyRef | None:
        got = self.client.get_item(
            TableName=self.table, Key=kit.key(key_pk(service_id, key), "KEY"), ConsistentRead=True
        )
        item = got.get("Item")
        if not item:
            return None
        return KeyRef(incident_id=str(item["incident_id"]["S"]), group=str(item["group"]["S"]))

    def join(self, service_id: str, group: str, incident_id: str, keys: Sequence[str], live_until: datetime) -> bool:
        unique = list(dict.fromkeys(keys))
        # the key records first: a resolve finds its incident as soon as the claim lists the key
        records = [
            _key_put(self.table, AlertClaim(service_id, group, k, live_until, live_until), incident_id, live_until)
            for k in unique
        ]
        kit.batch_write(self.client, self.table, [{"PutRequest": {"Item": r["Put"]["Item"]}} for r in records])
        joined = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(claim_pk(service_id, group), "CLAIM"),
            UpdateExpression="ADD open_keys :k",
            ConditionExpression="incident_id = :inc",
            ExpressionAttributeValues={":k": kit.string_set(unique), ":inc": s(incident_id)},
        )
        return joined is not None

    def refs(self, service_id: str, keys: Sequence[str]) -> dict[str, KeyRef]:
        wanted = [kit.key(key_pk(service_id, k), "KEY") for k in dict.fromkeys(keys)]
        found = kit.batch_get(self.client, self.table, wanted)
        return {
            str(i["dedup_key"]["S"]): KeyRef(incident_id=str(i["incident_id"]["S"]), group=str(i["group"]["S"]))
            for i in found
            if "dedup_key" in i
        }

    def release_many(
        self, service_id: str, group: str, incident_id: str, keys: Sequence[str]
    ) -> tuple[frozenset[str], int] | None:
        unique = list(dict.fromkeys(keys))
        out = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(claim_pk(service_id, group), "CLAIM"),
            UpdateExpression="DELETE open_keys :k",
            ConditionExpression="incident_id = :inc",
            ExpressionAttributeValues={":k": kit.string_set(unique), ":inc": s(incident_id)},
            ReturnValues="ALL_OLD",
        )
        if out is None:
            return None
        before = frozenset(out.get("Attributes", {}).get("open_keys", {}).get("SS", []))
        return before & set(unique), len(before - set(unique))

    def release(self, service_id: str, group: str, incident_id: str, key: str) -> int | None:
        out = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(claim_pk(service_id, group), "CLAIM"),
            UpdateExpression="DELETE open_keys :k",
            ConditionExpression="incident_id = :inc AND contains(open_keys, :kv)",
            ExpressionAttributeValues={":k": kit.string_set([key]), ":kv": s(key), ":inc": s(incident_id)},
            ReturnValues="ALL_NEW",
        )
        if out is None:
            return None
        return len(out.get("Attributes", {}).get("open_keys", {}).get("SS", []))

    def take(self, service_id: str, count: int, limit: int, now: datetime) -> bool:
        if count > limit:
            return False
        minute = _epoch(now) // 60
        counted = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(f"RATE#{service_id}", f"W#{minute}"),
            UpdateExpression="ADD n :c SET expires_at = :exp",
            ConditionExpression="attribute_not_exists(n) OR n <= :max",
            ExpressionAttributeValues={":c": n(count), ":max": n(limit - count), ":exp": n(minute * 60 + 180)},
        )
        return counted is not None

    def park(self, event_id: str, reason: str, event: Any, now: datetime) -> None:
        text = json.dumps(event, default=str, separators=(",", ":"))
        data = text.encode()
        kept = data[:PARKED_MAX_BYTES]
        if not self._within_park_cap(event, len(data), len(kept), now):
            return
        item: dict[str, Attr] = {
            "pk": s(f"PARKED#{now.date().isoformat()}"),
            "sk": s(event_id or f"unknown-{now.timestamp()}"),
            "reason": s(reason[:2000]),
            "event": s(kept.decode(errors="ignore")),
            "truncated": kit.boolean(len(data) > PARKED_MAX_BYTES),
            "parked_at": s(now.isoformat()),
            "expires_at": n(_epoch(now + PARK_TTL)),
        }
        self.client.put_item(TableName=self.table, Item=item)

    def _within_park_cap(self, event: Any, size: int, kept: int, now: datetime) -> bool:
        """Count the event on its source's day; False (counted as over, not to be stored) past the day's cap."""
        source = str(event.get("source") or "unknown") if isinstance(event, dict) else "unknown"
        key = kit.key(park_count_pk(now.date().isoformat(), source), "COUNT")
        expires = n(_epoch(now + PARK_TTL))
        counted = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=key,
            UpdateExpression="ADD parked :one, parked_bytes :b SET expires_at = :exp, #src = :src",
            ConditionExpression="attribute_not_exists(parked) OR (parked < :count AND parked_bytes <= :room)",
            ExpressionAttributeNames={"#src": "source"},
            ExpressionAttributeValues={
                ":one": n(1),
                ":b": n(kept),
                ":exp": expires,
                ":src": s(source[:256]),
                ":count": n(PARK_DAILY_COUNT),
                ":room": n(PARK_DAILY_BYTES - kept),
            },
        )
        if counted is not None:
            return True
        self.client.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression="ADD #over :one, over_bytes :b SET expires_at = :exp",
            ExpressionAttributeNames={"#over": "over"},
            ExpressionAttributeValues={":one": n(1), ":b": n(size), ":exp": expires},
        )
        return False

    def park_count(self, day: str, source: str) -> dict[str, int]:
        """What ``source`` parked on ``day`` and what it sent over the cap (``parked``, ``parked_bytes``, ``over``,
        ``over_bytes``)."""
        got = self.client.get_item(
            TableName=self.table, Key=kit.key(park_count_pk(day, source), "COUNT"), ConsistentRead=True
        )
        item = got.get("Item", {})
        return {k: int(item[k]["N"]) if k in item else 0 for k in ("parked", "parked_bytes", "over", "over_bytes")}

    def parked(self, day: str) -> list[dict[str, Any]]:
        out = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(f"PARKED#{day}")},
            ConsistentRead=True,
        )
        return [kit.plain(i) for i in out.get("Items", [])]
