"""Per-person notification rules (channels per kind), kept with the person's channel flags in the ``notifications``
table: ``PERSON#<user>/RULES`` beside ``PERSON#<user>/FLAG#<channel>``, so the recipient directory reads both with
one Query of the person's partition (``person_state``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import s
from oncall.adapters.dynamodb.sms import VERIFY_SK as SMS_VERIFY_SK
from oncall.adapters.dynamodb.sms import code_expiry
from oncall.domain.channel_states import Block
from oncall.domain.notifications import Kind
from oncall.services.channel_states import StoredChannels

RULES_SK = "RULES"


@dataclass(frozen=True)
class StoredRules:
    """A person's rules and the channels that get copies (``also``), as one item holds them: one read for both."""

    rules: dict[Kind, tuple[str, ...]] = field(default_factory=dict)
    also: dict[Kind, tuple[str, ...]] = field(default_factory=dict)


def _pk(user_id: str) -> str:
    return f"PERSON#{user_id}"


class DynamoNotificationRules:
    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    def get(self, user_id: str) -> StoredRules:
        """The rules and the copies with one strongly consistent read of the item that holds both."""
        item = self.client.get_item(TableName=self.table, Key=kit.key(_pk(user_id), RULES_SK), ConsistentRead=True).get(
            "Item"
        )
        if not item:
            return StoredRules()
        return StoredRules(parse(item["rules"]["S"]), parse(item["also"]["S"]) if "also" in item else {})

    def put(
        self,
        user_id: str,
        rules: Mapping[Kind, tuple[str, ...]],
        now: datetime,
        also: Mapping[Kind, tuple[str, ...]] | None = None,
    ) -> None:
        item = {
            **kit.key(_pk(user_id), RULES_SK),
            "rules": s(json.dumps({k.value: list(v) for k, v in rules.items()}, sort_keys=True)),
            "updated_at": s(now.isoformat()),
        }
        if also:
            item["also"] = s(json.dumps({k.value: list(v) for k, v in also.items()}, sort_keys=True))
        kit.try_write(self.client.put_item, TableName=self.table, Item=item)

    def stored_channels(self, user_id: str) -> StoredChannels:
        """The person's addresses linked here, flags with their reasons and a waiting SMS code's expiry, with one
        Query of the partition (``oncall.services.channel_states``)."""
        page = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(_pk(user_id))},
            ConsistentRead=True,
        )
        addresses: dict[str, str] = {}
        blocks: dict[str, Block] = {}
        pending_until, attempts = None, 0
        for item in page.get("Items", []):
            sk = item["sk"]["S"]
            if sk.startswith("FLAG#"):
                at = kit.text(item, "at")
                blocks[sk.removeprefix("FLAG#")] = Block(
                    kit.text(item, "reason") or "blocked", datetime.fromisoformat(at) if at else None
                )
            elif sk.startswith("CHANNEL#") and "address" in item:
                addresses[sk.removeprefix("CHANNEL#")] = item["address"]["S"]
            elif sk == SMS_VERIFY_SK:  # a number waiting for its code
                pending_until = code_expiry(item)
                attempts = int(item.get("attempts", {}).get("N", "0"))
        return StoredChannels(addresses, blocks, pending_until, attempts)


def parse(raw: str) -> dict[Kind, tuple[str, ...]]:
    """Stored rules back; a kind this version no longer knows is ignored rather than failing every page."""
    out: dict[Kind, tuple[str, ...]] = {}
    for key, names in json.loads(raw).items():
        try:
            out[Kind(key)] = tuple(str(n) for n in names)
        except ValueError:
            continue
    return out


def person_state(client: Any, table: str, user_id: str) -> tuple[frozenset[str], dict[Kind, tuple[str, ...]]]:
    """Flags and rules of one person with one Query."""
    flags, rules, _, _ = person_channels(client, table, user_id)
    return flags, rules


def person_channels(
    client: Any, table: str, user_id: str
) -> tuple[frozenset[str], dict[Kind, tuple[str, ...]], dict[str, str], dict[Kind, tuple[str, ...]]]:
    """Flags, rules, the addresses of channels linked here rather than on the user item (``CHANNEL#<name>``: Slack,
    SMS) and the channels that get copies (``also``) of one person, with one Query."""
    page = client.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": s(_pk(user_id))}
    )
    flags: set[str] = set()
    rules: dict[Kind, tuple[str, ...]] = {}
    addresses: dict[str, str] = {}
    also: dict[Kind, tuple[str, ...]] = {}
    for item in page.get("Items", []):
        sk = item["sk"]["S"]
        if sk.startswith("FLAG#"):
            flags.add(sk.removeprefix("FLAG#"))
        elif sk == RULES_SK:
            rules = parse(item["rules"]["S"])
            also = parse(item["also"]["S"]) if "also" in item else {}
        elif sk.startswith("CHANNEL#") and "address" in item:
            addresses[sk.removeprefix("CHANNEL#")] = item["address"]["S"]
    return frozenset(flags), rules, addresses, also
