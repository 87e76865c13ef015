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

The parts: ``schedule_items`` (keys and item shapes), ``schedule_shifts`` (the reads), ``schedule_rotations``
(rotation rules and feed tokens); this module is the store, with the schedule records and the one write path.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from oncall.adapters.dynamodb import kit, team_index
from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.adapters.dynamodb.schedule_items import (
    SCHEDULE_KIND,
    at_sk,
    sched_pk,
    schedule_of,
    shift_attrs,
    user_pk,
)
from oncall.adapters.dynamodb.schedule_rotations import RotationRecords
from oncall.adapters.dynamodb.schedule_shifts import ShiftReads
from oncall.adapters.dynamodb.team_items import usable_team
from oncall.domain.errors import Conflict
from oncall.domain.events import DomainEvent
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Shift, sort_key
from oncall.services.schedule_ports import Change, ShiftExists, VersionConflict

#: builds the outbox ``Put`` (a TransactItem) for one event; the outbox adapter provides it
OutboxItem = Callable[[DomainEvent], dict[str, Any]]


class DynamoScheduleStore(ShiftReads, RotationRecords):
    """Implements ``oncall.services.schedule_ports.ScheduleStore`` over one table (plus the outbox table)."""

    def __init__(
        self, table: str, client: Any = None, *, outbox: OutboxItem | None = None, catalog_table: str | None = None
    ) -> None:
        self.table = table
        #: where teams are: a schedule put into a team is conditioned on the team being there
        self.catalog_table = catalog_table
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
            **team_index.owner(schedule.team_id, SCHEDULE_KIND),
        }
        if schedule.team:
            item["team"] = s(schedule.team)
        self._write(schedule.team_id, "Put", {"TableName": self.table, "Item": item, **kit.if_absent()})

    def _write(self, team_id: str | None, kind: str, request: dict[str, Any]) -> None:
        """One write; with the check that ``team_id`` exists and is not being deleted when teams are kept beside
        (then a transaction whose lost condition is a Conflict)."""
        check = [usable_team(self.catalog_table, team_id)] if team_id and self.catalog_table else []
        if not check and not kit.riders_pending():
            (self.client.put_item if kind == "Put" else self.client.update_item)(**request)
            return
        try:
            kit.transact(self.client, [*check, {kind: request}])
        except kit.Cancelled as exc:
            raise Conflict("the schedule or its team changed meanwhile; read them again") from exc

    def team_owns_anything(self, team_id: str) -> bool:
        return team_index.owns(self.client, self.table, SCHEDULE_KIND, team_id)

    def get_schedule(self, schedule_id: str) -> Schedule | None:
        got = self.client.get_item(
            TableName=self.table, Key=kit.key(sched_pk(schedule_id), "META"), ConsistentRead=True
        )
        return schedule_of(got["Item"]) if "Item" in got else None

    def list_schedules(
        self, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None = None
    ) -> tuple[list[Schedule], dict[str, Any] | None]:
        items, last = team_index.page(self.client, self.table, SCHEDULE_KIND, teams, limit, cursor)
        return [schedule_of(i) for i in items], last

    def update_schedule(self, schedule: Schedule) -> None:
        sets = ["#n = :n", "#tz = :tz", "kind_sort = :ks"]
        values: dict[str, Attr] = {
            ":n": s(schedule.name),
            ":tz": s(schedule.timezone),
            ":ks": s(f"{schedule.name.lower()}#{schedule.id}"),
        }
        if schedule.team is not None:
            sets.append("team = :team")
            values[":team"] = s(schedule.team)
        for name, value in team_index.owner(schedule.team_id, SCHEDULE_KIND).items():
            sets.append(f"{name} = :{name}")
            values[f":{name}"] = value
        update = {
            "TableName": self.table,
            "Key": kit.key(sched_pk(schedule.id), "META"),
            "UpdateExpression": "SET " + ", ".join(sets),
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": {"#n": "name", "#tz": "timezone"},
            "ExpressionAttributeValues": values,
        }
        self._write(schedule.team_id, "Update", update)

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
            attrs = shift_attrs(new)
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
                    snapshot={**shift.to_dict(), "team_id": change.team_id or "default"},
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
