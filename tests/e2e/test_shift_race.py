"""S1 and S2 through the local runner over HTTP: 16 clients race 224 random creates, moves and deletes over 3 schedules
and 4 people, served by the API function's worker processes (real parallel Lambdas against one emulator). Afterwards
a full scan of the stored items decides: no overlaps per schedule or per person, and every shift is exactly what the
last successful response said about it (deleted ones are gone).

A request the runner timed out (a worker starved of CPU past the function's timeout, as Lambda times out) is a 500
whose outcome the client cannot know, exactly as in AWS: the check then allows both outcomes for that one operation,
and the invariants on what is stored still hold whole."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, start_runner

pytestmark = pytest.mark.e2e

ADMIN = {"username": "race-admin", "password": "race admin passphrase"}
CLIENTS = 16
OPS_PER_CLIENT = 14
T0 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    r = start_runner(tmp_path_factory.mktemp("shift-race"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def scan(product: Runner, table: str) -> list[dict[str, Any]]:
    client = product.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_sixteen_clients_racing_over_http_keep_s1_s2(product: Runner) -> None:
    token = product.post("/auth/login", ADMIN).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    people = []
    for i in range(4):
        made = product.post("/users", {"username": f"racer{i}", "password": "racer passphrase 1"}, headers=auth)
        assert made.status_code == 201, made.text
        people.append(made.json()["id"])
    schedules = []
    for i in range(3):
        made = product.post("/schedules", {"name": f"race {i}", "timezone": "Europe/Berlin"}, headers=auth)
        assert made.status_code == 201, made.text
        schedules.append(made.json()["id"])

    known: list[tuple[str, str]] = []
    #: shift id → (version, body) of every successful create/move; ids whose delete succeeded
    seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
    deleted: set[str] = set()
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(CLIENTS)
    unexpected: list[str] = []
    #: operations whose outcome is unknown to the client: shift ids moved or deleted, and a count of creates
    unknown_targets: set[str] = set()
    unknown_creates = 0

    def client(n: int) -> None:
        nonlocal unknown_creates
        import requests

        rng = random.Random(1000 + n)
        http = requests.Session()
        http.headers.update(auth)
        barrier.wait()
        for _ in range(OPS_PER_CLIENT):
            start = T0 + timedelta(hours=rng.randrange(0, 36))
            end = start + timedelta(hours=rng.randrange(1, 9))
            body: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat()}
            with lock:
                target = rng.choice(known) if known else None
            op = rng.choice(["create", "create", "move", "delete"]) if target else "create"
            if op == "create":
                sid = rng.choice(schedules)
                request = ("POST", f"/schedules/{sid}/shifts", {**body, "user_id": rng.choice(people)})
            elif op == "move":
                assert target is not None
                if rng.random() < 0.5:
                    body["user_id"] = rng.choice(people)
                request = ("PATCH", f"/schedules/{target[0]}/shifts/{target[1]}", body)
            else:
                assert target is not None
                request = ("DELETE", f"/schedules/{target[0]}/shifts/{target[1]}", None)
            for _ in range(30):
                # the runner throttles like Lambda's concurrency limit: a well-behaved client waits and retries
                r = http.request(request[0], product.http + request[1], json=request[2])
                if r.status_code != 429:
                    break
                time.sleep(float(r.json()["error"]["details"].get("retry_after", 1)) * rng.uniform(0.5, 1.0))
            code = r.json()["error"]["code"] if r.status_code >= 400 else "ok"
            with lock:
                outcomes[f"{op}:{r.status_code}:{code}"] += 1
                if r.status_code in (200, 201):
                    shift = r.json()
                    seen[shift["id"]].append(shift)
                    if op == "create":
                        known.append((shift["schedule_id"], shift["id"]))
                elif r.status_code == 204:
                    assert target is not None
                    deleted.add(target[1])
                elif product.timed_out(r):
                    if op == "create":
                        unknown_creates += 1
                    else:
                        assert target is not None
                        unknown_targets.add(target[1])
                elif (r.status_code, code) not in {
                    (409, "shift_overlap"),
                    (404, "not_found"),
                    (409, "concurrent_update"),
                }:
                    unexpected.append(f"{op} {r.status_code} {r.text[:300]}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert not unexpected, unexpected
    assert sum(outcomes.values()) == CLIENTS * OPS_PER_CLIENT >= 200
    assert outcomes["create:201:ok"] > 10 and outcomes["create:409:shift_overlap"] > 0, outcomes

    items = scan(product, "oncall-schedules")
    stored = {i["id"]["S"]: i for i in items if i["sk"]["S"].startswith("SHIFT#") and "state" not in i}
    for sid, bodies in seen.items():
        versions = [b["version"] for b in bodies]
        assert len(versions) == len(set(versions)), (sid, versions)  # two moves never both won the same version
        if sid in deleted:
            assert sid not in stored
            continue
        if sid in unknown_targets and (sid not in stored or int(stored[sid]["version"]["N"]) > max(versions)):
            continue  # the timed-out delete or move did happen
        last = max(bodies, key=lambda b: b["version"])
        got = stored[sid]
        assert (got["user_id"]["S"], int(got["version"]["N"])) == (last["user_id"], last["version"])
        assert got["start"]["S"][:19] == last["start"][:19] and got["end"]["S"][:19] == last["end"][:19]
    assert set(seen) - deleted - unknown_targets <= set(stored)
    assert len(set(stored) - set(seen)) <= unknown_creates  # only a timed-out create may have stored unseen

    shifts = sorted(
        (i["start"]["S"], i["end"]["S"], i["schedule_id"]["S"], i["user_id"]["S"], k) for k, i in stored.items()
    )
    for n, a in enumerate(shifts):
        for b in shifts[n + 1 :]:
            if b[0] >= a[1]:
                break
            assert a[2] != b[2] and a[3] != b[3], (a, b)  # overlapping in time: different schedule AND person

    views = Counter(i["id"]["S"] for i in items if i["sk"]["S"].startswith("AT#"))
    assert views == Counter(dict.fromkeys(stored, 2))
    # the retry path ran in the API workers (they log each lost race)
    assert "lost a race" in product.log(), outcomes
