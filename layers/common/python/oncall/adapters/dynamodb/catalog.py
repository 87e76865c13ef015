"""The ``catalog`` table: services, escalation policies and integration-key lookups.

===============================  ====================================================================================
``SVC#<id>`` / ``META``          a service (``key_hash`` current, ``previous_key_hash`` until the overlap ends)
``POL#<id>`` / ``META``          an escalation policy (levels as JSON text: read whole, never queried into)
``KEY#<sha256>`` / ``KEY``       key hash → service id; the previous key's item carries ``expires_at`` (TTL) so it
                                 disappears after the rotation overlap (expiry is re-checked on read: TTL is lazy)
===============================  ====================================================================================

``by-kind`` (``kind`` = SERVICE | POLICY | TEAM, sorted by ``kind_sort`` = lower-cased name + id) lists each kind by
name; ``by-team`` (``team_kind`` = ``<team id>#SERVICE`` | ``<team id>#POLICY``, same sort) lists one team's, so a
team's list never reads another team's items (``team_index``). ``policy_id`` on services is read by
``services_using`` with a filter (catalogs are small: tens of services). Teams and their members are here too
(``oncall.adapters.dynamodb.teams``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oncall.adapters.dynamodb import kit, team_index
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.adapters.dynamodb.team_items import usable_team
from oncall.domain.errors import Conflict
from oncall.domain.escalation import Level, Policy, Target, TargetType
from oncall.domain.services_catalog import Service


def service_item(service: Service) -> dict[str, Attr]:
    item: dict[str, Attr] = {
        "pk": s(f"SVC#{service.id}"),
        "sk": s("META"),
        "id": s(service.id),
        "name": s(service.name),
        "policy_id": s(service.escalation_policy_id),
        "created_at": s(service.created_at.isoformat()),
        "updated_at": s(service.updated_at.isoformat()),
        "key_hash": s(service.key_hash),
        "version": n(service.version),
        "kind": s("SERVICE"),
        "kind_sort": s(f"{service.name.lower()}#{service.id}"),
        **team_index.owner(service.team_id, "SERVICE"),
    }
    if service.description:
        item["description"] = s(service.description)
    if service.runbook_url:
        item["runbook_url"] = s(service.runbook_url)
    if service.slack_channel:
        item["slack_channel"] = s(service.slack_channel)
    if service.previous_key_hash:
        item["previous_key_hash"] = s(service.previous_key_hash)
    if service.previous_key_expires_at:
        item["previous_key_expires_at"] = s(service.previous_key_expires_at.isoformat())
    if service.key_rotated_at:
        item["key_rotated_at"] = s(service.key_rotated_at.isoformat())
    if service.routing_version:
        item["routing_version"] = n(service.routing_version)
    return item


def service_of(item: Mapping[str, Attr]) -> Service:
    def text(name: str) -> str | None:
        return str(item[name]["S"]) if name in item else None

    def when(name: str) -> datetime | None:
        v = text(name)
        return datetime.fromisoformat(v) if v else None

    created, updated = when("created_at"), when("updated_at")
    assert created is not None and updated is not None
    return Service(
        id=str(item["id"]["S"]),
        name=str(item["name"]["S"]),
        escalation_policy_id=str(item["policy_id"]["S"]),
        created_at=created,
        updated_at=updated,
        description=text("description"),
        key_hash=str(item["key_hash"]["S"]),
        previous_key_hash=text("previous_key_hash"),
        previous_key_expires_at=when("previous_key_expires_at"),
        key_rotated_at=when("key_rotated_at"),
        version=int(item["version"]["N"]),
        runbook_url=text("runbook_url"),
        team_id=text("team_id"),
        slack_channel=text("slack_channel"),
        routing_version=int(item["routing_version"]["N"]) if "routing_version" in item else 0,
    )


def policy_item(policy: Policy) -> dict[str, Attr]:
    item: dict[str, Attr] = {
        "pk": s(f"POL#{policy.id}"),
        "sk": s("META"),
        "id": s(policy.id),
        "name": s(policy.name),
        "levels": s(json.dumps([lv.to_dict() for lv in policy.levels], separators=(",", ":"))),
        "repeat": n(policy.repeat),
        "auto_close_seconds": n(policy.auto_close_seconds),
        "version": n(policy.version),
        "kind": s("POLICY"),
        "kind_sort": s(f"{policy.name.lower()}#{policy.id}"),
        **team_index.owner(policy.team_id, "POLICY"),
    }
    if policy.ack_timeout_seconds is not None:
        item["ack_timeout_seconds"] = n(policy.ack_timeout_seconds)
    if policy.description:
        item["description"] = s(policy.description)
    if policy.created_at:
        item["created_at"] = s(policy.created_at.isoformat())
    if policy.updated_at:
        item["updated_at"] = s(policy.updated_at.isoformat())
    return item


def policy_of(item: Mapping[str, Attr]) -> Policy:
    levels = tuple(
        Level(
            targets=tuple(Target(TargetType(t["type"]), str(t["id"])) for t in lv["targets"]),
            timeout_seconds=int(lv["timeout_seconds"]),
        )
        for lv in json.loads(str(item["levels"]["S"]))
    )
    return Policy(
        id=str(item["id"]["S"]),
        name=str(item["name"]["S"]),
        levels=levels,
        repeat=int(item["repeat"]["N"]),
        ack_timeout_seconds=int(item["ack_timeout_seconds"]["N"]) if "ack_timeout_seconds" in item else None,
        auto_close_seconds=int(item["auto_close_seconds"]["N"]),
        created_at=datetime.fromisoformat(item["created_at"]["S"]) if "created_at" in item else None,
        updated_at=datetime.fromisoformat(item["updated_at"]["S"]) if "updated_at" in item else None,
        version=int(item["version"]["N"]),
        description=str(item["description"]["S"]) if "description" in item else None,
        team_id=kit.text(item, "team_id"),
    )


class DynamoCatalogStore:
    """Implements ``oncall.services.incident_ports.CatalogStore``."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    def _key_item(self, key_hash: str, service_id: str, expires_at: datetime | None = None) -> dict[str, Attr]:
        item = {"pk": s(f"KEY#{key_hash}"), "sk": s("KEY"), "service_id": s(service_id)}
        if expires_at is not None:
            item["expires_at"] = n(int(expires_at.timestamp()))
        return item

    def _versioned(self, before_version: int) -> dict[str, Any]:
        return {
            "ConditionExpression": "version = :v",
            "ExpressionAttributeValues": {":v": n(before_version)},
        }

    def _transact(self, items: list[dict[str, Any]]) -> None:
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            raise Conflict("changed by someone else meanwhile; read it again and retry") from exc

    # -- services ---------------------------------------------------------------------------------------------------
    def _into_team(self, team_id: str | None) -> list[dict[str, Any]]:
        return [usable_team(self.table, team_id)] if team_id else []

    def put_service(self, service: Service) -> None:
        self._transact(
            [
                *self._into_team(service.team_id),
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": service_item(service),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": self._key_item(service.key_hash, service.id),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    def get_service(self, service_id: str) -> Service | None:
        got = self.client.get_item(TableName=self.table, Key=kit.key(f"SVC#{service_id}", "META"))
        return service_of(got["Item"]) if "Item" in got else None

    def update_service(self, before: Service, after: Service) -> None:
        moved = self._into_team(after.team_id) if after.team_id != before.team_id else []
        self._transact(
            [*moved, {"Put": {"TableName": self.table, "Item": service_item(after), **self._versioned(before.version)}}]
        )

    def rotate_key(self, before: Service, after: Service) -> None:
        items: list[dict[str, Any]] = [
            {"Put": {"TableName": self.table, "Item": service_item(after), **self._versioned(before.version)}},
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._key_item(after.key_hash, after.id),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            # the key just replaced keeps working until the overlap ends, then TTL removes its lookup item
            {
                "Put": {
                    "TableName": self.table,
                    "Item": self._key_item(before.key_hash, before.id, after.previous_key_expires_at),
                }
            },
        ]
        if before.previous_key_hash and before.previous_key_hash != before.key_hash:
            items.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": kit.key(f"KEY#{before.previous_key_hash}", "KEY"),
                    }
                }
            )
        self._transact(items)

    def delete_service(self, service: Service) -> None:
        items: list[dict[str, Any]] = [
            {"Delete": {"TableName": self.table, "Key": kit.key(f"SVC#{service.id}", "META")}},
            {"Delete": {"TableName": self.table, "Key": kit.key(f"KEY#{service.key_hash}", "KEY")}},
        ]
        if service.previous_key_hash:
            items.append(
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": kit.key(f"KEY#{service.previous_key_hash}", "KEY"),
                    }
                }
            )
        self._transact(items)

    def service_id_for_key(self, key_hash: str) -> str | None:
        got = self.client.get_item(TableName=self.table, Key=kit.key(f"KEY#{key_hash}", "KEY"))
        item = got.get("Item")
        return str(item["service_id"]["S"]) if item else None

    def _list(
        self, kind: str, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None
    ) -> tuple[list[Any], dict[str, Any] | None]:
        return team_index.page(self.client, self.table, kind, teams, limit, cursor)

    def list_services(
        self, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None = None
    ) -> tuple[list[Service], dict[str, Any] | None]:
        items, last = self._list("SERVICE", limit, cursor, teams)
        return [service_of(i) for i in items], last

    def team_owns_anything(self, team_id: str) -> bool:
        return any(team_index.owns(self.client, self.table, kind, team_id) for kind in ("SERVICE", "POLICY"))

    def services_using(self, policy_id: str) -> list[Service]:
        found: list[Service] = []
        cursor: dict[str, Any] | None = None
        while True:
            batch, cursor = self.list_services(200, cursor)
            found.extend(svc for svc in batch if svc.escalation_policy_id == policy_id)
            if cursor is None:
                return found

    # -- policies ---------------------------------------------------------------------------------------------------
    def put_policy(self, policy: Policy) -> None:
        put = {"Put": {"TableName": self.table, "Item": policy_item(policy), **kit.if_absent()}}
        self._transact([*self._into_team(policy.team_id), put])

    def get_policy(self, policy_id: str) -> Policy | None:
        got = self.client.get_item(TableName=self.table, Key=kit.key(f"POL#{policy_id}", "META"))
        return policy_of(got["Item"]) if "Item" in got else None

    def update_policy(self, before: Policy, after: Policy) -> None:
        moved = self._into_team(after.team_id) if after.team_id != before.team_id else []
        self._transact(
            [*moved, {"Put": {"TableName": self.table, "Item": policy_item(after), **self._versioned(before.version)}}]
        )

    def delete_policy(self, policy: Policy) -> None:
        self._transact(
            [
                {
                    "Delete": {
                        "TableName": self.table,
                        "Key": kit.key(f"POL#{policy.id}", "META"),
                        **self._versioned(policy.version),
                    }
                }
            ]
        )

    def list_policies(
        self, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None = None
    ) -> tuple[list[Policy], dict[str, Any] | None]:
        items, last = self._list("POLICY", limit, cursor, teams)
        return [policy_of(i) for i in items], last
