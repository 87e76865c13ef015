"""Team and member item shapes and keys (``oncall.adapters.dynamodb.teams`` is the store; the user store writes a new
user's member records with these, in the user's own transaction)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.teams import Team

META = "META"
MEMBER = "MEMBER#"


def team_pk(team_id: str) -> str:
    return f"TEAM#{team_id}"


def team_item(team: Team) -> dict[str, Attr]:
    item: dict[str, Attr] = {
        **kit.key(team_pk(team.id), META),
        "id": s(team.id),
        "name": s(team.name),
        "created_at": s(team.created_at.isoformat()),
        "updated_at": s(team.updated_at.isoformat()),
        "version": n(team.version),
        "kind": s("TEAM"),
        "kind_sort": s(f"{team.name.lower()}#{team.id}"),
    }
    if team.description:
        item["description"] = s(team.description)
    if team.slack_channel:
        item["slack_channel"] = s(team.slack_channel)
    return item


def team_of(item: Mapping[str, Attr]) -> Team:
    return Team(
        id=str(item["id"]["S"]),
        name=str(item["name"]["S"]),
        created_at=datetime.fromisoformat(item["created_at"]["S"]),
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]),
        description=kit.text(item, "description"),
        version=kit.number(item, "version", 1) or 1,
        slack_channel=kit.text(item, "slack_channel"),
    )


def usable_team(catalog_table: str, team_id: str) -> dict[str, Any]:
    """A transaction ``ConditionCheck``: the team exists and is not being deleted. Every write that puts an object
    into a team carries it, so an object can never belong to a team that is gone."""
    check = kit.Update()
    condition = f"{check.exists('pk')} AND {check.absent('deleting')}"
    return {
        "ConditionCheck": {
            "TableName": catalog_table,
            "Key": kit.key(team_pk(team_id), META),
            "ConditionExpression": condition,
            **check.placeholders(),
        }
    }


def member_item(team_id: str, user_id: str, role: str, now: datetime) -> dict[str, Attr]:
    return {
        **kit.key(team_pk(team_id), MEMBER + user_id),
        "user_id": s(user_id),
        "role": s(role),
        "added_at": s(now.isoformat()),
    }
