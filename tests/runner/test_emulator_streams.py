"""DynamoDB Streams through the emulator: the outbox chain (write + event in one transaction → stream → publisher →
bus → rule → Lambda and SQS) and the stream mapping's batch semantics (partial failures, retries, parking)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.local.emulator import Emulator
from tests.fixtures.topology import fixture_topology
from tests.support.invoker import InProcessInvoker


@pytest.fixture(scope="module")
def invoker() -> Iterator[InProcessInvoker]:
    with InProcessInvoker(fixture_topology()) as inv:
        yield inv


@pytest.fixture(scope="module")
def emulator(invoker: InProcessInvoker) -> Iterator[Emulator]:
    emu = Emulator(
        invoker.topology,
        invoker,
        port=0,
        stream_poll_seconds=0.05,
        stream_retry_delays=(0.05, 0.05, 0.05),
    )
    emu.start()
    yield emu
    emu.stop()


def _event(entity_id: str, version: int, what: str = "created", **snapshot: Any) -> Any:
    from oncall.domain.events import DomainEvent

    return DomainEvent(
        entity_type="testentity",
        entity_id=entity_id,
        version=version,
        detail_type=f"testentity.{what}",
        snapshot={"id": entity_id, "version": version, **snapshot},
        occurred_at=datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC),
    )


def _receive(sqs: Any, url: str, want: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(bodies) < want and time.monotonic() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        time.sleep(0.05)
    return bodies


def test_outbox_write_reaches_lambda_and_queue_through_publisher(emulator: Emulator, invoker: InProcessInvoker) -> None:
    from oncall.adapters.outbox import transact_put

    ddb = emulator.client("dynamodb")
    event = _event("te-1", 1, title='a "quoted" title', score=1.25)
    ddb.transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": "oncall-fixture-entities",
                    "Item": {"pk": {"S": "te-1"}, "title": {"S": 'a "quoted" title'}, "version": {"N": "1"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            transact_put(event),
        ]
    )
    got = invoker.wait_for("echo", lambda c: c.event.get("detail", {}).get("id") == "te-1").event
    assert set(got) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert got["source"] == "oncall"
    assert got["detail-type"] == "testentity.created"
    assert got["detail"] == {"id": "te-1", "version": 1, "title": 'a "quoted" title', "score": 1.25}
    assert got["time"] == "2026-01-05T09:00:00Z"  # the event's occurred_at, not the publish time
    publisher_calls = invoker.calls_to("publisher")
    assert publisher_calls and all(c.result.ok for c in publisher_calls)
    record = publisher_calls[0].event["Records"][0]
    assert record["eventSource"] == "aws:dynamodb"
    assert record["eventName"] == "INSERT"
    assert record["eventSourceARN"].startswith("arn:aws:dynamodb:us-east-1:123456789012:table/oncall-outbox/stream/")
    assert set(record["dynamodb"]) >= {"Keys", "NewImage", "SequenceNumber", "SizeBytes", "StreamViewType"}
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)

    sqs = emulator.client("sqs")
    url = sqs.get_queue_url(QueueName="oncall-fixture-events")["QueueUrl"]
    bodies = [b for b in _receive(sqs, url, 1) if b["detail"]["id"] == "te-1"]
    assert len(bodies) == 1
    assert bodies[0]["id"] == got["id"]  # one event, fanned out to both targets
    assert bodies[0]["detail"] == got["detail"]


def test_pynamodb_transaction_and_cancelled_transaction(emulator: Emulator, invoker: InProcessInvoker) -> None:
    from pynamodb.connection import Connection
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    from oncall.adapters import outbox

    connection = Connection(region="us-east-1")
    with TransactWrite(connection=connection) as tx:
        outbox.add(tx, _event("te-2", 1))
    invoker.wait_for("echo", lambda c: c.event.get("detail", {}).get("id") == "te-2")

    # announcing the same version again fails the whole transaction: the change and the event go together
    ddb = emulator.client("dynamodb")
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "oncall-fixture-entities", "Item": {"pk": {"S": "te-2-dup"}}}},
                outbox.transact_put(_event("te-2", 1, what="updated")),
            ]
        )
    with pytest.raises(TransactWriteError), TransactWrite(connection=connection) as tx:
        outbox.add(tx, _event("te-2", 1, what="updated"))
    assert "Item" not in ddb.get_item(TableName="oncall-fixture-entities", Key={"pk": {"S": "te-2-dup"}})
    time.sleep(0.3)
    te2 = [c.event for c in invoker.calls_to("echo") if c.event.get("detail", {}).get("id") == "te-2"]
    assert [e["detail-type"] for e in te2] == ["testentity.created"]


def test_versions_are_published_in_order(emulator: Emulator, invoker: InProcessInvoker) -> None:
    from oncall.adapters.outbox import transact_put

    ddb = emulator.client("dynamodb")
    for version in range(1, 13):  # more than one PutEvents batch of ten
        ddb.transact_write_items(TransactItems=[transact_put(_event("te-3", version, what="updated"))])

    def te3() -> list[int]:
        return [
            c.event["detail"]["version"]
            for c in invoker.calls_to("echo")
            if c.event.get("detail", {}).get("id") == "te-3"
        ]

    _wait(lambda: len(te3()) >= 12)
    # EventBridge promises no order to targets (consumers drop stale versions), but the publisher sends in stream order
    assert sorted(te3()) == list(range(1, 13))
    published = [
        int(r["dynamodb"]["NewImage"]["version"]["N"])
        for c in invoker.calls_to("publisher")
        for r in c.event["Records"]
        if r["dynamodb"]["Keys"]["pk"]["S"] == "testentity#te-3"
    ]
    assert published == list(range(1, 13))


def _sink() -> Any:
    return sys.modules["oncall_function_stream_sink"]


def _accepted(key: str) -> bool:
    """The fixture consumer accepted ``key`` (its module is imported on its first invocation)."""
    module = sys.modules.get("oncall_function_stream_sink")
    return module is not None and key in module.ACCEPTED


def _wait(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_partial_batch_failure_retries_from_the_failed_record(emulator: Emulator, invoker: InProcessInvoker) -> None:
    ddb = emulator.client("dynamodb")
    items = [{"pk": {"S": "pb-a"}}, {"pk": {"S": "pb-b"}, "fail_times": {"N": "2"}}, {"pk": {"S": "pb-c"}}]
    # one request: all three records are in the shard before the poller reads (it takes the DynamoDB lock)
    ddb.batch_write_item(RequestItems={"oncall-fixture-stream": [{"PutRequest": {"Item": i}} for i in items]})
    _wait(lambda: _accepted("pb-c"))
    sink = _sink()
    assert [k for k in sink.ACCEPTED if k.startswith("pb-")] == ["pb-a", "pb-b", "pb-c"]
    # pb-a was done after the first delivery; pb-b failed twice; pb-c came along each time from pb-b on
    assert (sink.DELIVERIES["pb-a"], sink.DELIVERIES["pb-b"], sink.DELIVERIES["pb-c"]) == (1, 3, 3)
    batches = [c.event["Records"] for c in invoker.calls_to("stream_sink")]
    assert all(len(b) <= 100 for b in batches)


def test_poison_record_is_parked_and_the_stream_moves_on(emulator: Emulator) -> None:
    ddb = emulator.client("dynamodb")
    items = [{"pk": {"S": "pz-poison"}, "fail_times": {"N": "999"}}, {"pk": {"S": "pz-after"}}]
    ddb.batch_write_item(RequestItems={"oncall-fixture-stream": [{"PutRequest": {"Item": i}} for i in items]})
    _wait(lambda: _accepted("pz-after"))
    parked = emulator.parked_records()["oncall-fixture-stream"]
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in parked] == ["pz-poison"]
    assert _sink().DELIVERIES["pz-poison"] == 4  # first try + three retries


def test_function_error_retries_then_parks_the_batch(emulator: Emulator) -> None:
    ddb = emulator.client("dynamodb")
    ddb.put_item(TableName="oncall-fixture-stream", Item={"pk": {"S": "crash-1"}, "crash": {"BOOL": True}})
    _wait(
        lambda: any(
            r["dynamodb"]["Keys"]["pk"]["S"] == "crash-1"
            for r in emulator.parked_records().get("oncall-fixture-stream", [])
        )
    )
    ddb.put_item(TableName="oncall-fixture-stream", Item={"pk": {"S": "crash-after"}})
    _wait(lambda: _accepted("crash-after"))
    assert _sink().DELIVERIES["crash-1"] == 4


class DownThenUp:
    """An invoker that cannot run anything for its first ``outages`` calls (a runner shutting down or restarting)."""

    def __init__(self, inner: InProcessInvoker, outages: int) -> None:
        self.inner = inner
        self.outages = outages

    def invoke(self, function: str, event: Any) -> Any:
        if self.outages > 0:
            self.outages -= 1
            raise RuntimeError("worker pool closed")
        return self.inner.invoke(function, event)


def test_an_unavailable_invoker_never_parks_records(emulator: Emulator, invoker: InProcessInvoker) -> None:
    from infra.local.streams import StreamPoller

    ddb = emulator.client("dynamodb")
    ddb.create_table(
        TableName="adhoc-streamed",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    ddb.put_item(TableName="adhoc-streamed", Item={"pk": {"S": "outage-1"}})
    poller = StreamPoller(
        table_name="adhoc-streamed",
        consumer="stream_sink",
        invoker=DownThenUp(invoker, outages=5),
        account=emulator.account,
        region=emulator.region,
        retry_delays=(0.01,),  # a function error would be parked after one retry
    )
    assert poller.poll_once() == 1
    assert poller.parked == []
    assert _accepted("outage-1")
    assert poller.backlog() == []
