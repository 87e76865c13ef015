"""Everything stored before teams existed moves into the default team, once per deployment.

Until it has run, readers already treat what it writes as written: an object without ``team_id`` is the default
team's, a user item without ``teams`` is a member of it with the powers of their role. What it writes down is what
the per-team lists and the member list need: ``team_id``/``team_kind`` on services, policies and schedules (the
``by-team`` index), the ``teams`` map on each user and their member record.

Idempotent and resumable: each item is written on the condition that it has not been (a crash or a second process
re-runs only what is left), and the ``MIGRATION#teams`` marker, written last, makes every later start one GetItem.
Incidents are not rewritten: one stored before teams is the default team's when read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import s
from oncall.adapters.dynamodb.team_items import member_item, team_item, usable_team
from oncall.domain.teams import DEFAULT_TEAM_ID, DEFAULT_TEAM_ROLE, default_team
from oncall.domain.users import Role

MARKER = ("MIGRATION#teams", "DONE")


def _owned(client: Any, table: str, kind: str) -> int:
    """Give every ``kind`` item of ``table`` without a team to the default team; returns how many were given."""
    moved = 0
    for item in kit.query_all(
        client,
        TableName=table,
        IndexName="by-kind",
        KeyConditionExpression="kind = :k",
        ExpressionAttributeValues={":k": s(kind)},
    ):
        if "team_id" in item:
            continue
        update = kit.Update().set("team_id", s(DEFAULT_TEAM_ID)).set("team_kind", s(f"{DEFAULT_TEAM_ID}#{kind}"))
        written = kit.try_write(
            client.update_item,
            TableName=table,
            Key=kit.key(str(item["pk"]["S"]), str(item["sk"]["S"])),
            **update.request(f"{update.exists('pk')} AND {update.absent('team_id')}"),
        )
        moved += written is not None
    return moved


def _people(client: Any, users_table: str, catalog_table: str, now: datetime) -> int:
    moved = 0
    for item in kit.query_all(
        client,
        TableName=users_table,
        IndexName="by-username",
        KeyConditionExpression="list_pk = :u",
        ExpressionAttributeValues={":u": s("USER")},
    ):
        if "teams" in item:
            continue
        user_id, role = str(item["id"]["S"]), DEFAULT_TEAM_ROLE[Role(item["role"]["S"])].value
        profile = kit.Update().set("teams", {"M": {DEFAULT_TEAM_ID: s(role)}})
        items = [
            usable_team(catalog_table, DEFAULT_TEAM_ID),
            {"Put": {"TableName": catalog_table, "Item": member_item(DEFAULT_TEAM_ID, user_id, role, now)}},
            {
                "Update": {
                    "TableName": users_table,
                    "Key": kit.key(str(item["pk"]["S"]), str(item["sk"]["S"])),
                    **profile.request(profile.absent("teams")),
                }
            },
        ]
        try:
            kit.transact(client, items)
            moved += 1
        except kit.Cancelled as exc:
            if not exc.condition_failed(start=2):
                raise  # the person got their teams meanwhile: theirs to keep
    return moved


def migrate(client: Any, tables: dict[str, str], now: datetime) -> dict[str, int] | None:
    """Runs the migration unless its marker says it ran; returns what it moved, or None when there was nothing to
    do."""
    catalog = tables["catalog"]
    got = client.get_item(TableName=catalog, Key=kit.key(*MARKER), ConsistentRead=True)
    if "Item" in got:
        return None
    kit.try_write(client.put_item, TableName=catalog, Item=team_item(default_team(now)), **kit.if_absent())
    moved = {
        "services": _owned(client, catalog, "SERVICE"),
        "policies": _owned(client, catalog, "POLICY"),
        "schedules": _owned(client, tables["schedules"], "SCHEDULE"),
        "people": _people(client, tables["users"], catalog, now),
    }
    client.put_item(
        TableName=catalog,
        Item={**kit.key(*MARKER), "at": s(now.isoformat()), **{k: kit.n(v) for k, v in moved.items()}},
    )
    return moved
