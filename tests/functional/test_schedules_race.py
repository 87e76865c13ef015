"""S1 and S2 under real concurrency: 16 threads race 240 random creates, moves and deletes over 3 schedules and 4
people on the emulator, then a full scan of the table decides.

moto's DynamoDB is not atomic under threads, so the emulator's lock shim (``infra.local.dynamo_lock``, what the local
runner installs) is on: the race is between our guarded transactions, not inside moto. The store is our DynamoDB
adapter with one addition: it logs each committed change and the schedule version it committed against. Because
every write bumps its schedule's guard on ``version = :read``, those versions must be exactly 0..n-1 per schedule,
and replaying the logged changes in that order must give exactly what is stored.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from oncall.adapters.dynamodb.identity import DynamoUserStore
from oncall.adapters.dynamodb.schedules import DynamoScheduleStore, UserDirectory
from oncall.adapters.outbox import transact_put
from oncall.domain.errors import ConcurrentUpdate, NotFound
from oncall.domain.shifts import Shift, ShiftOverlap, from_sort_key, overlaps
from oncall.domain.users import Role
from oncall.services.schedule_ports import Change
from oncall.services.schedules import ScheduleService
from tests.support.identity import make_user

THREADS = 16
OPS_PER_THREAD = 15
T0 = datetime(2026, 6, 1, tzinfo=UTC)
TABLE = "oncall-schedules"


class RecordingStore(DynamoScheduleStore):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.committed: list[Change] = []
        self._lock = threading.Lock()

    def apply(self, change: Change) -> None:
        super().apply(change)
        with self._lock:
            self.committed.append(change)


def stored_shifts() -> tuple[dict[str, Shift], list[dict[str, Any]]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": TABLE}
    while True:
        page = client.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    by_id = {}
    for i in items:
        if i["sk"]["S"].startswith("SHIFT#") and "state" not in i:
            by_id[i["id"]["S"]] = Shift(
                id=i["id"]["S"],
                schedule_id=i["schedule_id"]["S"],
                user_id=i["user_id"]["S"],
                start=from_sort_key(i["start"]["S"]),
                end=from_sort_key(i["end"]["S"]),
                version=int(i["version"]["N"]),
            )
    return by_id, items


def test_sixteen_threads_racing_creates_moves_deletes_keep_s1_s2_and_match_the_log(locked_aws: None) -> None:
    admin = make_user(Role.ADMIN)
    people = [make_user(Role.RESPONDER).id for _ in range(4)]
    store = RecordingStore(TABLE, outbox=transact_put)
    service = ScheduleService(
        store,
        UserDirectory(DynamoUserStore("oncall-users")),
        clock=lambda: T0,
        attempts=10,
        backoff_base_s=0.002,
        backoff_cap_s=0.05,
    )
    schedules = [service.create_schedule(admin, name=f"s{i}", timezone="Europe/Berlin").id for i in range(3)]
    known: list[tuple[str, str]] = []  # (schedule, shift id) ever created, for moves and deletes to pick from
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        rng = random.Random(n)
        barrier.wait()
        for _ in range(OPS_PER_THREAD):
            start = T0 + timedelta(hours=rng.randrange(0, 48))
            end = start + timedelta(hours=rng.randrange(1, 9))
            user = rng.choice(people)
            with lock:
                target = rng.choice(known) if known else None
            op = rng.choice(["create", "create", "move", "delete"]) if target else "create"
            try:
                if op == "create":
                    sid = rng.choice(schedules)
                    made = service.put_on_duty(admin, schedule_id=sid, user_id=user, start=start, end=end)
                    with lock:
                        known.append((sid, made.id))
                elif op == "move":
                    assert target is not None
                    kw: dict[str, Any] = {"start": start, "end": end}
                    if rng.random() < 0.5:
                        kw["user_id"] = user
                    service.move_shift(admin, schedule_id=target[0], shift_id=target[1], **kw)
                else:
                    assert target is not None
                    service.delete_shift(admin, schedule_id=target[0], shift_id=target[1])
                result = "ok"
            except ShiftOverlap:
                result = "overlap"
            except NotFound:
                result = "gone"
            except ConcurrentUpdate:
                result = "concurrent_update"
            except BaseException as exc:
                with lock:
                    failures.append(exc)
                return
            with lock:
                outcomes[f"{op}:{result}"] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not failures, failures
    assert sum(outcomes.values()) == THREADS * OPS_PER_THREAD >= 200
    ok = sum(v for k, v in outcomes.items() if k.endswith(":ok"))
    assert ok == len(store.committed)
    assert outcomes["create:ok"] > 20 and outcomes["create:overlap"] > 0
    # the retry path ran: lost races were retried, and most retries then succeeded or found a real conflict
    assert service.stats.retries > 0, outcomes
    print(f"\noutcomes {dict(outcomes)}; retries {service.stats.retries}; exhausted {service.stats.exhausted}")

    # the log is a total order per schedule: guard versions 0..n-1, each taken by exactly one committed change
    expected: dict[str, Shift] = {}
    for sid in schedules:
        mine = sorted((c for c in store.committed if c.schedule_id == sid), key=lambda c: c.schedule_version)
        assert [c.schedule_version for c in mine] == list(range(len(mine)))
        for change in mine:
            for old in change.deletes:
                expected.pop(old.id, None)
            for new in change.puts:
                expected[new.id] = new

    stored, items = stored_shifts()
    assert stored == expected

    # S1 and S2 on what is stored
    everything = sorted(stored.values(), key=lambda s: s.start)
    for i, a in enumerate(everything):
        for b in everything[i + 1 :]:
            if a.schedule_id == b.schedule_id or a.user_id == b.user_id:
                assert not overlaps(a.interval, b.interval), (a, b)

    # the three views agree with each other and nothing is left from cancelled transactions
    views = Counter()
    for i in items:
        if i["sk"]["S"].startswith("AT#"):
            views[(i["pk"]["S"].split("#")[0], i["id"]["S"])] += 1
            assert i["id"]["S"] in stored
    assert views == Counter({**{("SCHED", s): 1 for s in stored}, **{("USER", s): 1 for s in stored}})

    # each person's guard version counts the committed changes that touched them
    guards = {i["pk"]["S"][5:]: int(i["version"]["N"]) for i in items if i["sk"]["S"] == "GUARD"}
    touched = Counter(u for c in store.committed for u in c.user_versions)
    assert guards == dict(touched)

    # one outbox event per committed shift event, each (shift, version) exactly once
    outbox = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="oncall-outbox")["Items"]
    assert len(outbox) == sum(len(c.events) for c in store.committed)


class InterleavingStore(DynamoScheduleStore):
    """Before each of our transactions, another writer (a second service on the same table) really commits a
    shift on the same schedule: the deterministic version of losing every race."""

    def __init__(self, *args: Any, rival: ScheduleService, make_rival_write: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rival = rival
        self.make_rival_write = make_rival_write
        self.attempts = 0

    def apply(self, change: Change) -> None:
        self.attempts += 1
        self.make_rival_write(self.rival, self.attempts)
        super().apply(change)


def test_losing_every_race_ends_in_concurrent_update_after_bounded_jittered_retries(locked_aws: None) -> None:
    admin = make_user(Role.ADMIN)
    ann, bob = make_user(Role.RESPONDER).id, make_user(Role.RESPONDER).id
    people = UserDirectory(DynamoUserStore("oncall-users"))
    rival = ScheduleService(DynamoScheduleStore(TABLE, outbox=transact_put), people, clock=lambda: T0)
    sid = rival.create_schedule(admin, name="hot", timezone="UTC").id

    def rival_write(service: ScheduleService, n: int) -> None:
        start = T0 + timedelta(days=n)
        service.put_on_duty(admin, schedule_id=sid, user_id=bob, start=start, end=start + timedelta(hours=1))

    sleeps: list[float] = []
    store = InterleavingStore(TABLE, outbox=transact_put, rival=rival, make_rival_write=rival_write)
    loser = ScheduleService(store, people, clock=lambda: T0, attempts=4, backoff_base_s=0.1, sleep=sleeps.append)
    with pytest.raises(ConcurrentUpdate) as lost:
        loser.put_on_duty(admin, schedule_id=sid, user_id=ann, start=T0, end=T0 + timedelta(hours=2))
    assert lost.value.code == "concurrent_update"
    assert store.attempts == 4 and loser.stats.retries == 4 and loser.stats.exhausted == 1
    # full jitter: each pause is drawn from [0, base * 2^attempt]
    assert len(sleeps) == 3 and all(0 <= s <= 0.1 * 2**i for i, s in enumerate(sleeps))
    stored, _ = stored_shifts()
    assert {s.user_id for s in stored.values()} == {bob}  # nothing of the loser's was left behind
    # the same write succeeds once the rival stops
    store.make_rival_write = lambda *_: None
    assert loser.put_on_duty(admin, schedule_id=sid, user_id=ann, start=T0, end=T0 + timedelta(hours=2)).version == 1
