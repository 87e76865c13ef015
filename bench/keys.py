"""Hot keys: write and read request units per alert on every DynamoDB partition key, base table and each index,
under an alert storm's mix, and what that projects to at 1,000 alerts/s.

Runs the product on the emulator (the real incident-lifecycle ASL on Step Functions, Lambda tasks in-process, pages to
a fake Telegram Bot API on 127.0.0.1) and sends the mix through the real API handler (``POST /v2/enqueue``): first one
open alert per service (100 services, plus ``--hot-keys`` open alerts on one hot service), lifecycles settled; then
``--alerts`` alerts, 97 % repeats of open alerts and 3 % new ones, the hot service taking ``--hot-share`` of them.
Every DynamoDB request is accounted at moto's request handler, item by item:

- writes: ``ceil(max(item before, item after) / 1 KB)`` WRU on the item's partition key, twice in a transaction
  (``ConditionCheck`` included); a failed condition costs the same. Each index an item is in costs
  ``ceil(projected size / 1 KB)`` WRU on the index's partition key when the index key or a projected attribute
  changes (a key change is a delete on the old key and a put on the new), nothing otherwise;
- reads: ``ceil(size / 4 KB)`` RRU per item (0.5 if eventually consistent, twice in a transaction); a Query is charged
  on the total size it returns, to the partition key it reads.

Sizes follow DynamoDB's rules (attribute names + values; index items + 100 bytes). The per-alert figures divide the
mix's units (setup excluded, lifecycles and pages of the new incidents included) by the alerts sent; the projection
multiplies by 1,000 alerts/s. The limit per partition key is 1,000 WRU/s and 3,000 RRU/s; the goal is at most
0.5 WRU and 1 RRU per alert on any key.

    .venv/bin/python bench/keys.py [--alerts 1000] [--hot-share 0.2] [--hot-keys 4]

Measured (1,000 alerts, defaults). Before the storm layout: every repeat rewrote the indexed incident item, so
``by-created`` key ``INC`` and ``by-status`` key ``triggered`` took 1.064 WRU per alert each (1,064 WRU/s at 1,000
alerts/s, over the partition limit), 8.86 WRU and 2.32 RRU per alert over all keys. After: the hottest key takes
0.113 WRU per alert (the paged person's delivery log), the hottest incidents key 0.036, the index keys at most
0.024 (the hot service's ``by-service`` key), the sharded ones 0.018; the old ``by-status`` is no longer written (it
took 0.096 while META still carried its key); the hottest read 0.130 RRU per alert; 2.26 WRU and 2.43 RRU per alert
over all keys (incidents table 1.49 WRU).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

import tests.conftest  # noqa: E402,F401  (test-only credentials and a cheap KDF: this runs against the emulator)

SERVICES = 100
NEW_SHARE = 0.03
#: bytes DynamoDB adds to every index item
INDEX_OVERHEAD = 100


# -- sizes ----------------------------------------------------------------------------------------------------------
def _number_size(text: str) -> int:
    digits = re.sub(r"[^0-9]", "", str(Decimal(text).normalize()) if text else "0").strip("0") or "0"
    return 1 + (len(digits) + 1) // 2


def value_size(value: Mapping[str, Any]) -> int:
    kind, v = next(iter(value.items()))
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        return _number_size(str(v))
    if kind == "B":
        return len(v) if isinstance(v, bytes) else len(str(v)) * 3 // 4
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(x).encode()) for x in v)
    if kind == "NS":
        return sum(_number_size(str(x)) for x in v)
    if kind == "BS":
        return sum(len(str(x)) * 3 // 4 for x in v)
    if kind == "L":
        return 3 + sum(1 + value_size(x) for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + value_size(x) for k, x in v.items())
    return 0


def item_size(item: Mapping[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def wru(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def rru(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return float(units) if consistent else units / 2


# -- accounting -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schema:
    pk: str
    sk: str | None
    #: index name → (pk, sk, projection type, included attributes)
    indexes: dict[str, tuple[str, str | None, str, tuple[str, ...]]]

    def projected(self, index: str, item: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
        """The index's partition key value and the index item ``item`` makes, or None when it is not in the index."""
        if not item:
            return None
        pk, sk, kind, include = self.indexes[index]
        if pk not in item or (sk is not None and sk not in item):
            return None
        keys = {self.pk, pk} | ({self.sk} if self.sk else set()) | ({sk} if sk else set())
        if kind == "ALL":
            projected = dict(item)
        else:
            wanted = keys | (set(include) if kind == "INCLUDE" else set())
            projected = {k: v for k, v in item.items() if k in wanted}
        return _text(item[pk]), projected


def _text(value: Mapping[str, Any]) -> str:
    return str(next(iter(value.values())))


@dataclass
class Ledger:
    """Units per (table or table/index, partition key value)."""

    wru: Counter[tuple[str, str]] = field(default_factory=Counter)
    rru: Counter[tuple[str, str]] = field(default_factory=Counter)
    ops: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> Ledger:
        return Ledger(Counter(self.wru), Counter(self.rru), Counter(self.ops))

    def minus(self, other: Ledger) -> Ledger:
        return Ledger(self.wru - other.wru, self.rru - other.rru, self.ops - other.ops)


class Accountant:
    """Wraps moto's DynamoDB request handler: peeks at each written item before and after the call (moto's backend,
    in-process) and charges every partition key it touches. Calls are serialised so the peeks are exact."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.ledger = Ledger()
        self.schemas: dict[str, Schema] = {}
        self.lock = threading.RLock()
        #: the bench's own reads (in its thread) are not the product's
        self.quiet = threading.local()

    def schema(self, table: str) -> Schema:
        if table not in self.schemas:
            desc = self.backend.describe_table(table)["Table"]
            keys = {k["KeyType"]: k["AttributeName"] for k in desc["KeySchema"]}
            indexes: dict[str, tuple[str, str | None, str, tuple[str, ...]]] = {}
            for g in desc.get("GlobalSecondaryIndexes", []):
                gkeys = {k["KeyType"]: k["AttributeName"] for k in g["KeySchema"]}
                projection = g.get("Projection", {})
                indexes[g["IndexName"]] = (
                    gkeys["HASH"],
                    gkeys.get("RANGE"),
                    projection.get("ProjectionType", "ALL"),
                    tuple(projection.get("NonKeyAttributes", ())),
                )
            self.schemas[table] = Schema(keys["HASH"], keys.get("RANGE"), indexes)
        return self.schemas[table]

    def peek(self, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            found = self.backend.get_item(table, dict(key))
        except Exception:
            return None
        if found is None:
            return None
        return {name: value.to_regular_json() for name, value in found.attrs.items()}

    def key_of(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        schema = self.schema(table)
        return {k: item[k] for k in (schema.pk, schema.sk) if k is not None and k in item}

    def call(self, op: str, body: dict[str, Any], original: Any) -> Any:
        if getattr(self.quiet, "on", False):
            return original()
        with self.lock:
            writes = self._writes(op, body)
            before = [self.peek(t, k) for t, k, _ in writes]
            response = original()
            after = [self.peek(t, k) for t, k, _ in writes]
            self.ledger.ops[op] += 1
            try:
                for (table, key, factor), old, new in zip(writes, before, after, strict=True):
                    self._charge_write(table, key, factor, old, new)
                self._charge_reads(op, body, response)
            except Exception as exc:  # the bench's own bug must not fail the product's request
                self.ledger.ops[f"unaccounted {op}: {type(exc).__name__}: {exc}"[:120]] += 1
            return response

    def _writes(self, op: str, body: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
        """(table, key, 1 | 2 for a transaction) of every item the call writes or checks."""
        out: list[tuple[str, dict[str, Any], int]] = []
        if op == "PutItem":
            out.append((body["TableName"], self.key_of(body["TableName"], body["Item"]), 1))
        elif op in ("UpdateItem", "DeleteItem"):
            out.append((body["TableName"], body["Key"], 1))
        elif op == "TransactWriteItems":
            for entry in body.get("TransactItems", []):
                (kind, spec), *_ = entry.items()
                key = spec["Item"] if kind == "Put" else spec["Key"]
                out.append((spec["TableName"], self.key_of(spec["TableName"], key), 2))
        elif op == "BatchWriteItem":
            for table, requests in body.get("RequestItems", {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        out.append((table, self.key_of(table, request["PutRequest"]["Item"]), 1))
                    else:
                        out.append((table, request["DeleteRequest"]["Key"], 1))
        return out

    def _charge_write(
        self, table: str, key: Mapping[str, Any], factor: int, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        schema = self.schema(table)
        pk = _text(key[schema.pk])
        self.ledger.wru[(table, pk)] += factor * wru(max(item_size(old), item_size(new)))
        for index in schema.indexes:
            was = schema.projected(index, old)
            now = schema.projected(index, new)
            where = f"{table}/{index}"
            if was is not None and now is not None and was[0] == now[0]:
                if was[1] != now[1]:
                    self.ledger.wru[(where, now[0])] += wru(item_size(now[1]) + INDEX_OVERHEAD)
                continue
            if was is not None:
                self.ledger.wru[(where, was[0])] += wru(item_size(was[1]) + INDEX_OVERHEAD)
            if now is not None:
                self.ledger.wru[(where, now[0])] += wru(item_size(now[1]) + INDEX_OVERHEAD)

    def _charge_reads(self, op: str, body: dict[str, Any], response: Any) -> None:
        if op == "GetItem":
            table = body["TableName"]
            got = self.peek(table, body["Key"])
            consistent = bool(body.get("ConsistentRead"))
            self.ledger.rru[(table, _text(body["Key"][self.schema(table).pk]))] += rru(item_size(got), consistent)
        elif op == "BatchGetItem":
            for table, spec in body.get("RequestItems", {}).items():
                for key in spec.get("Keys", []):
                    got = self.peek(table, key)
                    units = rru(item_size(got), bool(spec.get("ConsistentRead")))
                    self.ledger.rru[(table, _text(key[self.schema(table).pk]))] += units
        elif op == "TransactGetItems":
            for entry in body.get("TransactItems", []):
                spec = entry["Get"]
                got = self.peek(spec["TableName"], spec["Key"])
                pk = _text(spec["Key"][self.schema(spec["TableName"]).pk])
                self.ledger.rru[(spec["TableName"], pk)] += 2 * rru(item_size(got), True)
        elif op == "Query":
            self._charge_query(body, response)
        elif op == "Scan":
            self.ledger.rru[(body["TableName"], "<scan>")] += 1

    def _charge_query(self, body: dict[str, Any], response: Any) -> None:
        table = body["TableName"]
        index = body.get("IndexName")
        schema = self.schema(table)
        hash_attr = schema.indexes[index][0] if index else schema.pk
        names = body.get("ExpressionAttributeNames", {})
        values = body.get("ExpressionAttributeValues", {})
        pk = "?"
        for name, placeholder in re.findall(r"(#?\w+)\s*=\s*(:\w+)", body.get("KeyConditionExpression", "")):
            if names.get(name, name) == hash_attr and placeholder in values:
                pk = _text(values[placeholder])
        try:
            items = json.loads(response[2]).get("Items", [])
        except (TypeError, ValueError, IndexError):
            items = []
        size = sum(item_size(i) + (INDEX_OVERHEAD if index else 0) for i in items)
        where = f"{table}/{index}" if index else table
        self.ledger.rru[(where, pk)] += rru(size, bool(body.get("ConsistentRead")))


@contextmanager
def accounting(backend: Any) -> Iterator[Accountant]:
    from moto.dynamodb.responses import DynamoHandler

    accountant = Accountant(backend)
    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        op = str(self.headers.get("X-Amz-Target", "")).rsplit(".", 1)[-1]
        try:
            body = json.loads(self.body) if self.body else {}
        except (TypeError, ValueError):
            body = {}
        return accountant.call(op, body, lambda: original(self))

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    try:
        yield accountant
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]


# -- the mix --------------------------------------------------------------------------------------------------------
@dataclass
class Mix:
    alerts: int
    hot_share: float
    hot_keys: int
    seed: int = 7


def _kind(pk: str) -> str:
    """A partition key with its ids folded, so keys of one kind are counted together (``INC#*``)."""
    return re.sub(r"[0-9A-Za-z_-]{16,}", "*", pk)


def run(mix: Mix) -> tuple[Ledger, Counter[str], int, int, float]:
    from moto.dynamodb.models import dynamodb_backends

    from oncall import wiring
    from oncall.domain.escalation import Level, Target, TargetType
    from oncall.domain.users import Role
    from tests.support.identity import make_user
    from tests.support.lambdas import call_api
    from tests.support.lifecycle import lifecycle_stack
    from tests.support.telegram import linked_user

    os.environ["ONCALL_ALERTS_RATE_PER_MINUTE"] = "1000000"  # the mix measures keys, not the per-service limit
    statuses: Counter[str] = Counter()
    with lifecycle_stack() as stack:
        backend = dynamodb_backends[stack.emulator.account][stack.emulator.region]
        admin = make_user(Role.ADMIN)
        person, _chat = linked_user()
        catalog = wiring.incidents.catalog_service()
        incidents = wiring.incidents.incident_service()
        policy = catalog.create_policy(admin, name="p", levels=[Level((Target(TargetType.USER, person.id),), 3600)])
        created = [
            catalog.create_service(admin, name=f"svc-{i}", escalation_policy_id=policy.id) for i in range(SERVICES + 1)
        ]
        keys = [key for _, key in created]
        service_of = {key: service.id for service, key in created}
        hot = keys[-1]
        alert_store = wiring.alerts.alert_store()
        open_keys: dict[str, list[str]] = {k: [f"open-{i}"] for i, k in enumerate(keys[:-1])}
        open_keys[hot] = [f"hot-{i}" for i in range(mix.hot_keys)]
        #: (service id, dedup key) of every alert that opens an incident
        opened: list[tuple[str, str]] = []
        quiet = threading.local()

        def send(routing_key: str, dedup_key: str) -> None:
            body = {
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "payload": {
                    "summary": f"{dedup_key}: node down",
                    "source": f"host-{dedup_key}",
                    "severity": "critical",
                    "custom_details": {"runbook": "https://wiki.example.com/runbooks/node-down", "region": "eu-1"},
                },
            }
            resp = call_api("POST", "/v2/enqueue", body=json.dumps(body))
            statuses[str(resp.status)] += 1

        def armed(service_id: str, dedup: str) -> bool:
            ref = alert_store.key(service_id, dedup)
            incident = incidents.store.get(ref.incident_id) if ref else None
            return incident is not None and incident.task_token is not None

        def settle(timeout: float) -> int:
            """Waits until every opened incident has a waiting lifecycle (paged, token armed): how many have."""
            quiet.on = True
            deadline = time.monotonic() + timeout
            waiting = set(opened)
            try:
                while waiting and time.monotonic() < deadline:
                    waiting = {o for o in waiting if not armed(*o)}
                    time.sleep(0.2)
            finally:
                quiet.on = False
            time.sleep(1.0)
            return len(opened) - len(waiting)

        for routing_key, dedups in open_keys.items():
            for dedup in dedups:
                send(routing_key, dedup)
                opened.append((service_of[routing_key], dedup))
        settle(120)
        statuses.clear()
        opened.clear()

        rng = random.Random(mix.seed)
        with accounting(backend) as accountant:
            accountant.quiet = quiet
            began = time.monotonic()
            for _ in range(mix.alerts):
                routing_key = hot if rng.random() < mix.hot_share else rng.choice(keys[:-1])
                if rng.random() < NEW_SHARE:
                    dedup = f"new-{uuid.uuid4().hex[:8]}"
                    open_keys[routing_key].append(dedup)
                    opened.append((service_of[routing_key], dedup))
                else:
                    dedup = rng.choice(open_keys[routing_key])
                send(routing_key, dedup)
            took = time.monotonic() - began
            paged = settle(120)
            ledger = accountant.ledger.snapshot()
        return ledger, statuses, len(opened), paged, took


def report(ledger: Ledger, alerts: int) -> None:
    by_where: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for where, pk in set(ledger.wru) | set(ledger.rru):
        by_where[where].append((pk, ledger.wru[(where, pk)] / alerts, ledger.rru[(where, pk)] / alerts))
    print(f"\nPer partition key, {alerts} alerts (WRU/RRU per alert; limits per key: 0.5 WRU, 1 RRU per alert)\n")
    print(
        "| table / index | keys | WRU/alert (all keys) | hottest key (writes) | WRU/alert | RRU/alert "
        "| WRU/s at 1,000 alerts/s | hottest key (reads) | RRU/alert |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    worst_w = worst_r = 0.0
    for where in sorted(by_where):
        rows = by_where[where]
        total = sum(w for _, w, _ in rows)
        hw = max(rows, key=lambda r: r[1])
        hr = max(rows, key=lambda r: r[2])
        worst_w, worst_r = max(worst_w, hw[1]), max(worst_r, hr[2])
        flag_w = " !!" if hw[1] > 0.5 else ""
        flag_r = " !!" if hr[2] > 1 else ""
        print(
            f"| {where} | {len(rows)} | {total:.2f} | `{hw[0][:40]}` | {hw[1]:.3f}{flag_w} | {hw[2]:.3f} "
            f"| {hw[1] * 1000:.0f} | `{hr[0][:40]}` | {hr[2]:.3f}{flag_r} |"
        )
    kinds: Counter[tuple[str, str]] = Counter()
    for (where, pk), units in ledger.wru.items():
        kinds[(where, _kind(pk))] += units
    print("\nHottest 12 keys by writes\n")
    print("| table / index | key | WRU/alert | RRU/alert | WRU/s at 1,000 alerts/s |")
    print("|---|---|---|---|---|")
    for (where, pk), units in ledger.wru.most_common(12):
        r = ledger.rru[(where, pk)] / alerts
        print(f"| {where} | `{pk[:48]}` | {units / alerts:.3f} | {r:.3f} | {units / alerts * 1000:.0f} |")
    total_w = sum(ledger.wru.values()) / alerts
    total_r = sum(ledger.rru.values()) / alerts
    ops = ", ".join(f"{n / alerts:.2f} {op}" for op, n in ledger.ops.most_common())
    print(f"\nall keys: {total_w:.2f} WRU and {total_r:.2f} RRU per alert; calls per alert: {ops}")
    print(
        f"hottest key: {worst_w:.3f} WRU/alert ({worst_w * 1000:.0f} WRU/s at 1,000 alerts/s, "
        f"{'within' if worst_w <= 0.5 else 'OVER'} 0.5), {worst_r:.3f} RRU/alert "
        f"({'within' if worst_r <= 1 else 'OVER'} 1)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--hot-share", type=float, default=0.2, help="share of the alerts the hot service sends")
    parser.add_argument("--hot-keys", type=int, default=4, help="open alerts (dedup keys) on the hot service")
    args = parser.parse_args()
    mix = Mix(args.alerts, args.hot_share, args.hot_keys)
    ledger, statuses, opened, paged, took = run(mix)
    print(
        f"mix: {mix.alerts} alerts through POST /v2/enqueue, {NEW_SHARE:.0%} new, the rest repeats of open alerts; "
        f"{SERVICES} services + 1 hot service with {mix.hot_share:.0%} of the alerts over {mix.hot_keys} open alerts"
    )
    print(
        f"replies: {dict(sorted(statuses.items()))}; incidents opened: {opened}, lifecycle waiting (paged): {paged}; "
        f"sent in {took:.0f} s"
    )
    report(ledger, mix.alerts)


if __name__ == "__main__":
    main()
