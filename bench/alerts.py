"""Alert ingestion: alerts/s through the local runner vs the emulator's ceiling, and DynamoDB calls per alert.

1. Throughput. Starts ``python -m infra.local`` with the product topology (ephemeral, free ports), creates services,
   and sends PagerDuty Events v2 triggers to ``POST /v2/enqueue`` with 1 and 8 client threads: *deduplicated* (one key
   per service, so every alert attaches) and *new* (a fresh key each, so every alert opens an incident, which also
   starts its lifecycle execution and pages in the background). The ceiling is one conditional ``PutItem`` straight to
   the emulator's port with the same thread counts, idle, between the rows, and while new incidents open at 5/s. The
   per-service rate limit (120/min) is shared across many services so it does not cap the measurement.
2. DynamoDB calls per alert, in-process (moto's request handler counts every call): a new alert, a deduplicated one,
   a keyless one correlated into an open incident, the resolve of the last open key, a resolve for an unknown key, and
   an invalid event.
3. One Alertmanager group of 150 and of 1,000 alerts (one ``groupKey``, a fingerprint each, as Alertmanager sends a
   big outage grouped by ``alertname``): the reply, DynamoDB calls per alert and seconds in-process, firing, the same
   body again (Alertmanager's ``repeat_interval``), then resolved.

4. Routing: DynamoDB calls for a new and a deduplicated alert, and new alerts per second, with 0, 10 and 100 event
   rules on the service and a silence on its team.

    .venv/bin/python bench/alerts.py [--seconds 12] [--groups-only] [--routing-only]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

import tests.conftest  # noqa: E402,F401  (test-only credentials and a cheap KDF: this runs against the emulator)
from bench._load import rate  # noqa: E402

SERVICES = 12


def throughput(
    seconds: float,
) -> tuple[list[tuple[int, float, float, float, float]], tuple[float, float, float]]:
    import requests

    from tests.e2e.launch import PRODUCT_TOPOLOGY, start_runner

    env = {"ONCALL_ADMIN_USERNAME": "bench-admin", "ONCALL_ADMIN_PASSWORD": "bench admin passphrase"}
    with tempfile.TemporaryDirectory() as tmp:
        runner = start_runner(Path(tmp), topology=PRODUCT_TOPOLOGY, env=env)
        try:
            token = runner.post(
                "/auth/login", {"username": env["ONCALL_ADMIN_USERNAME"], "password": env["ONCALL_ADMIN_PASSWORD"]}
            ).json()["access_token"]
            admin = {"Authorization": f"Bearer {token}"}
            user = runner.post(
                "/users",
                {"username": "bench-responder", "password": "bench responder pass", "role": "responder"},
                headers=admin,
            ).json()
            levels = [{"targets": [{"type": "user", "id": user["id"]}], "timeout_seconds": 3600}]
            policy = runner.post("/escalation-policies", {"name": "bench", "levels": levels}, headers=admin).json()
            keys = [
                runner.post(
                    "/services", {"name": f"svc-{i}", "escalation_policy_id": policy["id"]}, headers=admin
                ).json()["integration_key"]
                for i in range(SERVICES)
            ]
            ring = itertools.cycle(keys)
            ring_lock = threading.Lock()
            ddb = runner.client("dynamodb")

            def next_key() -> str:
                with ring_lock:
                    return next(ring)

            def enqueue(dedup: bool) -> Callable[[int], Callable[[], None]]:
                def op(_: int) -> Callable[[], None]:
                    session = requests.Session()

                    def call() -> None:
                        key = next_key()
                        body = {
                            "routing_key": key,
                            "event_action": "trigger",
                            "dedup_key": f"same-{key}" if dedup else uuid.uuid4().hex,
                            "payload": {"summary": "Payment API 5xx above 5%", "source": "bench", "severity": "error"},
                        }
                        resp = session.post(f"{runner.http}/v2/enqueue", json=body, timeout=60)
                        if resp.status_code != 202:
                            raise RuntimeError(f"{resp.status_code}: {resp.text[:200]}")

                    return call

                return op

            def ceiling(_: int) -> Callable[[], None]:
                def call() -> None:
                    ddb.put_item(
                        TableName="oncall-alerts",
                        Item={"pk": {"S": f"BENCH#{uuid.uuid4().hex}"}, "sk": {"S": "x"}},
                        ConditionExpression="attribute_not_exists(pk)",
                    )

                return call

            def while_opening(per_second: float) -> float:
                """The ceiling with 8 clients while new incidents open at ``per_second`` (each starts its lifecycle
                execution and pages in the background), after two seconds of it."""
                stop = threading.Event()

                def feed() -> None:
                    new_alert, began, sent = enqueue(False)(0), time.monotonic(), 0
                    while not stop.is_set():
                        new_alert()
                        sent += 1
                        stop.wait(max(0.0, began + sent / per_second - time.monotonic()))

                feeder = threading.Thread(target=feed)
                feeder.start()
                try:
                    time.sleep(2.0)
                    return rate(8, seconds / 3, ceiling)
                finally:
                    stop.set()
                    feeder.join()

            def update_ceiling(i: int) -> Callable[[], None]:
                # what a deduplicated alert's writes are: a conditional update with an expression, not a put
                def call() -> None:
                    ddb.update_item(
                        TableName="oncall-alerts",
                        Key={"pk": {"S": f"BENCH#u{i}"}, "sk": {"S": "x"}},
                        UpdateExpression="ADD seen :one SET last_at = :now",
                        ConditionExpression="attribute_not_exists(seen) OR seen >= :zero",
                        ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}, ":now": {"S": "t"}},
                    )

                return call

            # the emulator's ceiling before any incident exists (each open incident adds a waiting execution)
            idle = {threads: rate(threads, seconds / 6, ceiling) for threads in (1, 8)}
            updates = rate(8, seconds / 6, update_ceiling)
            opening = while_opening(5.0)
            enqueue(True)(0)()  # warm the API workers and the dedup claims
            for key in keys:
                requests.post(
                    f"{runner.http}/v2/enqueue",
                    json={
                        "routing_key": key,
                        "event_action": "trigger",
                        "dedup_key": f"same-{key}",
                        "payload": {"summary": "warm", "source": "b", "severity": "info"},
                    },
                    timeout=60,
                )
            # Lambda keeps environments warm between bursts: the API's pool grows to its capacity first, so a row
            # measures the steady state, not new workers' cold starts (bench/cold_start.py measures those)
            rate(8, 3.0, enqueue(True))
            rows = []
            for threads in (1, 8):
                ceil, dedup, new = [], [], []
                for _ in range(2):
                    ceil.append(rate(threads, seconds / 6, ceiling))
                    dedup.append(rate(threads, seconds / 6, enqueue(True)))
                    new.append(rate(threads, seconds / 6, enqueue(False)))
                rows.append(
                    (threads, idle[threads], statistics.median(ceil), statistics.median(dedup), statistics.median(new))
                )
            opened = len(runner.get("/incidents", headers=admin, params={"limit": 200}).json()["items"])
            print(f"(incidents at the end: {opened}{'+' if opened == 200 else ''})")
            return rows, (idle[8], opening, updates)
        finally:
            runner.stop()


@contextmanager
def counted() -> Iterator[Counter[str]]:
    from moto.dynamodb.responses import DynamoHandler

    counter: Counter[str] = Counter()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        counter[str(self.headers.get("X-Amz-Target", "")).rsplit(".", 1)[-1]] += 1
        return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


@contextmanager
def one_service() -> Iterator[tuple[Any, Any, str]]:
    """A fresh in-process emulator with the product's tables and one service paging its admin: (admin, service,
    integration key)."""
    import os

    import boto3
    from moto import mock_aws

    from infra.local.resources import create_tables, function_environment
    from infra.topology import FUNCTIONS
    from oncall import wiring
    from oncall.domain.escalation import Level, Target, TargetType
    from oncall.domain.users import Role
    from oncall.settings import get_settings
    from tests.support.identity import make_user

    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"))
        for fn in FUNCTIONS:
            os.environ.update(function_environment(fn))
        get_settings.cache_clear()
        wiring.reset()
        admin = make_user(Role.ADMIN)
        catalog = wiring.incidents.catalog_service()
        policy = catalog.create_policy(admin, name="p", levels=[Level((Target(TargetType.USER, admin.id),), 60)])
        service, key = catalog.create_service(admin, name="svc", escalation_policy_id=policy.id)
        yield admin, service, key


def calls_per_alert() -> list[tuple[str, int, str]]:
    from tests.support.lambdas import call_api

    rows: list[tuple[str, int, str]] = []
    with one_service() as (_, _, key):

        def pd(action: str, dedup_key: str | None, routing_key: str = key) -> dict[str, Any]:
            body: dict[str, Any] = {"routing_key": routing_key, "event_action": action}
            if dedup_key:
                body["dedup_key"] = dedup_key
            if action == "trigger":
                body["payload"] = {"summary": "disk full", "source": "db-1", "severity": "critical"}
            return body

        call_api("POST", "/v2/enqueue", body=json.dumps(pd("trigger", "warm")))  # imports and the key lookup path
        for label, body in (
            ("new alert (opens an incident)", pd("trigger", "k1")),
            ("same key again (attaches)", pd("trigger", "k1")),
            ("keyless, first in its window (opens)", pd("trigger", None)),
            ("keyless, same severity in the window (attaches)", pd("trigger", None)),
            ("acknowledge", pd("acknowledge", "k1")),
            ("resolve of the last open key (resolves)", pd("resolve", "k1")),
            ("resolve for an unknown key (dropped)", pd("resolve", "nope")),
            ("invalid event (bad routing key)", pd("trigger", "k2", routing_key="z" * 32)),
        ):
            with counted() as counter:
                resp = call_api("POST", "/v2/enqueue", body=json.dumps(body))
            detail = ", ".join(f"{n} {op}" for op, n in sorted(counter.items()))
            rows.append((f"{label} [{resp.status}]", sum(counter.values()), detail))
    return rows


def alertmanager_group(size: int, status: str) -> dict[str, Any]:
    """One Alertmanager v4 delivery: ``size`` alerts of one group, each with its own fingerprint."""
    group = {"alertname": "HostDown", "job": "node"}
    return {
        "receiver": "oncall",
        "status": status,
        "groupLabels": group,
        "commonLabels": {**group, "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "version": "4",
        "groupKey": '{}:{alertname="HostDown", job="node"}',
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": {**group, "instance": f"node-{i}", "severity": "critical"},
                "annotations": {"summary": f"node-{i} is down"},
                "startsAt": "2026-11-22T02:16:38Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-11-22T03:16:38Z",
                "generatorURL": "http://prometheus.example.com/graph?g0.expr=up",
                "fingerprint": f"{i:016x}",
            }
            for i in range(size)
        ],
    }


def group_rows(sizes: tuple[int, ...] = (150, 1000)) -> list[tuple[str, int, float, float, str]]:
    """(delivery [status], alerts, calls per alert, seconds, results) for each group size, in-process on moto."""
    import os

    import boto3
    from moto import mock_aws

    from infra.local.resources import create_tables, function_environment
    from infra.topology import FUNCTIONS
    from oncall import wiring
    from oncall.domain.escalation import Level, Target, TargetType
    from oncall.domain.users import Role
    from oncall.settings import get_settings
    from tests.support.identity import make_user
    from tests.support.lambdas import call_api

    rows: list[tuple[str, int, float, float, str]] = []
    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"))
        for fn in FUNCTIONS:
            os.environ.update(function_environment(fn))
        get_settings.cache_clear()
        wiring.reset()
        admin = make_user(Role.ADMIN)
        catalog = wiring.incidents.catalog_service()
        policy = catalog.create_policy(admin, name="p", levels=[Level((Target(TargetType.USER, admin.id),), 60)])
        for size in sizes:
            _, key = catalog.create_service(admin, name=f"nodes-{size}", escalation_policy_id=policy.id)
            headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
            for label, status in (("firing", "firing"), ("firing again", "firing"), ("resolved", "resolved")):
                body = json.dumps(alertmanager_group(size, status))
                began = time.monotonic()
                with counted() as counter:
                    resp = call_api("POST", "/integrations/alertmanager", headers=headers, body=body)
                took = time.monotonic() - began
                results = Counter(r["result"] for r in resp.json.get("results", [])) if resp.status == 200 else {}
                summary = ", ".join(f"{n} {r}" for r, n in sorted(results.items())) or resp.raw[:60].decode(
                    errors="replace"
                )
                rows.append(
                    (f"{size} alerts, {label} [{resp.status}]", size, sum(counter.values()) / size, took, summary)
                )
    return rows


def routing_rows(alerts: int = 200) -> list[tuple[int, float, float, float, float]]:
    """With 0, 10 and 100 event rules on the service (none matching, so every alert is checked against all of them)
    and one silence on its team: DynamoDB calls for a new alert and a deduplicated one, and new alerts per second,
    in-process through the API handler (warm: the rules cached, as in a warm function)."""
    from datetime import timedelta

    from oncall import wiring
    from oncall.domain.alerts import Alert, AlertAction, bound_raw
    from oncall.domain.incidents import Severity, Source
    from tests.support.lambdas import call_api

    rows: list[tuple[int, float, float, float, float]] = []
    for count in (0, 10, 100):
        with one_service() as (admin, service, key):
            router = wiring.alerts.routing_service()
            router.set_rules(
                admin,
                service.id,
                [
                    {
                        "conditions": [
                            {"field": "labels.instance", "op": "matches", "value": f"db-{i}-[a-z]+"},
                            {"field": "summary", "op": "contains", "value": f"never {i}"},
                        ],
                        "actions": {"severity": "low", "tags": [f"r{i}"]},
                    }
                    for i in range(count)
                ],
            )
            router.create_silence(
                admin,
                {
                    "matchers": [{"name": "alertname", "value": "Never"}],
                    "ends_at": wiring.clock()() + timedelta(hours=1),
                    "comment": "bench",
                },
            )

            def pd(dedup_key: str, key: str = key) -> str:
                payload = {"summary": "disk full", "source": "db-1", "severity": "critical"}
                return json.dumps(
                    {"routing_key": key, "event_action": "trigger", "dedup_key": dedup_key, "payload": payload}
                )

            call_api("POST", "/v2/enqueue", body=pd("warm"))
            with counted() as new_calls:
                call_api("POST", "/v2/enqueue", body=pd("k1"))
            with counted() as dedup_calls:
                call_api("POST", "/v2/enqueue", body=pd("k1"))
            started = time.perf_counter()
            for i in range(alerts):
                call_api("POST", "/v2/enqueue", body=pd(f"n{i}"))
            per_second = alerts / (time.perf_counter() - started)
            # the decision alone, as intake makes it for every trigger: what the rules cost in CPU per alert
            alert = Alert(
                Source.PAGERDUTY_EVENTS,
                AlertAction.TRIGGER,
                service.id,
                "disk full",
                Severity.CRITICAL,
                bound_raw({}),
                labels={"instance": "db-1", "source": "db-1"},
            )
            current = wiring.incidents.catalog_store().get_service(service.id)
            assert current is not None
            now = wiring.clock()()
            started = time.perf_counter()
            for _ in range(1000):
                router.decide(alert, current, now)
            decide_us = (time.perf_counter() - started) * 1000
            rows.append((count, sum(new_calls.values()), sum(dedup_calls.values()), per_second, decide_us))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=12.0, help="per measurement: a sixth of it")
    parser.add_argument("--groups-only", action="store_true", help="only the Alertmanager group rows")
    parser.add_argument("--routing-only", action="store_true", help="only the event-rule rows")
    args = parser.parse_args()
    began = time.monotonic()

    print("Routing: event rules on the service (none matching) and a silence on its team (in-process, API handler)")
    print(
        f"{'rules':>5}   {'calls, new alert':>16}   {'calls, dedup alert':>18}   {'new alerts/s':>12}   "
        f"{'decide µs':>9}"
    )
    for count, new_calls, dedup_calls, per_second, decide_us in routing_rows():
        print(f"{count:>5}   {new_calls:>16.0f}   {dedup_calls:>18.0f}   {per_second:>12.1f}   {decide_us:>9.0f}")
    if args.routing_only:
        return

    print("One Alertmanager group through POST /integrations/alertmanager (in-process, API handler)")
    print(f"{'delivery':36} {'calls/alert':>11} {'seconds':>8}   results")
    for label, _, per_alert, took, summary in group_rows():
        print(f"{label:36} {per_alert:>11.2f} {took:>8.1f}   {summary}")
    if args.groups_only:
        return

    print("DynamoDB calls per PagerDuty event (in-process, API handler)")
    print(f"{'event':58} {'calls':>5}   breakdown")
    calls_of = {}
    for label, calls, detail in calls_per_alert():
        calls_of[label.split(" [")[0]] = calls
        print(f"{label:58} {calls:>5}   {detail}")
    new_calls, dedup_calls = calls_of["new alert (opens an incident)"], calls_of["same key again (attaches)"]

    print("\nthroughput through the runner (POST /v2/enqueue)")
    print(
        f"{'clients':>7}   {'PutItem/s idle':>14}   {'PutItem/s loaded':>16}   {'dedup alerts/s':>14}   "
        f"{'of ceiling':>10}   {'new alerts/s':>12}   {'of ceiling':>10}"
    )
    rows, (idle8, opening, updates) = throughput(args.seconds)
    for threads, idle, ceil, dedup, new in rows:
        print(
            f"{threads:>7}   {idle:>14.0f}   {ceil:>16.0f}   {dedup:>14.1f}   {dedup * dedup_calls / idle:>10.2f}   "
            f"{new:>12.1f}   {new * new_calls / idle:>10.2f}"
        )
    print(
        f"(of ceiling: alerts/s × DynamoDB calls per alert ({dedup_calls} deduplicated, {new_calls} new) ÷ the "
        "emulator's idle PutItem/s with as many clients; loaded: PutItem/s measured between the rows, while earlier "
        "rows' incidents run their lifecycles)"
    )
    print(
        f"PutItem/s with 8 clients while new incidents open at 5/s (after 2 s of it): {opening:.0f}, "
        f"{opening / idle8:.2f}× idle"
    )
    dedup8 = next(dedup for threads, _, _, dedup, _ in rows if threads == 8)
    print(
        f"conditional UpdateItem/s (ADD with a condition, as a deduplicated alert writes) with 8 clients, idle: "
        f"{updates:.0f}; deduplicated alerts × {dedup_calls} calls are {dedup8 * dedup_calls / updates:.2f}× of it"
    )
    print(
        f"\n(total {time.monotonic() - began:.0f} s; median of 2 interleaved rounds; every new alert also starts a "
        "lifecycle execution and a page in the background)"
    )


if __name__ == "__main__":
    main()
