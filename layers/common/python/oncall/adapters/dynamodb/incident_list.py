"""``GET /incidents`` over the incidents table's indexes: newest first, filtered, with an opaque cursor.

The list (``by-created``, ``list_pk = INC#<n>``) and status (``by-status-sharded``, ``status_pk = <status>#<n>``)
indexes are written over ``LIST_SHARDS`` partition keys chosen by the incident id, so no storm of incidents puts
every index write on one key. A page reads each shard newest first (at most ``limit`` matches from each), merges
them by ``created_sk`` (``<UTC time>#<id>``: unique, so one value says where a page ended) and keeps the newest
``limit``; the next page starts below that value in every shard. ``by-service`` is one key per service, unsharded.

Items written before the sharding keep ``list_pk = INC`` and no ``status_pk``: the ``INC`` key is read as one more
shard (filtered on status when a status is asked), so they are listed until their next move rewrites them in the
sharded layout. While ``by-status-sharded`` is still being built (the deploy that adds it to an existing table), a
status is found by filtering the list shards. The unsharded ``by-status`` that preceded it is no longer fed (META's
status attribute is ``incident_status``, not its key); an item written before carries ``status``, and a status filter
accepts either name.

The sharded status index projects only the attributes the filters read (``INDEX_ATTRIBUTES``); every page's
incidents are read whole (META and alert counter, one ``BatchGetItem``), since the counter is in no index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.incident_items import (
    ALERTS_SK,
    LEGACY_LIST_PK,
    LEGACY_STATUS,
    LIST_SHARDS,
    STATUS,
    incident_of,
    stamp,
)
from oncall.adapters.dynamodb.kit import Attr, s
from oncall.domain.incidents import Incident
from oncall.domain.teams import DEFAULT_TEAM_ID
from oncall.services.incident_ports import IncidentFilter

#: index pages read per shard before a page is returned short (a filter that matches almost nothing)
MAX_ROUNDS = 20
STATUS_INDEX = "by-status-sharded"


@dataclass(frozen=True)
class Shard:
    index: str
    hash_attr: str
    hash_value: str
    #: filter on status here (the legacy list key, whose items carry no status key)
    status_filter: bool = False


def shards(filters: IncidentFilter) -> list[Shard]:
    if filters.teams is not None and not filters.service_id:
        # a team's incidents are its services' (each one key of ``by-service``), filtered on the team they opened in
        return [
            Shard("by-service", "service_id", service, status_filter=filters.status is not None)
            for service in filters.team_services
        ]
    if filters.service_id:
        return [Shard("by-service", "service_id", filters.service_id, status_filter=filters.status is not None)]
    if filters.status:
        status = filters.status.value
        return [Shard(STATUS_INDEX, "status_pk", f"{status}#{i}") for i in range(LIST_SHARDS)] + [
            Shard("by-created", "list_pk", LEGACY_LIST_PK, status_filter=True)
        ]
    return [Shard("by-created", "list_pk", f"INC#{i}") for i in range(LIST_SHARDS)] + [
        Shard("by-created", "list_pk", LEGACY_LIST_PK)
    ]


def _range(filters: IncidentFilter, below: str | None) -> tuple[str, dict[str, Attr]]:
    """The sort-key condition: the created range, and strictly below ``below`` (the previous page's last)."""
    lo = stamp(filters.created_from) if filters.created_from else None
    hi = stamp(filters.created_to) + "#~" if filters.created_to else None
    if below is not None and (hi is None or below <= hi):
        hi = below  # exclusive: the item equal to it is dropped on read
    if lo and hi:
        return " AND created_sk BETWEEN :lo AND :hi", {":lo": s(lo), ":hi": s(hi)}
    if lo:
        return " AND created_sk >= :lo", {":lo": s(lo)}
    if hi:
        return " AND created_sk <= :hi", {":hi": s(hi)}
    return "", {}


def _request(table: str, shard: Shard, filters: IncidentFilter, below: str | None) -> dict[str, Any]:
    names = {"#h": shard.hash_attr}
    values: dict[str, Attr] = {":h": s(shard.hash_value)}
    sort_key, sort_values = _range(filters, below)
    values.update(sort_values)
    clauses = []
    if filters.status and shard.status_filter:
        names.update({"#st": STATUS, "#old": LEGACY_STATUS})
        values[":st"] = s(filters.status.value)
        clauses.append("(#st = :st OR #old = :st)")
    if filters.teams is not None:
        names["#team"] = "team_id"
        teams = sorted(filters.teams)
        values.update({f":team{i}": s(team) for i, team in enumerate(teams)})
        clause = f"#team IN ({', '.join(f':team{i}' for i in range(len(teams)))})"
        if DEFAULT_TEAM_ID in filters.teams:
            clause = f"({clause} OR attribute_not_exists(#team))"  # opened before teams: the default team's
        clauses.append(clause)
    for attr, value in (
        ("severity", filters.severity),
        ("source", filters.source),
    ):
        if value is not None:
            names[f"#{attr}"] = attr
            values[f":{attr}"] = s(value)
            clauses.append(f"#{attr} = :{attr}")
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": shard.index,
        "KeyConditionExpression": "#h = :h" + sort_key,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": False,
    }
    if clauses:
        request["FilterExpression"] = " AND ".join(clauses)
    return request


def _newest(
    client: Any, table: str, shard: Shard, filters: IncidentFilter, limit: int, below: str | None
) -> tuple[list[Mapping[str, Attr]], bool]:
    """Up to ``limit`` of the shard's matching index items, newest first, and whether it may hold more."""
    request = _request(table, shard, filters, below)
    found: list[Mapping[str, Attr]] = []
    filtered = "FilterExpression" in request
    for _ in range(MAX_ROUNDS):
        request["Limit"] = max(limit - len(found), 1) * (4 if filtered else 1) + (1 if below else 0)
        out = client.query(**request)
        found += [i for i in out.get("Items", []) if i["created_sk"]["S"] != below]
        start = out.get("LastEvaluatedKey")
        if len(found) >= limit or not start:
            return found[:limit], bool(start) or len(found) > limit
        request["ExclusiveStartKey"] = start
    return found[:limit], True


def _index_not_ready(exc: BaseException) -> bool:
    return kit.error_code(exc) in ("ValidationException", "ResourceNotFoundException") and "index" in str(exc).lower()


def _read(
    client: Any, table: str, sources: list[Shard], filters: IncidentFilter, limit: int, below: str | None
) -> tuple[list[Mapping[str, Attr]], bool]:
    merged: list[Mapping[str, Attr]] = []
    more = False
    for shard in sources:
        items, shard_more = _newest(client, table, shard, filters, limit, below)
        merged += items
        more = more or shard_more
    return merged, more


def search(
    client: Any, table: str, filters: IncidentFilter, limit: int, cursor: Mapping[str, Any] | None
) -> tuple[list[Incident], dict[str, Any] | None]:
    below = str(cursor["created_sk"]) if cursor and cursor.get("created_sk") else None
    if filters.teams is not None and not filters.teams:
        return [], None
    try:
        merged, more = _read(client, table, shards(filters), filters, limit, below)
    except Exception as exc:
        if not (filters.status and not filters.service_id and _index_not_ready(exc)):
            raise
        # the sharded status index is being built: every list shard, filtered on the status
        listed = [replace(i, status_filter=True) for i in shards(IncidentFilter())]
        merged, more = _read(client, table, listed, filters, limit, below)
    merged.sort(key=lambda i: str(i["created_sk"]["S"]), reverse=True)
    more = more or len(merged) > limit
    page = merged[:limit]
    incidents = _whole(client, table, [str(i["pk"]["S"]) for i in page])
    return incidents, ({"created_sk": str(page[-1]["created_sk"]["S"])} if more and page else None)


def _whole(client: Any, table: str, pks: list[str]) -> list[Incident]:
    """The incidents at ``pks``, in that order (META and alert counter read together; eventually consistent, as the
    index itself is)."""
    keys = [kit.key(pk, sk) for pk in pks for sk in ("META", ALERTS_SK)]
    got = kit.batch_get(client, table, keys, consistent=False)
    by_key = {(str(i["pk"]["S"]), str(i["sk"]["S"])): i for i in got}
    out = []
    for pk in pks:
        meta = by_key.get((pk, "META"))
        if meta is not None:
            out.append(incident_of(meta, by_key.get((pk, ALERTS_SK))))
    return out
