"""Restart keeps data: a snapshot in the data folder on stop, restored at the next start."""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from infra.local.clock import ShiftedClock
from infra.local.emulator import Emulator
from infra.local.persistence import FILE_NAME
from tests.fixtures.topology import fixture_topology
from tests.support.invoker import InProcessInvoker

JWT_KEYS = "/oncall/secrets/jwt-keys"


def _emulator(invoker: InProcessInvoker, data_dir: Path | None, **kw: Any) -> Emulator:
    return Emulator(invoker.topology, invoker, port=0, data_dir=data_dir, **kw)


def _accepted(key: str) -> bool:
    module = sys.modules.get("oncall_function_stream_sink")
    return module is not None and key in module.ACCEPTED


def test_restart_keeps_items_secrets_clock_backlog_and_restarts_executions(tmp_path: Path) -> None:
    with InProcessInvoker(fixture_topology()) as invoker:
        first = _emulator(invoker, tmp_path, clock=ShiftedClock(), stream_poll_seconds=3600)
        first.start()
        try:
            ddb = first.client("dynamodb")
            ddb.put_item(
                TableName="oncall-fixture-entities",
                Item={"pk": {"S": "keep-me"}, "n": {"N": "42"}, "blob": {"B": b"\x00\xff"}, "tags": {"SS": ["a", "b"]}},
            )
            # a table made by an operator's script, not declared anywhere
            ddb.create_table(
                TableName="scratch",
                KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            ddb.put_item(TableName="scratch", Item={"id": {"S": "x"}})
            secret = first.client("ssm").get_parameter(Name=JWT_KEYS, WithDecryption=True)["Parameter"]["Value"]
            first.advance_clock(timedelta(hours=2))
            # the poller sleeps an hour between reads: this record is still unread at stop
            ddb.put_item(TableName="oncall-fixture-stream", Item={"pk": {"S": "written-before-stop"}})
            sfn = first.client("stepfunctions")
            sfn.start_execution(
                stateMachineArn=first.state_machine_arn("fixture-callback"),
                name="interrupted",
                input=json.dumps({"marker": "interrupted"}),
            )
            invoker.wait_for("echo", lambda c: c.event.get("request", {}).get("marker") == "interrupted")
        finally:
            first.stop()
        assert (tmp_path / FILE_NAME).is_file()

        clock = ShiftedClock()
        second = _emulator(invoker, tmp_path, clock=clock, stream_poll_seconds=0.05)
        second.start()
        try:
            ddb = second.client("dynamodb")
            item = ddb.get_item(TableName="oncall-fixture-entities", Key={"pk": {"S": "keep-me"}})["Item"]
            assert item == {
                "pk": {"S": "keep-me"},
                "n": {"N": "42"},
                "blob": {"B": b"\x00\xff"},
                "tags": {"SS": ["a", "b"]},
            }
            assert ddb.get_item(TableName="scratch", Key={"id": {"S": "x"}})["Item"] == {"id": {"S": "x"}}
            assert (
                second.client("ssm").get_parameter(Name=JWT_KEYS, WithDecryption=True)["Parameter"]["Value"] == secret
            )
            assert clock.offset >= timedelta(hours=2)
            # the unread stream record is delivered after the restart ...
            deadline = time.monotonic() + 10
            while not _accepted("written-before-stop"):
                assert time.monotonic() < deadline, "backlog not delivered after restart"
                time.sleep(0.05)
            # ... and restoring items did not replay them into the stream as new INSERTs
            keys = [
                r["dynamodb"]["Keys"]["pk"]["S"] for c in invoker.calls_to("stream_sink") for r in c.event["Records"]
            ]
            assert keys.count("written-before-stop") == 1
            # the interrupted execution runs again from the beginning, under the same name
            assert second.restarted_executions == ["interrupted"]
            calls = [c for c in invoker.calls_to("echo") if c.event.get("request", {}).get("marker") == "interrupted"]
            deadline = time.monotonic() + 10
            while len(calls) < 2:
                assert time.monotonic() < deadline, "interrupted execution was not restarted"
                time.sleep(0.05)
                calls = [
                    c for c in invoker.calls_to("echo") if c.event.get("request", {}).get("marker") == "interrupted"
                ]
            sfn = second.client("stepfunctions")
            arn = second.state_machine_arn("fixture-callback").replace(":stateMachine:", ":execution:") + ":interrupted"
            assert sfn.describe_execution(executionArn=arn)["name"] == "interrupted"
        finally:
            second.stop()


def test_ephemeral_emulator_keeps_nothing_and_stop_undoes_every_patch() -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.events.models import Rule

    from infra.local import dynamo_lock

    originals = (LambdaFunction.invoke, Rule.send_to_targets)
    with InProcessInvoker(fixture_topology()) as invoker:
        first = _emulator(invoker, None)
        first.start()
        try:
            first.client("dynamodb").put_item(TableName="oncall-fixture-entities", Item={"pk": {"S": "gone"}})
        finally:
            first.stop()
        second = _emulator(invoker, None)
        second.start()
        try:
            got = second.client("dynamodb").get_item(TableName="oncall-fixture-entities", Key={"pk": {"S": "gone"}})
            assert "Item" not in got
            assert LambdaFunction.invoke is not originals[0]
        finally:
            second.stop()
    assert (LambdaFunction.invoke, Rule.send_to_targets) == originals
    assert not dynamo_lock.installed()


def test_periodic_snapshot_is_written_while_running(tmp_path: Path) -> None:
    with InProcessInvoker(fixture_topology()) as invoker:
        emu = _emulator(invoker, tmp_path, snapshot_seconds=0.2)
        emu.start()
        try:
            emu.client("dynamodb").put_item(TableName="oncall-fixture-entities", Item={"pk": {"S": "periodic"}})
            deadline = time.monotonic() + 10
            while True:
                path = tmp_path / FILE_NAME
                if path.is_file():
                    items = json.loads(path.read_text())["tables"]["oncall-fixture-entities"]["items"]
                    if {"pk": {"S": "periodic"}} in items:
                        break
                assert time.monotonic() < deadline, "no periodic snapshot"
                time.sleep(0.05)
        finally:
            emu.stop()


def test_a_taken_port_is_a_clear_error_not_a_hang() -> None:
    import socket

    import pytest

    with socket.socket() as taken, InProcessInvoker(fixture_topology()) as invoker:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}"):
            Emulator(invoker.topology, invoker, port=port).start()
        # the failed start left nothing behind: a new emulator starts
        emu = Emulator(invoker.topology, invoker, port=0)
        emu.start()
        emu.stop()


def test_a_snapshot_reads_every_item_exactly_as_a_consistent_scan_returns_it() -> None:
    """Snapshots read items from moto's backend (a scan through a client held DynamoDB still for seconds): what they
    read must be what a scan hands the SDK, for every attribute type, nested ones included."""
    import boto3
    from moto import mock_aws

    from infra.local.persistence import table_items
    from infra.local.resources import ACCOUNT_ID, REGION

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ddb.create_table(
            TableName="kinds",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "B"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        nested = {"M": {"raw": {"B": b"\x00\x01"}, "list": {"L": [{"B": b"\xfe"}, {"N": "1.5"}, {"NULL": True}]}}}
        for i in range(30):
            ddb.put_item(
                TableName="kinds",
                Item={
                    "pk": {"S": f"p{i % 3}"},
                    "sk": {"B": bytes([i, 255 - i])},
                    "n": {"N": str(i)},
                    "tags": {"SS": ["a", f"t{i}"]},
                    "nums": {"NS": ["1", str(i + 2)]},
                    "blobs": {"BS": [b"\xff\x00", bytes([i])]},
                    "flag": {"BOOL": i % 2 == 0},
                    "doc": nested,
                },
            )
        ddb.update_item(
            TableName="kinds",
            Key={"pk": {"S": "p0"}, "sk": {"B": bytes([0, 255])}},
            UpdateExpression="SET doc.added = :b, n = n + :one",
            ExpressionAttributeValues={":b": {"B": b"\x10"}, ":one": {"N": "1"}},
        )
        scanned = [
            item
            for page in ddb.get_paginator("scan").paginate(TableName="kinds", ConsistentRead=True)
            for item in page["Items"]
        ]

        def key(item: dict[str, Any]) -> tuple[str, bytes]:
            return item["pk"]["S"], item["sk"]["B"]

        read = table_items(ACCOUNT_ID, REGION, "kinds")
        assert len(read) == len(scanned) == 30
        assert sorted(read, key=key) == sorted(scanned, key=key)
