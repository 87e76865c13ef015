"""The ``notifications`` table: delivery records (dedup), page caps, rate-limit windows and channel flags, and the
recipient directory that reads them with identity's people. Every item is small and short-lived (TTL
``expires_at``); the bot's update ledger shares the table (``oncall.adapters.dynamodb.telegram_ledger``).

=========================  ======================  ==================================================================
pk                         sk                      item / access pattern
=========================  ======================  ==================================================================
``DELIVERY#<user>``        ``KEY#<message key>``   one message to one person: claimed with a conditional put (status
                                                   ``sending`` + lease), then its outcome (status, channel, ref,
                                                   attempts). Query by pk lists a person's deliveries. 30 days.
``QUEUE#<user>#<channel>`` ``KEY#<message key>``   a message waiting for the channel's rate window (its delivery
                                                   record says ``queued``): the message and its context as JSON,
                                                   written with the record; a flush takes the oldest, sends them as
                                                   one message and deletes them. 1 day.
``CAP#<incident>``         ``USER#<user>``         pages sent to a person for an incident: ``ADD pages :1`` on
                                                   ``pages < :cap``. 30 days.
``RATE#<scope>``           ``GCRA``                the scope's next free time in epoch ms, ``tat`` (``tg:bot``,
                                                   ``tg:chat:<id>``; see ``DynamoRateLimiter``), and ``held_until``
                                                   while messages wait in its queue. 1 hour.
``PERSON#<user>``          ``FLAG#<channel>``      the channel failed permanently for the person (blocked the bot);
                                                   deleted when they link again. No expiry.
=========================  ======================  ==================================================================

Long because the stores of one table share its key layout and its TTL rules, and the send path uses them together:
a claim, a cap, a slot and a flag are each a conditional write on items this table alone holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import n, s
from oncall.domain.notifications import (
    HOLD_GRACE_S,
    Message,
    Recipient,
    Status,
    message_from_dict,
    message_to_dict,
    rate_terms,
    refused_wait,
)
from oncall.services.identity_ports import UserStore
from oncall.services.notify import DeliveryClaim, Queued

DELIVERY_TTL = timedelta(days=30)
QUEUED_TTL = timedelta(days=1)
RATE_TTL_S = 3600
RATE_SK = "GCRA"


class DynamoDeliveryLog:
    """Implements ``oncall.services.notify.DeliveryLog``."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    @staticmethod
    def _key(user_id: str, key: str) -> dict[str, Any]:
        return kit.key(f"DELIVERY#{user_id}", f"KEY#{key}")

    def claim(self, user_id: str, message: Message, now: datetime, lease: timedelta) -> DeliveryClaim:
        item = {
            **self._key(user_id, message.key),
            "status": s("sending"),
            "kind": s(message.kind.value),
            "lease_until": n(int((now + lease).timestamp())),
            "claimed_at": s(now.isoformat()),
            "expires_at": n(int((now + DELIVERY_TTL).timestamp())),
        }
        if message.incident_id:
            item["incident_id"] = s(message.incident_id)
        won = kit.try_write(
            self.client.put_item,
            TableName=self.table,
            Item=item,
            ConditionExpression=(
                "attribute_not_exists(pk) OR #s IN (:failed, :limited, :none, :cancelled) "
                "OR (#s = :sending AND lease_until < :now)"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":failed": s("failed"),
                ":limited": s("rate_limited"),
                ":none": s("no_channel"),
                ":cancelled": s("cancelled"),
                ":sending": s("sending"),
                ":now": n(int(now.timestamp())),
            },
        )
        if won is None:
            stored = self.client.get_item(
                TableName=self.table, Key=self._key(user_id, message.key), ConsistentRead=True
            ).get("Item", {})
            return DeliveryClaim(
                won=False,
                status=stored.get("status", {}).get("S"),
                channel=stored.get("channel", {}).get("S"),
                ref=stored.get("ref", {}).get("S"),
            )
        return DeliveryClaim(won=True)

    def finish(
        self,
        user_id: str,
        message: Message,
        status: Status,
        channel: str | None,
        ref: str | None,
        attempts: Sequence[Mapping[str, str]],
        now: datetime,
    ) -> None:
        names = {"#s": "status"}
        values: dict[str, Any] = {
            ":s": s(status),
            ":at": s(now.isoformat()),
            ":attempts": s(json.dumps(list(attempts))),
        }
        sets = ["#s = :s", "finished_at = :at", "attempts = :attempts"]
        removes = ["lease_until"]
        for name, value in (("channel", channel), ("ref", ref)):
            names[f"#{name}"] = name  # "ref" is a DynamoDB reserved word
            if value:
                sets.append(f"#{name} = :{name}")
                values[f":{name}"] = s(value)
            else:
                removes.append(f"#{name}")
        self.client.update_item(
            TableName=self.table,
            Key=self._key(user_id, message.key),
            UpdateExpression="SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # -- queued messages ------------------------------------------------------------------------------------------

    @staticmethod
    def _pending_key(user_id: str, channel: str, key: str) -> dict[str, Any]:
        return kit.key(f"QUEUE#{user_id}#{channel}", f"KEY#{key}")

    def status_of(self, user_id: str, key: str) -> str | None:
        item = self.client.get_item(
            TableName=self.table,
            Key=self._key(user_id, key),
            ConsistentRead=True,
            ProjectionExpression="#s",
            ExpressionAttributeNames={"#s": "status"},
        ).get("Item")
        return item["status"]["S"] if item and "status" in item else None

    def enqueue(
        self,
        user_id: str,
        message: Message,
        channel: str,
        context: Mapping[str, Any],
        attempts: Sequence[Mapping[str, str]],
        now: datetime,
        moved_from: str | None = None,
    ) -> None:
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": self._key(user_id, message.key),
                    "UpdateExpression": (
                        "SET #s = :queued, #ch = :ch, queued_at = :at, attempts = :attempts REMOVE lease_until, #ref"
                    ),
                    "ExpressionAttributeNames": {"#s": "status", "#ch": "channel", "#ref": "ref"},
                    "ExpressionAttributeValues": {
                        ":queued": s("queued"),
                        ":ch": s(channel),
                        ":at": s(now.isoformat()),
                        ":attempts": s(json.dumps(list(attempts))),
                    },
                }
            },
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **self._pending_key(user_id, channel, message.key),
                        "message": s(json.dumps(message_to_dict(message))),
                        "context": s(json.dumps(dict(context))),
                        "queued_at": s(now.isoformat()),
                        "expires_at": n(int((now + QUEUED_TTL).timestamp())),
                    },
                }
            },
        ]
        if moved_from and moved_from != channel:
            items.append(
                {"Delete": {"TableName": self.table, "Key": self._pending_key(user_id, moved_from, message.key)}}
            )
        self.client.transact_write_items(TransactItems=items)

    def take_queued(self, user_id: str, channel: str, now: datetime, lease: timedelta, limit: int) -> list[Queued]:
        # the whole queue, oldest first: keys are message keys, not times, so a partial read could pass over the
        # oldest; one person's queue on one channel is small (what waits for a rate window), a page or two at most
        pending = kit.query_all(
            self.client,
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(f"QUEUE#{user_id}#{channel}")},
            ConsistentRead=True,
        )
        items = sorted(pending, key=lambda i: i.get("queued_at", {}).get("S", ""))
        taken: list[Queued] = []
        for item in items:
            if len(taken) >= limit:
                break
            key = item["sk"]["S"].removeprefix("KEY#")
            taken_now = kit.try_write(
                self.client.update_item,
                TableName=self.table,
                Key=self._key(user_id, key),
                UpdateExpression="SET #s = :sending, lease_until = :lease",
                ConditionExpression="#ch = :ch AND (#s = :queued OR (#s = :sending AND lease_until < :now))",
                ExpressionAttributeNames={"#s": "status", "#ch": "channel"},
                ExpressionAttributeValues={
                    ":sending": s("sending"),
                    ":queued": s("queued"),
                    ":ch": s(channel),
                    ":lease": n(int((now + lease).timestamp())),
                    ":now": n(int(now.timestamp())),
                },
            )
            if taken_now is None:
                status = self.status_of(user_id, key)
                if status not in ("queued", "sending"):
                    # settled elsewhere (sent by a retried caller, or moved): the pending item is stale
                    self.client.delete_item(TableName=self.table, Key=self._pending_key(user_id, channel, key))
                continue
            taken.append(Queued(message_from_dict(json.loads(item["message"]["S"])), json.loads(item["context"]["S"])))
        return taken

    def requeue(self, user_id: str, keys: Sequence[str]) -> None:
        for key in keys:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(user_id, key),
                UpdateExpression="SET #s = :queued REMOVE lease_until",
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":queued": s("queued"), ":sending": s("sending")},
            )

    def settle(
        self,
        user_id: str,
        message: Message,
        channel: str,
        status: Status,
        ref: str | None,
        attempts: Sequence[Mapping[str, str]],
        now: datetime,
    ) -> None:
        self.finish(user_id, message, status, channel, ref, attempts, now)
        for name in {channel, *(a.get("channel", "") for a in attempts)} - {""}:
            self.client.delete_item(TableName=self.table, Key=self._pending_key(user_id, name, message.key))

    def get(self, user_id: str, key: str) -> dict[str, Any] | None:
        item = self.client.get_item(TableName=self.table, Key=self._key(user_id, key), ConsistentRead=True).get("Item")
        return kit.plain(item) if item else None

    def for_person(self, user_id: str) -> list[dict[str, Any]]:
        return [
            kit.plain(i)
            for i in kit.query_all(
                self.client,
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": s(f"DELIVERY#{user_id}")},
            )
        ]

    def count_page(self, incident_id: str, user_id: str, cap: int, now: datetime) -> bool:
        counted = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(f"CAP#{incident_id}", f"USER#{user_id}"),
            UpdateExpression="ADD pages :one SET expires_at = :exp",
            ConditionExpression="attribute_not_exists(pages) OR pages < :cap",
            ExpressionAttributeValues={
                ":one": n(1),
                ":cap": n(cap),
                ":exp": n(int((now + DELIVERY_TTL).timestamp())),
            },
        )
        return counted is not None

    def flag(self, user_id: str, channel: str, reason: str, now: datetime) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": s(f"PERSON#{user_id}"),
                "sk": s(f"FLAG#{channel}"),
                "reason": s(reason or "blocked"),
                "at": s(now.isoformat()),
            },
        )

    def unflag(self, user_id: str, channel: str) -> None:
        self.client.delete_item(TableName=self.table, Key=kit.key(f"PERSON#{user_id}", f"FLAG#{channel}"))

    def flags(self, user_id: str) -> frozenset[str]:
        page = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :f)",
            ExpressionAttributeValues={":pk": s(f"PERSON#{user_id}"), ":f": s("FLAG#")},
        )
        return frozenset(i["sk"]["S"].removeprefix("FLAG#") for i in page.get("Items", []))


class DynamoRateLimiter:
    """Rate limits shared by every Lambda, one item per scope holding its next free time (``rate_terms``): a slot is
    one conditional write when the scope is idle (``SET tat`` on ``tat <= now``), a second when it is busy
    (``ADD tat :interval`` on ``tat <= now + tolerance``, atomic under racing senders). A refused slot waits at most
    one interval: the schedule never runs further ahead than the tolerance plus one interval."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    def acquire(self, scopes: Sequence[tuple[str, int]], wall: float, *, holder: bool = False) -> float:
        now = int(wall * 1000)
        expires = n(int(wall) + RATE_TTL_S)
        # a scope held for its queue has no slot for new messages (``RateLimiter``)
        free = "" if holder else " AND (attribute_not_exists(held_until) OR held_until <= :now)"
        for scope, per_second in scopes:
            interval, tolerance = rate_terms(per_second)
            key = kit.key(f"RATE#{scope}", RATE_SK)
            idle = kit.try_write(
                self.client.update_item,
                TableName=self.table,
                Key=key,
                UpdateExpression="SET tat = :next, expires_at = :exp",
                ConditionExpression=f"(attribute_not_exists(tat) OR tat <= :now){free}",
                ExpressionAttributeValues={":next": n(now + interval), ":now": n(now), ":exp": expires},
            )
            if idle is not None:
                continue
            busy = kit.try_write(
                self.client.update_item,
                TableName=self.table,
                Key=key,
                UpdateExpression="ADD tat :interval SET expires_at = :exp",
                ConditionExpression=f"tat <= :limit{free}",
                ExpressionAttributeValues={
                    ":interval": n(interval),
                    ":limit": n(now + tolerance),
                    ":exp": expires,
                    **({} if holder else {":now": n(now)}),
                },
            )
            if busy is None:
                # refused: when its slot opens is read back, one read per refusal (a page a moment early then
                # waits that moment where a whole interval would have queued it; in a storm each queued page pays
                # the read, ~1 of its ~35 calls, bench/paging.py)
                item = self.client.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item") or {}
                tat, held = item.get("tat"), item.get("held_until")
                return refused_wait(
                    per_second,
                    int(tat["N"]) if tat else None,
                    int(held["N"]) if held else None,
                    now,
                    holder=holder,
                )
        return 0.0

    def hold(self, scopes: Sequence[tuple[str, int]], wall: float, seconds: float) -> None:
        until = int((wall + seconds + HOLD_GRACE_S) * 1000)
        for scope, _ in scopes:
            # only ever later: a shorter hold must not cut short the one a longer wait set
            kit.try_write(
                self.client.update_item,
                TableName=self.table,
                Key=kit.key(f"RATE#{scope}", RATE_SK),
                UpdateExpression="SET held_until = :until, expires_at = :exp",
                ConditionExpression="attribute_not_exists(held_until) OR held_until < :until",
                ExpressionAttributeValues={":until": n(until), ":exp": n(int(wall) + RATE_TTL_S)},
            )

    def release(self, scopes: Sequence[tuple[str, int]]) -> None:
        for scope, _ in scopes:
            self.client.update_item(
                TableName=self.table, Key=kit.key(f"RATE#{scope}", RATE_SK), UpdateExpression="REMOVE held_until"
            )

    def booked(self, scope: str, wall: float) -> float:
        """How far ahead of ``wall`` the scope's slots are taken, in seconds (0 when idle)."""
        item = self.client.get_item(
            TableName=self.table, Key=kit.key(f"RATE#{scope}", RATE_SK), ConsistentRead=True
        ).get("Item")
        return max(0.0, (int(item["tat"]["N"]) - int(wall * 1000)) / 1000) if item else 0.0


class DynamoRecipientDirectory:
    """People from identity's user store plus their channel flags from this table."""

    def __init__(self, users: UserStore, log: DynamoDeliveryLog) -> None:
        self.users = users
        self.log = log

    def recipient(self, user_id: str) -> Recipient | None:
        user = self.users.get(user_id)
        if user is None or not user.active:
            return None
        addresses = {}
        if user.telegram_chat_id:
            addresses["telegram"] = user.telegram_chat_id
        if user.email:
            addresses["email"] = user.email
        from oncall.adapters.dynamodb.notification_rules import person_channels

        # flags, the person's own channel rules and their Slack link share the person's partition: one Query
        flagged, rules, linked, also = person_channels(self.log.client, self.log.table, user.id)
        addresses.update(linked)
        return Recipient(
            user_id=user.id,
            display_name=user.display_name,
            timezone=user.timezone,
            addresses=addresses,
            flagged=flagged,
            rules=rules,
            also=also,
        )
