"""Rotation rules and calendar-feed token hashes in the ``schedules`` table (``ROT#<id>`` and ``FEED`` items)."""

from __future__ import annotations

from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.adapters.dynamodb.schedule_items import BY_KIND, ROTATION_KIND, rotation_of, sched_pk
from oncall.domain.rotations import Rotation
from oncall.domain.shifts import sort_key


class RotationRecords:
    """The rotation and feed-token part of ``DynamoScheduleStore``."""

    table: str
    client: Any

    def put_rotation(self, rotation: Rotation) -> None:
        item: dict[str, Attr] = {
            "pk": s(sched_pk(rotation.schedule_id)),
            "sk": s(f"ROT#{rotation.id}"),
            "id": s(rotation.id),
            "schedule_id": s(rotation.schedule_id),
            "name": s(rotation.name),
            "participants": {"L": [s(p) for p in rotation.participants]},
            "start": s(sort_key(rotation.start)),
            "timezone": s(rotation.timezone),
            "period": s(rotation.period),
            "revision": n(rotation.revision),
            "kind": s(ROTATION_KIND),
            "kind_sort": s(f"{rotation.schedule_id}#{rotation.id}"),
        }
        if rotation.end is not None:
            item["end"] = s(sort_key(rotation.end))
        if rotation.hours is not None:
            item["hours"] = n(rotation.hours)
        if rotation.effective_from is not None:
            item["effective_from"] = s(sort_key(rotation.effective_from))
        kit.try_write(self.client.put_item, TableName=self.table, Item=item)

    def get_rotation(self, schedule_id: str, rotation_id: str) -> Rotation | None:
        got = self.client.get_item(
            TableName=self.table,
            Key=kit.key(sched_pk(schedule_id), f"ROT#{rotation_id}"),
            ConsistentRead=True,
        )
        return rotation_of(got["Item"]) if "Item" in got else None

    def list_rotations(self, schedule_id: str) -> list[Rotation]:
        got = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :rot)",
            ExpressionAttributeValues={":pk": s(sched_pk(schedule_id)), ":rot": s("ROT#")},
            ConsistentRead=True,
        )
        return [rotation_of(i) for i in got["Items"]]

    def delete_rotation(self, schedule_id: str, rotation_id: str) -> None:
        kit.try_write(
            self.client.delete_item, TableName=self.table, Key=kit.key(sched_pk(schedule_id), f"ROT#{rotation_id}")
        )

    def all_rotations(self) -> list[Rotation]:
        return [
            rotation_of(i)
            for i in kit.query_all(
                self.client,
                TableName=self.table,
                IndexName=BY_KIND,
                KeyConditionExpression="kind = :k",
                ExpressionAttributeValues={":k": s(ROTATION_KIND)},
            )
        ]

    # -- calendar feed tokens --------------------------------------------------------------------------------------

    @staticmethod
    def _feed_key(owner: str) -> dict[str, Attr]:
        return kit.key(owner, "FEED")

    def feed_token_hash(self, owner: str) -> str | None:
        """``owner`` is ``SCHED#<id>`` or ``USER#<id>``."""
        got = self.client.get_item(TableName=self.table, Key=self._feed_key(owner), ConsistentRead=True)
        return str(got["Item"]["token_sha256"]["S"]) if "Item" in got else None

    def set_feed_token_hash(self, owner: str, token_hash: str) -> None:
        self.client.put_item(TableName=self.table, Item={**self._feed_key(owner), "token_sha256": s(token_hash)})
