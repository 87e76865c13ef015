"""Why the lock shim exists, shown deterministically: moto evaluates a condition and then writes, with nothing
holding other requests off in between. Widening that window (a 0.2 s pause after the condition is evaluated) makes
two conditional writers of the same key BOTH win without the shim, every time; with it, exactly one wins."""

from __future__ import annotations

import threading
import time
from typing import Any

import boto3
import pytest

from infra.local import dynamo_lock

TABLE = "window"


def _widen_condition_window(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.dynamodb.models.table as table_module

    real = table_module.get_filter_expression

    class Paused:
        def __init__(self, op: Any) -> None:
            self.op = op

        def expr(self, item: Any) -> bool:
            verdict = bool(self.op.expr(item))
            time.sleep(0.2)  # another writer runs here unless something serialises requests
            return verdict

    monkeypatch.setattr(table_module, "get_filter_expression", lambda *a, **kw: Paused(real(*a, **kw)))


def _two_conditional_writers() -> int:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    clients = [boto3.session.Session(region_name="us-east-1").client("dynamodb") for _ in range(2)]
    barrier = threading.Barrier(2)
    wins: list[str] = []

    def writer(name: str, client: Any) -> None:
        barrier.wait()
        try:
            client.put_item(
                TableName=TABLE,
                Item={"pk": {"S": "k"}, "owner": {"S": name}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            wins.append(name)
        except client.exceptions.ConditionalCheckFailedException:
            pass

    threads = [threading.Thread(target=writer, args=(f"w{i}", c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(wins)


def test_without_the_shim_both_conditional_writers_win(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert not dynamo_lock.installed()
    _widen_condition_window(monkeypatch)
    assert _two_conditional_writers() == 2


def test_with_the_shim_exactly_one_wins(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    _widen_condition_window(monkeypatch)
    dynamo_lock.install()
    try:
        assert _two_conditional_writers() == 1
    finally:
        dynamo_lock.uninstall()
