"""Teams and their members, in the ``catalog`` table beside the services and policies they own, plus each member's
team roles on their user item.

==========================  =========================================================================================
``TEAM#<id>`` / ``META``    the team; ``kind`` = ``TEAM`` lists teams by name in ``by-kind``; ``deleting`` is set
                            by a delete before it checks the team owns nothing, and every create into the team is
                            conditioned on its absence, so nothing lands in a team while it is being removed
``TEAM#<id>`` /             one member: ``user_id``, ``role``, ``added_at``; the team's member list is one Query
``MEMBER#<user id>``
==========================  =========================================================================================

The same membership is also in the member's ``users`` item (``teams``: a map team id → role), written in the same
transaction: authentication reads that item once per request anyway, so the caller's teams cost no read, and the
two copies cannot disagree.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.identity import PROFILE, user_pk
from oncall.adapters.dynamodb.kit import n, s
from oncall.adapters.dynamodb.team_items import MEMBER, META, member_item, team_item, team_of, team_pk, usable_team
from oncall.domain.errors import Conflict, NotFound
from oncall.domain.teams import Team, TeamRole


class DynamoTeamStore:
    def __init__(self, catalog_table: str, users_table: str, client: Any = None) -> None:
        self.table = catalog_table
        self.users_table = users_table
        self.client = client if client is not None else kit.client()

    def create(self, team: Team) -> bool:
        """False when a team with this id exists (the default team's idempotent creation)."""
        return (
            kit.try_write(self.client.put_item, TableName=self.table, Item=team_item(team), **kit.if_absent())
            is not None
        )

    def get(self, team_id: str) -> Team | None:
        got = self.client.get_item(TableName=self.table, Key=kit.key(team_pk(team_id), META), ConsistentRead=True)
        item = got.get("Item")
        return team_of(item) if item and "deleting" not in item else None

    def get_many(self, team_ids: list[str]) -> list[Team]:
        keys = [kit.key(team_pk(t), META) for t in team_ids]
        return [team_of(i) for i in kit.batch_get(self.client, self.table, keys) if "deleting" not in i]

    def list_all(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[Team], dict[str, Any] | None]:
        request: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": "by-kind",
            "KeyConditionExpression": "kind = :k",
            "ExpressionAttributeValues": {":k": s("TEAM")},
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = {k: s(str(v)) for k, v in cursor.items()}
        out = self.client.query(**request)
        last = out.get("LastEvaluatedKey")
        teams = [team_of(i) for i in out.get("Items", []) if "deleting" not in i]
        return teams, ({k: v["S"] for k, v in last.items()} if last else None)

    def ids(self) -> list[str]:
        """Every team's id (one query: teams are few)."""
        items = kit.query_all(
            self.client,
            TableName=self.table,
            IndexName="by-kind",
            KeyConditionExpression="kind = :k",
            ExpressionAttributeValues={":k": s("TEAM")},
        )
        return [str(i["id"]["S"]) for i in items if "deleting" not in i]

    def update(self, before: Team, after: Team) -> None:
        written = kit.try_write(
            self.client.put_item,
            TableName=self.table,
            Item=team_item(after),
            ConditionExpression="version = :v AND attribute_not_exists(deleting)",
            ExpressionAttributeValues={":v": n(before.version)},
        )
        if written is None:
            raise Conflict("changed by someone else meanwhile; read it again and retry")

    def mark_deleting(self, team: Team) -> None:
        """The first step of a delete: from here no object can be put into the team."""
        update = kit.Update().set("deleting", kit.boolean(True))
        if (
            kit.try_write(
                self.client.update_item,
                TableName=self.table,
                Key=kit.key(team_pk(team.id), META),
                **update.request(update.equals("version", n(team.version))),
            )
            is None
        ):
            raise Conflict("changed by someone else meanwhile; read it again and retry")

    def unmark_deleting(self, team_id: str) -> None:
        update = kit.Update().remove("deleting")
        kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(team_pk(team_id), META),
            **update.request(update.exists("pk")),
        )

    def delete(self, team_id: str, members: list[str]) -> None:
        """The team and its members (and the members' copies on their user items), the team's record last, so an
        interrupted delete can be run again."""
        for user_id in members:
            with contextlib.suppress(NotFound):
                self.remove_member(team_id, user_id)
        kit.try_write(self.client.delete_item, TableName=self.table, Key=kit.key(team_pk(team_id), META))

    # -- members ----------------------------------------------------------------------------------------------------
    def put_member(self, team_id: str, user_id: str, role: TeamRole, now: datetime) -> None:
        """Adds the member or changes their role. NotFound when the team is gone or the person is not an active user
        (nothing written)."""
        profile = kit.Update().set("teams", s(role.value), team_id).set("updated_at", s(now.isoformat()))
        active = f"{profile.equals('status', s('active'))} AND {profile.exists('teams')}"
        items: list[dict[str, Any]] = [
            usable_team(self.table, team_id),
            {"Put": {"TableName": self.table, "Item": member_item(team_id, user_id, role.value, now)}},
            {
                "Update": {
                    "TableName": self.users_table,
                    "Key": kit.key(user_pk(user_id), PROFILE),
                    **profile.request(active),
                }
            },
        ]
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            if exc.condition_failed(stop=1):
                raise NotFound("team", team_id) from exc
            if exc.condition_failed(start=2, stop=3):
                raise NotFound("user", user_id) from exc
            raise

    def _removal(self, team_id: str, user_id: str, *, must_exist: bool) -> list[dict[str, Any]]:
        profile = kit.Update().remove("teams", team_id)
        delete: dict[str, Any] = {"TableName": self.table, "Key": kit.key(team_pk(team_id), MEMBER + user_id)}
        if must_exist:
            delete["ConditionExpression"] = "attribute_exists(pk)"
        return [
            {"Delete": delete},
            {
                "Update": {
                    "TableName": self.users_table,
                    "Key": kit.key(user_pk(user_id), PROFILE),
                    # a deleted user's item may be gone: removing from nothing must not fail the batch
                    **profile.request(profile.exists("teams")),
                }
            },
        ]

    def remove_member(self, team_id: str, user_id: str) -> None:
        try:
            kit.transact(self.client, self._removal(team_id, user_id, must_exist=True))
        except kit.Cancelled as exc:
            if exc.condition_failed(stop=1):
                raise NotFound("member", user_id) from exc
            if exc.condition_failed(start=1):
                # the person's item has no teams map: only the member record was left behind
                self.client.delete_item(TableName=self.table, Key=kit.key(team_pk(team_id), MEMBER + user_id))
                return
            raise

    def members(self, team_id: str) -> dict[str, TeamRole]:
        items = kit.query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :m)",
            ExpressionAttributeValues={":pk": s(team_pk(team_id)), ":m": s(MEMBER)},
            ConsistentRead=True,
        )
        return {str(i["user_id"]["S"]): TeamRole(i["role"]["S"]) for i in items}
