"""The ``reminders`` table and its due index.

==================  =====================  ========================================================================
pk                  sk                     item / access pattern
==================  =====================  ========================================================================
``SHIFT#<id>``      ``META``               the newest shift-event ``version`` applied (stale events are dropped).
``SHIFT#<id>``      ``R#<offset, 5 dig>``  one reminder of the shift: status, due/start/end, ``shift_version``,
                                           lease, late, sent_at. Query by pk: everything a move/delete touches.
``CURSOR``          ``TICK``               ``low``: the oldest hour bucket that may hold a due pending reminder;
                                           ``rev``: bumped by the planner so a tick's cursor write cannot race it.
==================  =====================  ========================================================================

GSI ``by-due`` (``due_bucket`` = UTC hour ``YYYY-MM-DDTHH``, ``due_sort`` = due time + ids), projecting everything:
only *pending* reminders carry ``due_bucket``, so the index is sparse and a tick's
``Query due_bucket = :hour AND due_sort <= :now`` reads exactly the reminders due and not yet handled; sent, missed
and cancelled ones drop out. Cost per tick: one GetItem (cursor) + one Query per hour bucket since the cursor
(normally one or two) + the due items, however many shifts or reminders are stored.

The index is eventually consistent; every state change goes through a conditional update on the base item, so a
stale index read can at worst offer a reminder whose claim then fails.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import n, s
from oncall.domain import reminders as rules
from oncall.domain.events import DomainEvent
from oncall.domain.reminders import ReminderStatus
from oncall.domain.shifts import Interval, Shift, from_sort_key, iso, sort_key
from oncall.services.reminders import Reminder

BY_DUE = "by-due"
CURSOR_KEY = kit.key("CURSOR", "TICK")


def _key(shift_id: str, offset: int) -> kit.Item:
    return kit.key(f"SHIFT#{shift_id}", f"R#{offset:05d}")


def _due_sort(r: Reminder) -> str:
    return f"{sort_key(r.due_at)}#{r.shift_id}#{r.offset_minutes}"


def _item(r: Reminder) -> dict[str, Any]:
    item: dict[str, Any] = {
        **_key(r.shift_id, r.offset_minutes),
        "shift_id": s(r.shift_id),
        "schedule_id": s(r.schedule_id),
        "user_id": s(r.user_id),
        "offset_minutes": n(r.offset_minutes),
        "due_at": s(sort_key(r.due_at)),
        "shift_start": s(sort_key(r.shift_start)),
        "shift_end": s(sort_key(r.shift_end)),
        "shift_version": n(r.shift_version),
        "status": s(r.status.value),
        "late": {"BOOL": r.late},
    }
    if r.sent_at is not None:
        item["sent_at"] = s(sort_key(r.sent_at))
    if r.status is ReminderStatus.PENDING:
        item["due_bucket"] = s(rules.bucket(r.due_at))
        item["due_sort"] = s(_due_sort(r))
    return item


def _reminder(item: dict[str, Any]) -> Reminder:
    return Reminder(
        shift_id=item["shift_id"]["S"],
        schedule_id=item["schedule_id"]["S"],
        user_id=item["user_id"]["S"],
        offset_minutes=int(item["offset_minutes"]["N"]),
        due_at=from_sort_key(item["due_at"]["S"]),
        shift_start=from_sort_key(item["shift_start"]["S"]),
        shift_end=from_sort_key(item["shift_end"]["S"]),
        shift_version=int(item["shift_version"]["N"]),
        status=ReminderStatus(item["status"]["S"]),
        late=bool(item.get("late", {}).get("BOOL", False)),
        sent_at=from_sort_key(item["sent_at"]["S"]) if "sent_at" in item else None,
        lease_until=datetime.fromtimestamp(int(item["lease_until"]["N"]), UTC) if "lease_until" in item else None,
    )


def sent_event(reminder: Reminder, now: datetime, late: bool, ref: str) -> DomainEvent:
    """``reminder.sent``: one per (shift, offset) and shift version, so a reminder re-sent after a move is a newer
    version of the same entity."""
    return DomainEvent(
        entity_type="reminder",
        entity_id=f"{reminder.shift_id}.{reminder.offset_minutes}",
        version=reminder.shift_version,
        detail_type="reminder.sent",
        snapshot={
            "shift_id": reminder.shift_id,
            "schedule_id": reminder.schedule_id,
            "user_id": reminder.user_id,
            "offset_minutes": reminder.offset_minutes,
            "due_at": iso(reminder.due_at),
            "shift_start": iso(reminder.shift_start),
            "shift_end": iso(reminder.shift_end),
            "sent_at": iso(now),
            "late": late,
            "delivery": ref,
        },
        occurred_at=now,
        resources=(f"schedule/{reminder.schedule_id}", f"shift/{reminder.shift_id}"),
    )


class DynamoReminderStore:
    """Implements ``oncall.services.reminders.ReminderStore``. ``reads`` counts items read (the bench's measure);
    ``outbox`` builds the outbox put for ``reminder.sent`` (``oncall.adapters.outbox.transact_put``)."""

    def __init__(
        self, table: str, client: Any = None, outbox: Callable[[DomainEvent], dict[str, Any]] | None = None
    ) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()
        self.outbox = outbox
        self.reads = 0
        self.calls = 0

    # -- planning --------------------------------------------------------------------------------------------------

    def accept_version(self, shift_id: str, version: int, now: datetime) -> bool:
        self.calls += 1
        accepted = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(f"SHIFT#{shift_id}", "META"),
            UpdateExpression="SET version = :v, applied_at = :now",
            ConditionExpression="attribute_not_exists(version) OR version < :v",
            ExpressionAttributeValues={":v": n(version), ":now": s(now.isoformat())},
        )
        return accepted is not None

    def planned_version(self, shift_id: str) -> int | None:
        self.calls += 1
        got = self.client.get_item(
            TableName=self.table, Key=kit.key(f"SHIFT#{shift_id}", "META"), ConsistentRead=True
        ).get("Item")
        return int(got["version"]["N"]) if got and "version" in got else None

    def of_shift(self, shift_id: str) -> list[Reminder]:
        self.calls += 1
        page = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
            ExpressionAttributeValues={":pk": s(f"SHIFT#{shift_id}"), ":r": s("R#")},
            ConsistentRead=True,
        )
        self.reads += int(page.get("ScannedCount", 0))
        return [_reminder(i) for i in page.get("Items", [])]

    def write(self, reminder: Reminder) -> bool:
        self.calls += 1
        written = kit.try_write(
            self.client.put_item,
            TableName=self.table,
            Item=_item(reminder),
            ConditionExpression="attribute_not_exists(pk) OR shift_version <= :v",
            ExpressionAttributeValues={":v": n(reminder.shift_version)},
        )
        return written is not None

    def touch_cursor(self, low: str | None) -> None:
        self.calls += 1
        if low is not None:
            lowered = kit.try_write(
                self.client.update_item,
                TableName=self.table,
                Key=CURSOR_KEY,
                UpdateExpression="SET low = :b ADD rev :one",
                ConditionExpression="attribute_not_exists(low) OR low > :b",
                ExpressionAttributeValues={":b": s(low), ":one": n(1)},
            )
            if lowered is not None:
                return
        self.calls += 1
        self.client.update_item(
            TableName=self.table,
            Key=CURSOR_KEY,
            UpdateExpression="ADD rev :one",
            ExpressionAttributeValues={":one": n(1)},
        )

    # -- ticking ---------------------------------------------------------------------------------------------------

    def cursor(self) -> tuple[str | None, int]:
        self.calls += 1
        item = self.client.get_item(TableName=self.table, Key=CURSOR_KEY, ConsistentRead=True).get("Item")
        self.reads += 1 if item else 0
        if not item:
            return None, 0
        return item.get("low", {}).get("S"), int(item.get("rev", {}).get("N", "0"))

    def move_cursor(self, low: str, read_revision: int) -> bool:
        self.calls += 1
        moved = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=CURSOR_KEY,
            UpdateExpression="SET low = :low",
            ConditionExpression="attribute_not_exists(rev) OR rev = :rev" if read_revision == 0 else "rev = :rev",
            ExpressionAttributeValues={":low": s(low), ":rev": n(read_revision)},
        )
        return moved is not None

    def due(self, bucket: str, now: datetime) -> list[Reminder]:
        out: list[Reminder] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_DUE,
            "KeyConditionExpression": "due_bucket = :b AND due_sort <= :now",
            "ExpressionAttributeValues": {":b": s(bucket), ":now": s(sort_key(now) + "~")},
        }
        while True:
            self.calls += 1
            page = self.client.query(**kwargs)
            self.reads += int(page.get("ScannedCount", 0))
            out += [_reminder(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def claim(self, reminder: Reminder, now: datetime, lease: timedelta) -> bool:
        self.calls += 1
        claimed = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=_key(reminder.shift_id, reminder.offset_minutes),
            UpdateExpression="SET lease_until = :until",
            ConditionExpression=(
                "#s = :pending AND shift_version = :v AND due_at = :due "
                "AND (attribute_not_exists(lease_until) OR lease_until < :now)"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":pending": s(ReminderStatus.PENDING.value),
                ":v": n(reminder.shift_version),
                ":due": s(sort_key(reminder.due_at)),
                ":now": n(int(now.timestamp())),
                ":until": n(int((now + lease).timestamp())),
            },
        )
        return claimed is not None

    def finish(self, reminder: Reminder, status: ReminderStatus, now: datetime, late: bool, note: str) -> bool:
        """Leave the pending state. A sent reminder is announced as ``reminder.sent`` on the bus, written in the same
        transaction (when the store has an outbox), so the event exists exactly when the reminder is marked sent."""
        self.calls += 1
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": _key(reminder.shift_id, reminder.offset_minutes),
            "UpdateExpression": (
                "SET #s = :status, late = :late, finished_at = :now, note = :note"
                + (", sent_at = :now" if status is ReminderStatus.SENT else "")
                + " REMOVE due_bucket, due_sort, lease_until"
            ),
            "ConditionExpression": "#s = :pending AND shift_version = :v AND due_at = :due",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":status": s(status.value),
                ":late": {"BOOL": late},
                ":now": s(sort_key(now)),
                ":note": s(note[:300] or "-"),
                ":pending": s(ReminderStatus.PENDING.value),
                ":v": n(reminder.shift_version),
                ":due": s(sort_key(reminder.due_at)),
            },
        }
        if status is ReminderStatus.SENT and self.outbox is not None:
            event = sent_event(reminder, now, late, note)
            try:
                kit.transact(self.client, [{"Update": update}, self.outbox(event)])
            except kit.Cancelled:
                return False
            return True
        return kit.try_write(self.client.update_item, **update) is not None

    def release(self, reminder: Reminder) -> None:
        self.calls += 1
        # a reminder that moved on meanwhile holds no lease of ours: nothing to release
        kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=_key(reminder.shift_id, reminder.offset_minutes),
            UpdateExpression="REMOVE lease_until",
            ConditionExpression="#s = :pending AND shift_version = :v",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":pending": s(ReminderStatus.PENDING.value),
                ":v": n(reminder.shift_version),
            },
        )

    def all(self) -> list[Reminder]:
        """Every reminder (tests and tools only: a full scan)."""
        out: list[Reminder] = []
        kwargs: dict[str, Any] = {"TableName": self.table}
        while True:
            page = self.client.scan(**kwargs)
            out += [_reminder(i) for i in page.get("Items", []) if i["sk"]["S"].startswith("R#")]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class ScheduleFacts:
    """Schedule names and "who hands over" for reminder texts, from the schedule store and identity."""

    def __init__(self, schedules: Any, users: Any) -> None:
        self.schedules = schedules
        self.users = users

    def schedule_name(self, schedule_id: str) -> str | None:
        schedule = self.schedules.store.get_schedule(schedule_id)
        return str(schedule.name) if schedule is not None else None

    def handover_from(self, schedule_id: str, start: datetime, shift_id: str) -> str | None:
        before = self.schedules.store.on_call(schedule_id, start - timedelta(microseconds=1))
        if before is None or before.id == shift_id or before.end < start:
            return None
        user = self.users.get(before.user_id)
        return str(user.display_name) if user is not None else None


class UpcomingShifts:
    """Every schedule's shifts overlapping a window, for the reminder sweep (schedules by the by-kind index, then
    each schedule's view by start: cost bounded by the schedules and the window)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def upcoming(self, since: datetime, until: datetime) -> list[Shift]:
        out: list[Shift] = []
        cursor: dict[str, Any] | None = None
        while True:
            schedules, cursor = self.store.list_schedules(100, cursor)
            for schedule in schedules:
                out += self.store.schedule_window(schedule.id, Interval(since, until))
            if not cursor:
                return out
