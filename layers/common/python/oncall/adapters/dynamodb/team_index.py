"""Lists of a kind of team-owned item (services, policies, schedules) by name, for every team or for some.

Every such item carries ``kind`` and ``kind_sort`` (lower-cased name + id: unique, so one value says where a page
ended) for the ``by-kind`` index, and ``team_kind`` (``<team id>#<kind>``) for the ``by-team`` index. A list over some
teams reads each team's key from just after the cursor, at most a page from each, and merges them by ``kind_sort``:
what it costs depends on those teams' items only, never on other teams'.
"""

from __future__ import annotations

from typing import Any

from oncall.adapters.dynamodb.kit import Attr, s

BY_KIND = "by-kind"
BY_TEAM = "by-team"


def owner(team_id: str | None, kind: str) -> dict[str, Attr]:
    """The attributes that put an item in its team's list (an item stored before teams has none until the default
    team's migration writes them)."""
    if team_id is None:
        return {}
    return {"team_id": s(team_id), "team_kind": s(f"{team_id}#{kind}")}


def _query(
    client: Any, table: str, index: str, key: tuple[str, str], after: str | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    names = {"#h": key[0]}
    values = {":h": s(key[1])}
    condition = "#h = :h"
    if after:
        condition += " AND kind_sort > :after"
        values[":after"] = s(after)
    out = client.query(
        TableName=table,
        IndexName=index,
        KeyConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        Limit=limit + 1,
    )
    items = list(out.get("Items", []))
    return items[:limit], len(items) > limit


def page(
    client: Any, table: str, kind: str, teams: frozenset[str] | None, limit: int, cursor: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Up to ``limit`` items of ``kind`` by name, of ``teams`` (None: every team), after ``cursor``."""
    after = str(cursor["after"]) if cursor and cursor.get("after") else None
    keys = (
        [(BY_KIND, ("kind", kind))]
        if teams is None
        else [(BY_TEAM, ("team_kind", f"{team}#{kind}")) for team in sorted(teams)]
    )
    merged: list[dict[str, Any]] = []
    more = False
    for index, key in keys:
        items, shard_more = _query(client, table, index, key, after, limit)
        merged += items
        more = more or shard_more
    merged.sort(key=lambda i: str(i["kind_sort"]["S"]))
    more = more or len(merged) > limit
    found = merged[:limit]
    return found, ({"after": str(found[-1]["kind_sort"]["S"])} if more and found else None)


def owns(client: Any, table: str, kind: str, team_id: str) -> bool:
    items, _ = _query(client, table, BY_TEAM, ("team_kind", f"{team_id}#{kind}"), None, 1)
    return bool(items)
