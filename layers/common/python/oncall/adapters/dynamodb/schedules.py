"""The ``schedules`` table: schedules, shifts, rotations, feed tokens, and the guard items that keep S1/S2.

Single table, keys ``pk``/``sk`` (strings). Every shift is stored three times, in one transaction, because each view
must be read *strongly consistently* by the overlap check, which a GSI (eventually consistent) cannot give:

=====================  ===========================  ==========================================================
pk                     sk                           item / access pattern
=====================  ===========================  ==========================================================
``SCHED#<sid>``        ``META``                     the schedule; ``version`` is the S1 guard. ``kind`` =
                                                    ``SCHEDULE`` puts it in GSI ``by-kind`` (list schedules).
``SCHED#<sid>``        ``AT#<start>#<shift id>``    schedule view ordered by start: neighbours of a window
                                                    (``BETWEEN AT#<start> AND AT#<end>``), the predecessor
                                                    (``< AT#<start>``, descending, Limit 1), who is on call at T
                                                    (``<= AT#<T>~``, descending, Limit 1), list by window.
``SCHED#<sid>``        ``SHIFT#<shift id>``         the shift by id (GET/PATCH/DELETE); ``attribute_not_exists``
                                                    on it makes a rotation slot's put idempotent.
``SCHED#<sid>``        ``ROT#<rotation id>``        a rotation rule; ``kind`` = ``ROTATION`` (the hourly job's
                                                    list, via GSI ``by-kind``).
``SCHED#<sid>``        ``FEED``                     sha256 of the schedule's calendar-feed token.
``USER#<uid>``         ``GUARD``                    the S2 guard ``version`` of one person.
``USER#<uid>``         ``AT#<start>#<shift id>``    person view ordered by start (S2 neighbours, /me/shifts,
                                                    the per-user calendar).
``USER#<uid>``         ``FEED``                     sha256 of the person's calendar-feed token.
=====================  ===========================  ==========================================================

A write (``apply``) is one ``TransactWriteItems``: bump the schedule's and each touched person's guard on
``version = :read``, delete/put the shift views, plus one outbox item per event. Reads are bounded by the window
asked for, never by history: a create costs one ``BatchGetItem`` (both guards) and four ``Query`` calls (forward
window and Limit-1 predecessor, for the schedule and for the person).

Plain boto3 rather than pynamodb models here: the hot path is a handful of low-level calls whose number and
consistency the bench measures, and one transaction mixes five item shapes across two tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.events import DomainEvent
from oncall.domain.rotations import Rotation
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Interval, Shift, from_sort_key, sort_key
from oncall.services.schedule_ports import Change, ShiftExists, VersionConflict

BY_KIND = "by-kind"
SCHEDULE_KIND = "SCHEDULE"
ROTATION_KIND = "ROTATION"
#: sorts after every character a shift id may contain, closing "starts at or before T" ranges
_HIGH = "~"

#: builds the outbox ``Put`` (a TransactItem) for one event; the outbox adapter provides it
OutboxItem = Callable[[DomainEvent], dict[str, Any]]


def sched_pk(schedule_id: str) -> str:
    return f"SCHED#{schedule_id}"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def at_sk(start: datetime, shift_id: str) -> str:
    return f"AT#{sort_key(start)}#{shift_id}"


def _shift_attrs(shift: Shift) -> dict[str, Attr]:
    attrs = {
        "id": s(shift.id),
        "schedule_id": s(shift.schedule_id),
        "user_id": s(shift.user_id),
        "start": s(sort_key(shift.start)),
        "end": s(sort_key(shift.end)),
        "version": n(shift.version),
    }
    if shift.rotation_id:
        attrs["rotation_id"] = s(shift.rotation_id)
    return attrs


def _shift(item: Mapping[str, Attr]) -> Shift:
    return Shift(
        id=item["id"]["S"],
        schedule_id=item["schedule_id"]["S"],
        user_id=item["user_id"]["S"],
        start=from_sort_key(item["start"]["S"]),
        end=from_sort_key(item["end"]["S"]),
        version=int(item["version"]["N"]),
        rotation_id=item["rotation_id"]["S"] if "rotation_id" in item else None,
    )


def _schedule(item: Mapping[str, Attr]) -> Schedule:
    return Schedule(
        id=item["id"]["S"],
        name=item["name"]["S"],
        timezone=item["timezone"]["S"],
        team=item["team"]["S"] if "team" in item else None,
        version=int(item["version"]["N"]),
    )


def _rotation(item: Mapping[str, Attr]) -> Rotation:
    return Rotation(
        id=item["id"]["S"],
        schedule_id=item["schedule_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        participants=tuple(v["S"] for v in item["participants"]["L"]),
        start=from_sort_key(item["start"]["S"]),
        end=from_sort_key(item["end"]["S"]) if "end" in item else None,
        timezone=item["timezone"]["S"],
        period=item["period"]["S"],
        hours=int(item["hours"]["N"]) if "hours" in item else None,
        revision=int(item["revision"]["N"]),
        effective_from=from_sort_key(item["effective_from"]["S"]) if "effective_from" in item else None,
    )


class DynamoScheduleStore:
    """Implements ``oncall.services.schedule_ports.ScheduleStore`` over one table (plus the outbox table)."""

    def __init__(self, table: str, client: Any = None, *, outbox: OutboxItem | None = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()
        self.outbox = outbox

    # -- schedules -----------------------------------------------------------------------------------------------

    def create_schedule(self, schedule: Schedule, now: datetime) -> None:
        item = {
            "pk": s(sched_pk(schedule.id)),
            "sk": s("META"),
            "id": s(schedule.id),
            "name": s(schedule.name),
            "timezone": s(schedule.timezone),
            "version": n(0),
            "kind": s(SCHEDULE_KIND),
            "kind_sort": s(f"{schedule.name.lower()}#{schedule.id}"),
            "created_at": s(sort_key(now)),
        }
        if schedule.team:
            item["team"] = s(schedule.team)
        self.client.put_item(TableName=self.table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    def get_schedule(self, schedule_id: str) -> Schedule | None:
        got = self.client.get_item(
            TableName=self.table, Key=kit.key(sched_pk(schedule_id), "META"), ConsistentRead=True
        )
        return _schedule(got["Item"]) if "Item" in got else None

    def list_schedules(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[Schedule], dict[str, Any] | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": BY_KIND,
            "KeyConditionExpression": "kind = :k",
            "ExpressionAttributeValues": {":k": s(SCHEDULE_KIND)},
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = cursor
        got = self.client.query(**kwargs)
        return [_schedule(i) for i in got["Items"]], got.get("LastEvaluatedKey")

    def update_schedule(self, schedule: Schedule) -> None:
        sets = ["#n = :n", "#tz = :tz", "kind_sort = :ks"]
        values: dict[str, Attr] = {
            ":n": s(schedule.name),
            ":tz": s(schedule.timezone),
            ":ks": s(f"{schedule.name.lower()}#{schedule.id}"),
        }
        expr = "SET " + ", ".join(sets)
        if schedule.team is not None:
            expr += ", team = :team"
            values[":team"] = s(schedule.team)
        self.client.update_item(
            TableName=self.table,
            Key=kit.key(sched_pk(schedule.id), "META"),
            UpdateExpression=expr,
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#n": "name", "#tz": "timezone"},
            ExpressionAttributeValues=values,
        )

    def delete_schedule_record(self, schedule: Schedule) -> None:
        """Remove the schedule's own items once its shifts are gone (rotation rules, feed token, slot tombstones),
        then the schedule itself on ``version = :read``, so a shift written in the meantime makes this fail and the
        caller go round again."""
        pk = sched_pk(schedule.id)
        leftovers = [
            {"pk": i["pk"], "sk": i["sk"]}
            for i in kit.query_all(
                self.client,
                TableName=self.table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": s(pk)},
                ProjectionExpression="pk, sk",
                ConsistentRead=True,
            )
            if i["sk"]["S"] != "META"
        ]
        if any(k["sk"]["S"].startswith("AT#") for k in leftovers):
            raise VersionConflict("shifts were added while the schedule was being deleted")
        kit.batch_write(self.client, self.table, [{"DeleteRequest": {"Key": k}} for k in leftovers])
        deleted = kit.try_write(
            self.client.delete_item,
            TableName=self.table,
            Key=kit.key(pk, "META"),
            ConditionExpression="version = :v",
            ExpressionAttributeValues={":v": n(schedule.version)},
        )
        if deleted is None:
            raise VersionConflict("the schedule changed while being deleted")

    # -- guards and neighbours (the overlap check) ------------------------------------------------------------------

    def guards(self, schedule_id: str, user_ids: Sequence[str]) -> tuple[Schedule | None, dict[str, int]]:
        keys = [kit.key(sched_pk(schedule_id), "META")]
        keys += [kit.key(user_pk(u), "GUARD") for u in dict.fromkeys(user_ids)]
        found = kit.batch_get(self.client, self.table, keys)
        schedule = None
        versions = dict.fromkeys(user_ids, 0)
        for item in found:
            if item["sk"]["S"] == "META":
                schedule = _schedule(item)
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
        return _shift(got["Items"][0]) if got["Items"] else None

    def _neighbours(self, pk: str, window: Interval, limit: int) -> list[Shift]:
        before = self._before(pk, f"AT#{sort_key(window.start)}")
        inside = [_shift(i) for i in self._window(pk, window, limit)["Items"]]
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
        return head + [_shift(i) for i in got["Items"]], got.get("LastEvaluatedKey")

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
        latest = self._before(sched_pk(schedule_id), f"AT#{sort_key(at)}#{_HIGH}")
        return latest if latest is not None and latest.end > at else None

    def get_shift(self, schedule_id: str, shift_id: str) -> Shift | None:
        got = self.client.get_item(
            TableName=self.table,
            Key=kit.key(sched_pk(schedule_id), f"SHIFT#{shift_id}"),
            ConsistentRead=True,
        )
        item = got.get("Item")
        return _shift(item) if item and "state" not in item else None

    def known_ids(self, schedule_id: str, shift_ids: Sequence[str]) -> set[str]:
        """Which of ``shift_ids`` exist or existed (tombstones count): one consistent ``BatchGetItem``."""
        keys = [kit.key(sched_pk(schedule_id), f"SHIFT#{i}") for i in dict.fromkeys(shift_ids)]
        return {i["id"]["S"] for i in kit.batch_get(self.client, self.table, keys, projection="id")}

    # -- the one write path ------------------------------------------------------------------------------------------

    def transact_items(self, change: Change) -> list[dict[str, Any]]:
        """The ``TransactItems`` for ``change`` (public so the bench and tests can see exactly what is written)."""
        items: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self.table,
                    "Key": kit.key(sched_pk(change.schedule_id), "META"),
                    "UpdateExpression": "SET version = :new",
                    "ConditionExpression": "version = :read",
                    "ExpressionAttributeValues": {
                        ":new": n(change.schedule_version + 1),
                        ":read": n(change.schedule_version),
                    },
                }
            }
        ]
        for user_id, read in change.user_versions.items():
            update: dict[str, Any] = {
                "TableName": self.table,
                "Key": kit.key(user_pk(user_id), "GUARD"),
                "UpdateExpression": "SET version = :new",
                "ExpressionAttributeValues": {":new": n(read + 1)},
            }
            if read == 0:
                update["ConditionExpression"] = "attribute_not_exists(version)"
            else:
                update["ConditionExpression"] = "version = :read"
                update["ExpressionAttributeValues"][":read"] = n(read)
            items.append({"Update": update})

        writes: dict[tuple[str, str], dict[str, Any]] = {}
        for old in change.deletes:
            for pk, sk in self._views(old):
                if sk.startswith("SHIFT#") and old.rotation_id and not change.purge:
                    # a removed rotation slot leaves a tombstone under its deterministic id, so the hourly job
                    # does not bring back a slot someone deleted or overrode
                    tomb = {"pk": s(pk), "sk": s(sk), "id": s(old.id), "state": s("deleted")}
                    writes[(pk, sk)] = {"Put": {"TableName": self.table, "Item": tomb}}
                    continue
                writes[(pk, sk)] = {"Delete": {"TableName": self.table, "Key": kit.key(pk, sk)}}
        replaced = {old.id for old in change.deletes}
        for new in change.puts:
            attrs = _shift_attrs(new)
            for pk, sk in self._views(new):
                put: dict[str, Any] = {"TableName": self.table, "Item": {"pk": s(pk), "sk": s(sk), **attrs}}
                if sk.startswith("SHIFT#") and new.id not in replaced:
                    put["ConditionExpression"] = "attribute_not_exists(pk)"
                # a Put on a key the change also deletes replaces it (one operation per item per transaction)
                writes[(pk, sk)] = {"Put": put}
        items += writes.values()
        if self.outbox is not None:
            for event_type, shift in change.events:
                event = DomainEvent(
                    entity_type="shift",
                    entity_id=shift.id,
                    version=shift.version,
                    detail_type=event_type,
                    snapshot=shift.to_dict(),
                    occurred_at=change.now or shift.start,
                    resources=(f"schedule/{shift.schedule_id}",),
                )
                items.append(self.outbox(event))
        if len(items) > 100:
            raise ValueError(f"a change of {len(items)} items exceeds the 100-item transaction limit")
        return items

    @staticmethod
    def _views(shift: Shift) -> list[tuple[str, str]]:
        return [
            (sched_pk(shift.schedule_id), at_sk(shift.start, shift.id)),
            (sched_pk(shift.schedule_id), f"SHIFT#{shift.id}"),
            (user_pk(shift.user_id), at_sk(shift.start, shift.id)),
        ]

    def apply(self, change: Change) -> None:
        items = self.transact_items(change)
        try:
            kit.transact(self.client, items)
        except kit.Cancelled as exc:
            # the guards come first in ``transact_items``: a lost guard is a concurrent change, a lost shift put a
            # slot someone else materialised
            guards = len(change.user_versions) + 1
            if exc.any_of((kit.CONDITION_FAILED, kit.TRANSACTION_CONFLICT), stop=guards):
                raise VersionConflict(str(exc)) from None
            if exc.condition_failed(start=guards):
                raise ShiftExists(str(exc)) from None
            if kit.TRANSACTION_CONFLICT in exc.reasons or not exc.reasons:
                raise VersionConflict(str(exc)) from None
            raise
        except Exception as exc:
            if kit.error_code(exc) == "TransactionConflictException":
                raise VersionConflict("TransactionConflictException") from None
            raise

    # -- rotations -----------------------------------------------------------------------------------------------

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
        self.client.put_item(TableName=self.table, Item=item)

    def get_rotation(self, schedule_id: str, rotation_id: str) -> Rotation | None:
        got = self.client.get_item(
            TableName=self.table,
            Key=kit.key(sched_pk(schedule_id), f"ROT#{rotation_id}"),
            ConsistentRead=True,
        )
        return _rotation(got["Item"]) if "Item" in got else None

    def list_rotations(self, schedule_id: str) -> list[Rotation]:
        got = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :rot)",
            ExpressionAttributeValues={":pk": s(sched_pk(schedule_id)), ":rot": s("ROT#")},
            ConsistentRead=True,
        )
        return [_rotation(i) for i in got["Items"]]

    def delete_rotation(self, schedule_id: str, rotation_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key=kit.key(sched_pk(schedule_id), f"ROT#{rotation_id}"))

    def all_rotations(self) -> list[Rotation]:
        return [
            _rotation(i)
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


class _Users(Protocol):
    def get(self, user_id: str) -> Any: ...


class UserDirectory:
    """``People`` over identity's user store: a deleted user is as unknown as one that never existed."""

    def __init__(self, users: _Users) -> None:
        self.users = users

    def name_of(self, user_id: str) -> str | None:
        user = self.users.get(user_id)
        if user is None or not getattr(user, "active", True):
            return None
        return str(user.display_name or user.username)
