"""The ``stats`` table: incident rollups and what each incident contributed to them.

==========================================  =======================================================================
``R#<H|D|T>#<team>`` / ``<bucket>#<service>#<severity>``  one cell (``oncall.domain.stats``): counters ``n``,
                                            ``st_<status>``, ``esc``, ``a_n``/``a_s``/``a_<seconds>`` (MTTA),
                                            ``r_n``/``r_s``/``r_<seconds>`` (MTTR); a team's cells of a window are one
                                            Query per granularity
``C#<incident id>`` / ``C``                 the incident's last applied contribution and its ``version``; kept 400
                                            days after the incident was created
``TEAMS`` / ``<team>``                      every team that has cells (an admin's analytics read them all)
==========================================  =======================================================================

A contribution replaces the previous one in ONE transaction: the contribution item, conditioned on its stored version
being older, and an ``ADD`` of the difference on each cell concerned (at most six: the hour, day and all-time cells
of the old and the new contribution). A redelivered or overtaken event fails the condition and changes nothing; two
racing versions cannot both apply.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.shifts import from_sort_key, sort_key
from oncall.domain.stats import Cell, Contribution, Row, delta

CONTRIBUTION_KEPT = timedelta(days=400)


def cell_key(cell: Cell) -> dict[str, Attr]:
    granularity, bucket, team, service, severity = cell
    return kit.key(f"R#{granularity}#{team}", f"{sort_key(bucket)}#{service}#{severity}")


def contribution_of(item: dict[str, Attr] | None) -> Contribution | None:
    if not item or "contribution" not in item:
        return None
    return Contribution.of(json.loads(item["contribution"]["S"]))


class DynamoStatsStore:
    """Implements ``oncall.services.stats.StatsStore``."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()
        #: teams this warm function has seen registered
        self._registered: set[str] = set()

    def _register(self, team: str) -> None:
        """``TEAMS`` / ``<team>``: every team that has cells, so an admin's analytics find a deleted team's too. A
        plain idempotent put outside the transaction (inside, every transaction would contend on it), once per team
        per warm function."""
        if team in self._registered:
            return
        self.client.put_item(TableName=self.table, Item=kit.key("TEAMS", team))
        self._registered.add(team)

    def teams(self) -> list[str]:
        items = kit.query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s("TEAMS")},
        )
        return [str(i["sk"]["S"]) for i in items]

    def contribution(self, incident_id: str) -> Contribution | None:
        got = self.client.get_item(TableName=self.table, Key=kit.key(f"C#{incident_id}", "C"), ConsistentRead=True)
        return contribution_of(got.get("Item"))

    def replace(self, incident_id: str, old: Contribution | None, new: Contribution) -> bool:
        """Apply ``new`` in place of ``old`` (as read); False when the stored contribution is not ``old`` any more
        (a newer version applied meanwhile, or this one already was)."""
        self._register(new.team)
        item = {
            **kit.key(f"C#{incident_id}", "C"),
            "version": n(new.version),
            "contribution": s(json.dumps(new.to_dict(), separators=(",", ":"))),
            "expires_at": n(int((new.created_at + CONTRIBUTION_KEPT).timestamp())),
        }
        if old is None:
            guard: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            guard = {"ConditionExpression": "version = :old", "ExpressionAttributeValues": {":old": n(old.version)}}
        items: list[dict[str, Any]] = [{"Put": {"TableName": self.table, "Item": item, **guard}}]
        for cell, counters in delta(old, new).items():
            names = {f"#c{i}": name for i, name in enumerate(sorted(counters))}
            values = {f":c{i}": n(counters[name]) for i, name in enumerate(sorted(counters))}
            items.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": cell_key(cell),
                        "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(names))),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            if exc.condition_failed(stop=1):
                return False
            raise
        return True

    def rows(self, granularity: str, team: str, start: datetime, end: datetime) -> Iterator[Row]:
        """The team's cells of ``granularity`` whose bucket starts in ``[start, end)``."""
        for item in kit.query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues={
                ":pk": s(f"R#{granularity}#{team}"),
                ":a": s(sort_key(start)),
                # every sort key of a bucket before ``end`` sorts below the end's own prefix
                ":b": s(sort_key(end - timedelta(microseconds=1)) + "#\uffff"),
            },
        ):
            bucket, service, severity = str(item["sk"]["S"]).split("#", 2)
            counters = {k: int(v["N"]) for k, v in item.items() if "N" in v}
            yield Row(granularity, from_sort_key(bucket), team, service, severity, counters)
