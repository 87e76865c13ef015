"""Cost of putting someone on duty as a schedule's history grows: DynamoDB calls and items read per create.

For each history size N (default 10, 1,000 and 100,000 stored shifts in one schedule, all held by the same person,
so both the schedule's and the person's views are that deep), the schedule is seeded with batch writes on in-process
moto, then ``--creates`` shifts are put into random gaps of the history (the neighbour queries land in the middle of
the data) plus ``--creates`` that overlap (409). Calls are counted with botocore event hooks on the store's client;
items read are what DynamoDB reports (``ScannedCount`` for queries, items returned by ``BatchGetItem``) and read
capacity is the ``ConsumedCapacity`` it returns; items written is the size of the one ``TransactWriteItems``.

moto's ``TransactWriteItems`` deep-copies the whole table once per item, as a rollback snapshot (O(table size): ~1 s
per create at 3,000 items). No transaction is cancelled here, so the bench skips that snapshot; this changes wall
time only, never what is counted. Wall time is still moto's, not DynamoDB's, and grows with the partition because moto
evaluates the key condition on every item of a partition for each ``Query`` (DynamoDB seeks the sort key): judge calls
and items read (docs/architecture.md, "Invariants"). The 100,000 run takes ~25 minutes on 2 cores, nearly all of it
moto.

    python bench/shifts.py [--sizes 10,1000,100000] [--creates 20]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "ONCALL_TABLE_OUTBOX": "oncall-outbox",
    }
)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from infra.local.resources import create_tables, table_name  # noqa: E402
from infra.topology import TOPOLOGY  # noqa: E402
from oncall.adapters.dynamodb.identity import DynamoUserStore  # noqa: E402
from oncall.adapters.dynamodb.schedules import (  # noqa: E402
    DynamoScheduleStore,
    UserDirectory,
    at_sk,
    sched_pk,
    user_pk,
)
from oncall.adapters.outbox import transact_put  # noqa: E402
from oncall.domain.shifts import Shift, ShiftOverlap, sort_key  # noqa: E402
from oncall.domain.users import Role, User  # noqa: E402
from oncall.services.schedules import ScheduleService  # noqa: E402

T0 = datetime(2020, 1, 1, tzinfo=UTC)
READS_WITH_CAPACITY = {"GetItem", "Query", "BatchGetItem", "TransactWriteItems"}


class Meter:
    """Counts DynamoDB calls, items read and consumed read capacity on one client."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.items_read = 0
        self.rcu = 0.0
        self.written = 0
        events = client.meta.events
        events.register("provide-client-params.dynamodb.*", self._ask_capacity)
        events.register("before-call.dynamodb.*", self._count)
        events.register("after-call.dynamodb.*", self._read)

    def _ask_capacity(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in READS_WITH_CAPACITY:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        if model.name == "TransactWriteItems":
            self.written += len(params.get("TransactItems", []))

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _read(self, http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "Query":
            self.items_read += int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif model.name == "GetItem":
            self.items_read += 1 if "Item" in parsed else 0
        elif model.name == "BatchGetItem":
            self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())
        capacity = parsed.get("ConsumedCapacity")
        for c in capacity if isinstance(capacity, list) else [capacity] if capacity else []:
            if model.name != "TransactWriteItems":
                self.rcu += float(c.get("CapacityUnits", 0))

    def reset(self) -> None:
        self.calls.clear()
        self.items_read = 0
        self.rcu = 0.0
        self.written = 0


def skip_rollback_snapshots() -> None:
    import copy

    import moto.dynamodb.models as ddb

    class NoTableSnapshot:
        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, ddb.Table) else copy.deepcopy(value, memo)

    ddb.copy = NoTableSnapshot  # type: ignore[assignment]


def seed(client: Any, table: str, schedule_id: str, user_id: str, n: int) -> None:
    """``n`` one-hour shifts two hours apart, all three views, with batch writes (25 items a call)."""
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        request = {table: batch[:]}
        batch.clear()
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    for i in range(n):
        shift = Shift(
            id=f"seed{i:07d}",
            schedule_id=schedule_id,
            user_id=user_id,
            start=T0 + timedelta(hours=2 * i),
            end=T0 + timedelta(hours=2 * i + 1),
        )
        attrs = {
            "id": {"S": shift.id},
            "schedule_id": {"S": schedule_id},
            "user_id": {"S": user_id},
            "start": {"S": sort_key(shift.start)},
            "end": {"S": sort_key(shift.end)},
            "version": {"N": "1"},
        }
        for pk, sk in (
            (sched_pk(schedule_id), at_sk(shift.start, shift.id)),
            (sched_pk(schedule_id), f"SHIFT#{shift.id}"),
            (user_pk(user_id), at_sk(shift.start, shift.id)),
        ):
            batch.append({"PutRequest": {"Item": {"pk": {"S": pk}, "sk": {"S": sk}, **attrs}}})
            if len(batch) == 25:
                flush()
    if batch:
        flush()


def run(n: int, creates: int, rng: random.Random) -> dict[str, Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client, TOPOLOGY.tables)
        users = DynamoUserStore(table_name(TOPOLOGY.table("users")), client)
        now = datetime(2026, 1, 1, tzinfo=UTC)
        person = User(
            id="u1", username="bench", role=Role.RESPONDER, display_name="Bench", created_at=now, updated_at=now
        )
        users.create(person)
        admin = User(id="a1", username="admin", role=Role.ADMIN, display_name="Admin", created_at=now, updated_at=now)
        store = DynamoScheduleStore(table_name(TOPOLOGY.table("schedules")), client, outbox=transact_put)
        service = ScheduleService(store, UserDirectory(users), clock=lambda: now)
        schedule = service.create_schedule(admin, name="bench", timezone="UTC")
        t = time.perf_counter()
        seed(client, store.table, schedule.id, person.id, n)
        seeded_s = time.perf_counter() - t
        print(f"seeded {n:,} shifts ({3 * n:,} items) in {seeded_s:.0f} s", file=sys.stderr)
        meter = Meter(client)

        # warm up: the person's guard item exists from the first write on
        service.put_on_duty(
            admin,
            schedule_id=schedule.id,
            user_id=person.id,
            start=T0 - timedelta(hours=9),
            end=T0 - timedelta(hours=8),
        )
        meter.reset()

        picks = rng.sample(range(n), min(creates, n))
        for i in picks:  # overlaps seeded shift i by half an hour
            start = T0 + timedelta(hours=2 * i, minutes=30)
            try:
                service.put_on_duty(
                    admin, schedule_id=schedule.id, user_id=person.id, start=start, end=start + timedelta(minutes=45)
                )
            except ShiftOverlap:
                pass
            else:
                raise AssertionError("expected an overlap")
        clash = (dict(meter.calls), meter.items_read, meter.rcu)
        meter.reset()

        gaps = rng.sample(range(n), min(creates, n))
        t = time.perf_counter()
        for i in gaps:  # the free hour after seeded shift i
            start = T0 + timedelta(hours=2 * i + 1)
            service.put_on_duty(
                admin, schedule_id=schedule.id, user_id=person.id, start=start, end=start + timedelta(hours=1)
            )
        ok_ms = (time.perf_counter() - t) * 1000 / len(gaps)
        ok = (dict(meter.calls), meter.items_read, meter.rcu, meter.written)
        k = len(gaps)
        return {
            "n": n,
            "seed_s": seeded_s,
            "ok_calls": sum(ok[0].values()) / k,
            "ok_breakdown": {op: c / k for op, c in sorted(ok[0].items())},
            "ok_items": ok[1] / k,
            "ok_rcu": ok[2] / k,
            "ok_written": ok[3] / k,
            "ok_ms": ok_ms,
            "clash_calls": sum(clash[0].values()) / k,
            "clash_items": clash[1] / k,
            "clash_rcu": clash[2] / k,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,1000,100000")
    parser.add_argument("--creates", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(7)
    skip_rollback_snapshots()
    rows = [run(int(n), args.creates, rng) for n in args.sizes.split(",")]
    print("Per create (a person put on duty), averaged; the People lookup adds one GetItem on the users table.")
    header = (
        f"{'stored shifts':>13} | {'calls (201)':>11} | {'items read':>10} | {'RCU':>5} | {'written':>7} | "
        f"{'calls (409)':>11} | {'items read':>10} | {'RCU':>5} | {'ms (moto)':>9} | breakdown (201)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        breakdown = ", ".join(f"{op} {c:g}" for op, c in r["ok_breakdown"].items())
        print(
            f"{r['n']:>13,} | {r['ok_calls']:>11.1f} | {r['ok_items']:>10.1f} | {r['ok_rcu']:>5.1f} | "
            f"{r['ok_written']:>7.1f} | {r['clash_calls']:>11.1f} | {r['clash_items']:>10.1f} | "
            f"{r['clash_rcu']:>5.1f} | {r['ok_ms']:>9.1f} | {breakdown}"
        )
    flat = len({(r["ok_calls"], r["ok_items"], r["clash_calls"], r["clash_items"]) for r in rows}) == 1
    print(f"\nflat: {'yes' if flat else 'NO'} (calls and items read per create identical at every size)")
    if not flat:
        sys.exit(1)


if __name__ == "__main__":
    main()
