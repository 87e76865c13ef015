"""What an incident costs: DynamoDB calls per transition, Step Functions state transitions per incident, Lambda
invocations, and the price of 1,000 incidents at AWS list prices.

Runs the product on the emulator (the real ASL executed by Step Functions, Lambda tasks in-process, pages to a fake
Telegram Bot API on 127.0.0.1) and counts every DynamoDB request at moto's request handler, so every caller is seen
(boto3 and pynamodb alike). Two scenarios, both ending resolve → auto-close:

- ``ack at level 1``: paged, acknowledged by API before the level's timeout;
- ``escalated twice``: three levels of 1 s, nobody answers until level 3 is paged, then an acknowledgement.

    .venv/bin/python bench/incidents.py

Prices (us-east-1, list, 2026): Standard workflows $0.025 per 1,000 state transitions; Lambda arm64 $0.20 per 1M
requests + $0.0000133334 per GB-s; DynamoDB on-demand $0.625 per 1M write request units, $0.125 per 1M read request
units (transactional writes cost 2 WRU per item; strongly consistent reads 1 RRU per 4 KB; each GSI an item lands in
costs its own write); EventBridge custom events $1.00 per 1M; HTTP API $1.00 per 1M requests.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

import tests.conftest  # noqa: E402,F401  (test-only credentials and a cheap KDF: this runs against the emulator)

SFN_PER_TRANSITION = 0.025 / 1000
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_S_ARM = 0.0000133334
DDB_PER_WRU = 0.625 / 1_000_000
DDB_PER_RRU = 0.125 / 1_000_000
EVENTS_PER_EVENT = 1.00 / 1_000_000
HTTP_API_PER_REQUEST = 1.00 / 1_000_000
#: index writes per incident (META) write: by-created and by-service rewrite the projected item; by-status-sharded
#: only on a status change, a delete plus a put (so 3 is a mean between arms, 2, and moves, 4); timeline items are in
#: no index
INCIDENT_GSI_WRITES = 3


@dataclass
class DynamoCounter:
    ops: Counter[str] = field(default_factory=Counter)
    wru: float = 0.0
    rru: float = 0.0
    #: calls made in the thread of a Lambda invocation, by task (in-process boto3 runs moto in the caller's thread)
    by_task: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, target: str, body: dict[str, Any]) -> None:
        if getattr(_QUIET, "on", False):
            return
        op = target.rsplit(".", 1)[-1]
        wru = rru = 0.0
        if op == "TransactWriteItems":
            for item in body.get("TransactItems", []):
                wru += 2 + (INCIDENT_GSI_WRITES if _incident_meta(next(iter(item.values()))) else 0)
        elif op in ("PutItem", "UpdateItem", "DeleteItem"):
            # arming a task token rewrites the META item, whose index keys do not change: no index writes
            wru += 1 + (INCIDENT_GSI_WRITES if op == "PutItem" and _incident_meta(body) else 0)
        elif op == "BatchWriteItem":
            wru += sum(len(v) for v in body.get("RequestItems", {}).values())
        elif op in ("GetItem", "Query"):
            rru += 1 if body.get("ConsistentRead") else 0.5
        elif op in ("TransactGetItems",):
            rru += 2 * len(body.get("TransactItems", []))
        elif op == "BatchGetItem":
            rru += sum(len(v.get("Keys", [])) for v in body.get("RequestItems", {}).values()) * 0.5
        with self.lock:
            self.ops[op] += 1
            self.wru += wru
            self.rru += rru
            task = getattr(_TASK, "label", None)
            if task is not None:
                self.by_task[task] += 1

    def snapshot(self) -> tuple[Counter[str], float, float]:
        with self.lock:
            return Counter(self.ops), self.wru, self.rru


#: the bench's own polling (in its thread) is not the product's cost
_QUIET = threading.local()
_TASK = threading.local()


@contextmanager
def quiet() -> Iterator[None]:
    _QUIET.on = True
    try:
        yield
    finally:
        _QUIET.on = False


def _incident_meta(request: dict[str, Any]) -> bool:
    item = request.get("Item") or request.get("Key") or {}
    return str(request.get("TableName", "")).endswith("incidents") and item.get("sk", {}).get("S") == "META"


@contextmanager
def counting() -> Iterator[DynamoCounter]:
    from moto.dynamodb.responses import DynamoHandler

    counter = DynamoCounter()
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        target = str(self.headers.get("X-Amz-Target", ""))
        try:
            body = json.loads(self.body) if self.body else {}
        except (TypeError, ValueError):
            body = {}
        counter.record(target, body)
        return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


def diff(
    before: tuple[Counter[str], float, float], after: tuple[Counter[str], float, float]
) -> tuple[int, float, float]:
    return sum((after[0] - before[0]).values()), after[1] - before[1], after[2] - before[2]


def wait_until(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with quiet():
            value = check()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError("timed out")


def main() -> None:
    from oncall import wiring
    from oncall.domain.escalation import Level, Target, TargetType
    from oncall.domain.incidents import Action, Severity
    from oncall.domain.users import Role
    from tests.support.identity import make_user
    from tests.support.lifecycle import lifecycle_stack
    from tests.support.telegram import linked_user

    rows: list[tuple[str, int, float, float]] = []
    scenarios: dict[str, dict[str, float]] = {}
    per_task: dict[str, list[int]] = {}
    with lifecycle_stack() as stack, counting() as counter:
        original_invoke = stack.invoker.invoke

        def invoke(function: str, event: Any) -> Any:
            label = (
                f"{function}: {event.get('action')}" if isinstance(event, dict) and event.get("action") else function
            )
            before = counter.by_task[label]
            _TASK.label = label
            try:
                return original_invoke(function, event)
            finally:
                _TASK.label = None
                per_task.setdefault(label, []).append(counter.by_task[label] - before)

        stack.invoker.invoke = invoke  # type: ignore[method-assign]
        admin = make_user(Role.ADMIN)
        catalog = wiring.incidents.catalog_service()
        incidents = wiring.incidents.incident_service()

        def service(levels: list[Level]) -> str:
            policy = catalog.create_policy(admin, name="p", levels=levels, auto_close_seconds=1)
            svc, _ = catalog.create_service(admin, name="svc", escalation_policy_id=policy.id)
            return svc.id

        def person(timeout: int) -> tuple[Any, Level]:
            user, _ = linked_user()
            return user, Level((Target(TargetType.USER, user.id),), timeout)

        def measure(label: str, action: Callable[[], Any]) -> Any:
            before = counter.snapshot()
            out = action()
            calls, wru, rru = diff(before, counter.snapshot())
            rows.append((label, calls, wru, rru))
            return out

        def run(name: str, levels: list[Level], ack_after_pages: int, responder: Any) -> None:
            svc = service(levels)
            calls_before = len(stack.invoker.calls)
            ddb_before = counter.snapshot()
            inc = measure(
                f"{name}: create (API service call)",
                lambda: incidents.create(
                    responder, title="Checkout returns 502", service_id=svc, severity=Severity.HIGH
                ),
            )
            wait_until(
                lambda: (
                    len(
                        [
                            e
                            for e in wiring.incidents.incident_store().timeline(inc.id, 500, None)[0]
                            if e.kind == "page"
                        ]
                    )
                    >= ack_after_pages
                )
            )
            wait_until(lambda: wiring.incidents.incident_store().get(inc.id).task_token)
            measure(f"{name}: acknowledge", lambda: incidents.act(responder, inc.id, Action.ACKNOWLEDGE))
            wait_until(lambda: wiring.incidents.incident_store().get(inc.id).task_token)  # holding
            measure(f"{name}: resolve", lambda: incidents.act(responder, inc.id, Action.RESOLVE))
            wait_until(lambda: wiring.incidents.incident_store().get(inc.id).status.value == "closed")
            arn = wait_until(
                lambda: next((e["executionArn"] for e in stack.executions(inc.id) if e["status"] == "SUCCEEDED"), None)
            )
            with quiet():
                history = stack.history(arn)
            transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
            calls = stack.invoker.calls[calls_before:]
            # every invocation the emulator made for this incident: workflow tasks, starter, publisher, and whatever
            # else subscribes to incident.* (the API itself is priced as HTTP API requests + the service calls above)
            lambda_calls = list(calls)
            gb_s = sum(
                c.result.duration_ms / 1000 * stack.invoker.topology.function(c.function).memory_mb / 1024
                for c in lambda_calls
            )
            ddb_calls, wru, rru = diff(ddb_before, counter.snapshot())
            events = len([c for c in calls if c.function == "publisher"])
            scenarios[name] = {
                "transitions": transitions,
                "lambda_invocations": len(lambda_calls),
                "lambda_gb_s": gb_s,
                "ddb_calls": ddb_calls,
                "wru": wru,
                "rru": rru,
                "bus_events": float(_bus_events(inc.id)),  # counted quietly
                "api_requests": 3.0,
                "publisher_batches": float(events),
            }

        responder = make_user(Role.RESPONDER)
        _, l1 = person(30)
        run("ack at level 1", [l1], 1, responder)
        levels = [person(1)[1], person(1)[1], person(30)[1]]
        run("escalated twice", levels, 3, responder)

    print("\nDynamoDB per transition (one service call; W/R = request units, incl. GSI writes)\n")
    print(f"{'operation':<44} | {'calls':>5} | {'WRU':>5} | {'RRU':>5}")
    print("-" * 70)
    for label, calls, wru, rru in rows:
        print(f"{label:<44} | {calls:>5} | {wru:>5.1f} | {rru:>5.1f}")

    print(
        "\nDynamoDB calls per Lambda task (mean over both scenarios; pages include the notification service's dedup "
        "claim, page cap, recipient and rate-limit reads/writes)\n"
    )
    print(f"{'task':<44} | {'invocations':>11} | {'calls each':>10}")
    print("-" * 72)
    for label, counts in sorted(per_task.items()):
        print(f"{label:<44} | {len(counts):>11} | {sum(counts) / len(counts):>10.1f}")

    print("\nPer incident (create → pages → ack → resolve → auto-close), everything the product did\n")
    head = (
        f"{'scenario':<16} | {'SFN transitions':>15} | {'Lambda inv.':>11} | {'GB-s':>6} | {'DDB calls':>9} | "
        f"{'WRU':>6} | {'RRU':>6} | {'bus events':>10}"
    )
    print(head)
    print("-" * len(head))
    for name, s in scenarios.items():
        print(
            f"{name:<16} | {s['transitions']:>15.0f} | {s['lambda_invocations']:>11.0f} | {s['lambda_gb_s']:>6.2f} | "
            f"{s['ddb_calls']:>9.0f} | {s['wru']:>6.1f} | {s['rru']:>6.1f} | {s['bus_events']:>10.0f}"
        )

    print(
        "\nCost per 1,000 incidents at list prices (USD; Lambda GB-s as measured in-process on the emulator, "
        "an upper bound: AWS runs these faster than moto)\n"
    )
    head = (
        f"{'scenario':<16} | {'Step Functions':>14} | {'Lambda':>8} | {'DynamoDB':>8} | {'EventBridge':>11} | "
        f"{'HTTP API':>8} | {'total':>8}"
    )
    print(head)
    print("-" * len(head))
    for name, s in scenarios.items():
        sfn = s["transitions"] * SFN_PER_TRANSITION * 1000
        lam = (s["lambda_invocations"] * LAMBDA_PER_REQUEST + s["lambda_gb_s"] * LAMBDA_PER_GB_S_ARM) * 1000
        ddb = (s["wru"] * DDB_PER_WRU + s["rru"] * DDB_PER_RRU) * 1000
        evb = s["bus_events"] * EVENTS_PER_EVENT * 1000
        api = s["api_requests"] * HTTP_API_PER_REQUEST * 1000
        total = sfn + lam + ddb + evb + api
        print(f"{name:<16} | {sfn:>14.4f} | {lam:>8.4f} | {ddb:>8.4f} | {evb:>11.4f} | {api:>8.4f} | {total:>8.4f}")
    print()


def _bus_events(incident_id: str) -> int:
    """incident.* events this incident put on the bus (one per outbox item)."""
    import boto3

    from oncall.settings import get_settings

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    with quiet():
        return _count(ddb, incident_id, get_settings().table("outbox"))


def _count(ddb: Any, incident_id: str, table: str) -> int:
    out = ddb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"incident#{incident_id}"}},
        Select="COUNT",
    )
    return int(out["Count"])


if __name__ == "__main__":
    main()
