"""Reading shifts from the ``schedules`` table: the guard versions and the only possible neighbours a write's overlap
check needs, shifts by window (schedule or person, with a cursor), who is on call at an instant, a shift by id.
Every read here is strongly consistent and bounded by the window asked for, never by history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import s
from oncall.adapters.dynamodb.schedule_items import HIGH, sched_pk, schedule_of, shift_of, user_pk
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Interval, Shift, sort_key


class ShiftReads:
    """The shift reads of ``DynamoScheduleStore``."""

    table: str
    client: Any

    def guards(self, schedule_id: str, user_ids: Sequence[str]) -> tuple[Schedule | None, dict[str, int]]:
        keys = [kit.key(sched_pk(schedule_id), "META")]
        keys += [kit.key(user_pk(u), "GUARD") for u in dict.fromkeys(user_ids)]
        found = kit.batch_get(self.client, self.table, keys)
        schedule = None
        versions = dict.fromkeys(user_ids, 0)
        for item in found:
            if item["sk"]["S"] == "META":
                schedule = schedule_of(item)
            else:
                versions[item["pk"]["S"][len("USER#") :]] = int(item.get("version", {"N": "0"})["N"])
        return schedule, versions

    def _window(self, pk: str, window: Interval, limit: int, cursor: dict[str, Any] | None = None) -> Any:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": s(pk),
                ":lo": s(f"AT#{sort_key(window.start)}"),
                # a shift starting exactly at ``end`` has a longer key and so falls outside: half-open
                ":hi": s(f"AT#{sort_key(window.end)}"),
            },
            "ConsistentRead": True,
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = cursor
        return self.client.query(**kwargs)

    def _before(self, pk: str, upper: str) -> Shift | None:
        got = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues={":pk": s(pk), ":lo": s("AT#"), ":hi": s(upper)},
            ConsistentRead=True,
            ScanIndexForward=False,
            Limit=1,
        )
        return shift_of(got["Items"][0]) if got["Items"] else None

    def _neighbours(self, pk: str, window: Interval, limit: int) -> list[Shift]:
        before = self._before(pk, f"AT#{sort_key(window.start)}")
        inside = [shift_of(i) for i in self._window(pk, window, limit)["Items"]]
        return ([before] if before else []) + inside

    def schedule_neighbours(self, schedule_id: str, window: Interval, limit: int) -> list[Shift]:
        return self._neighbours(sched_pk(schedule_id), window, limit)

    def user_neighbours(self, user_id: str, window: Interval, limit: int) -> list[Shift]:
        return self._neighbours(user_pk(user_id), window, limit)

    def _list(
        self, pk: str, window: Interval, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        head: list[Shift] = []
        if cursor is None:
            before = self._before(pk, f"AT#{sort_key(window.start)}")
            if before is not None and before.end > window.start:
                head = [before]
        got = self._window(pk, window, limit, cursor)
        return head + [shift_of(i) for i in got["Items"]], got.get("LastEvaluatedKey")

    def schedule_shifts(
        self, schedule_id: str, window: Interval, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        return self._list(sched_pk(schedule_id), window, limit, cursor)

    def user_shifts(
        self, user_id: str, window: Interval, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        return self._list(user_pk(user_id), window, limit, cursor)

    def _all(self, pk: str, window: Interval) -> list[Shift]:
        out: list[Shift] = []
        page, cursor = self._list(pk, window, 500, None)
        out += page
        while cursor:
            page, cursor = self._list(pk, window, 500, cursor)
            out += page
        return out

    def schedule_window(self, schedule_id: str, window: Interval) -> list[Shift]:
        """Every shift of the schedule overlapping ``window`` (rotation planning: cost bounded by the window)."""
        return self._all(sched_pk(schedule_id), window)

    def user_window(self, user_id: str, window: Interval) -> list[Shift]:
        return self._all(user_pk(user_id), window)

    def on_call(self, schedule_id: str, at: datetime) -> Shift | None:
        """One query: the last shift starting at or before ``at``; it is on call if it has not ended."""
        latest = self._before(sched_pk(schedule_id), f"AT#{sort_key(at)}#{HIGH}")
        return latest if latest is not None and latest.end > at else None

    def get_shift(self, schedule_id: str, shift_id: str) -> Shift | None:
        got = self.client.get_item(
            TableName=self.table,
            Key=kit.key(sched_pk(schedule_id), f"SHIFT#{shift_id}"),
            ConsistentRead=True,
        )
        item = got.get("Item")
        return shift_of(item) if item and "state" not in item else None

    def known_ids(self, schedule_id: str, shift_ids: Sequence[str]) -> set[str]:
        """Which of ``shift_ids`` exist or existed (tombstones count): one consistent ``BatchGetItem``."""
        keys = [kit.key(sched_pk(schedule_id), f"SHIFT#{i}") for i in dict.fromkeys(shift_ids)]
        return {i["id"]["S"] for i in kit.batch_get(self.client, self.table, keys, projection="id")}
