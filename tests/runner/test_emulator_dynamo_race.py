"""The DynamoDB lock shim: under real threads, conditional writes and transactions have exactly one winner per key
and cancelled transactions leave nothing behind (moto alone lets two writers win, docs/architecture.md "Invariants")."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.local import dynamo_lock
from infra.local.emulator import Emulator
from tests.fixtures.topology import fixture_topology
from tests.support.invoker import InProcessInvoker

THREADS = 8
KEYS = 50
TABLE = "oncall-fixture-entities"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with InProcessInvoker(fixture_topology()) as inv:
        emu = Emulator(inv.topology, inv, port=0)
        emu.start()
        yield emu
        emu.stop()


def _race(clients: list[Any], prefix: str, keys: int) -> dict[str, Counter[str]]:
    """Every thread tries, for every key: a conditional put, a conditional update and a guarded transaction."""
    barrier = threading.Barrier(len(clients))
    wins: dict[str, Counter[str]] = {"put": Counter(), "update": Counter(), "tx": Counter()}
    lock = threading.Lock()

    def worker(index: int, ddb: Any) -> None:
        me = f"t{index}"
        barrier.wait()
        for k in range(keys):
            key = f"{prefix}-{k}"
            try:
                ddb.put_item(
                    TableName=TABLE,
                    Item={"pk": {"S": f"{key}-put"}, "owner": {"S": me}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
                with lock:
                    wins["put"][key] += 1
            except ddb.exceptions.ConditionalCheckFailedException:
                pass
            try:
                ddb.update_item(
                    TableName=TABLE,
                    Key={"pk": {"S": f"{key}-upd"}},
                    UpdateExpression="SET #o = :me",
                    ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#o)",
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues={":me": {"S": me}},
                )
                with lock:
                    wins["update"][key] += 1
            except ddb.exceptions.ConditionalCheckFailedException:
                pass
            try:
                ddb.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"{key}-row-{me}"}, "owner": {"S": me}}}},
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": {"pk": {"S": f"{key}-guard"}},
                                "UpdateExpression": "SET #o = :me",
                                "ConditionExpression": "attribute_exists(pk) AND attribute_not_exists(#o)",
                                "ExpressionAttributeNames": {"#o": "owner"},
                                "ExpressionAttributeValues": {":me": {"S": me}},
                            }
                        },
                    ]
                )
                with lock:
                    wins["tx"][key] += 1
            except ddb.exceptions.TransactionCanceledException:
                pass

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wins


def _seed(ddb: Any, prefix: str, keys: int) -> None:
    for k in range(keys):
        for suffix in ("upd", "guard"):
            ddb.put_item(TableName=TABLE, Item={"pk": {"S": f"{prefix}-{k}-{suffix}"}})


def _check(ddb: Any, prefix: str, keys: int, wins: dict[str, Counter[str]]) -> None:
    stored = {}
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE, ConsistentRead=True):
        for item in page["Items"]:
            if item["pk"]["S"].startswith(prefix + "-"):
                stored[item["pk"]["S"]] = item.get("owner", {}).get("S")
    for k in range(keys):
        key = f"{prefix}-{k}"
        assert wins["put"][key] == 1, f"{key}: {wins['put'][key]} conditional puts won"
        assert wins["update"][key] == 1, f"{key}: {wins['update'][key]} conditional updates won"
        assert wins["tx"][key] == 1, f"{key}: {wins['tx'][key]} transactions won"
        rows = {pk: owner for pk, owner in stored.items() if pk.startswith(f"{key}-row-")}
        # only the winning transaction's row exists, and it belongs to the guard's owner
        assert len(rows) == 1, f"{key}: rows from cancelled transactions left behind: {sorted(rows)}"
        assert next(iter(rows.values())) == stored[f"{key}-guard"]


def test_shim_is_installed_while_running(emulator: Emulator) -> None:
    assert dynamo_lock.installed()


def test_race_in_process_one_winner_per_key(emulator: Emulator) -> None:
    ddb = emulator.client("dynamodb")
    _seed(ddb, "rin", KEYS)
    clients = [boto3.session.Session(region_name="us-east-1").client("dynamodb") for _ in range(THREADS)]
    wins = _race(clients, "rin", KEYS)
    _check(ddb, "rin", KEYS, wins)


def test_race_over_http_one_winner_per_key(emulator: Emulator) -> None:
    """The port (workers, external tools) goes through the same lock."""
    keys = 15
    ddb = emulator.client("dynamodb")
    _seed(ddb, "rhttp", keys)
    clients = [
        boto3.session.Session(region_name="us-east-1").client("dynamodb", endpoint_url=emulator.endpoint_url)
        for _ in range(THREADS)
    ]
    wins = _race(clients, "rhttp", keys)
    _check(ddb, "rhttp", keys, wins)
