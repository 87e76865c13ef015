"""What keeps the runner's latency low without a busy loop: a write to a streamed table wakes that table's stream
poller at once (its interval is only the fallback), a send wakes the queue's poller (at once, or when a delayed
message falls due), and full garbage collections wait for a quiet moment."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.collector import NEVER, QuietCollector
from infra.local.contracts import InvokeResult
from infra.local.emulator import Emulator
from infra.local.queues import QueuePoller
from infra.topology import Queue
from tests.fixtures.topology import fixture_topology
from tests.support.invoker import InProcessInvoker

TABLE = "oncall-fixture-stream"


@pytest.fixture(scope="module")
def invoker() -> Iterator[InProcessInvoker]:
    with InProcessInvoker(fixture_topology()) as inv:
        yield inv


@pytest.fixture(scope="module")
def emulator(invoker: InProcessInvoker) -> Iterator[Emulator]:
    # an interval no test would wait out: only the wake-up can deliver in time
    emu = Emulator(invoker.topology, invoker, port=0, stream_poll_seconds=60.0, queue_poll_seconds=60.0)
    emu.start()
    time.sleep(0.2)  # the pollers' first (empty) read is behind them
    yield emu
    emu.stop()


def _delivered(invoker: InProcessInvoker, pk: str, within: float = 5.0) -> float:
    started = time.monotonic()
    invoker.wait_for(
        "stream_sink",
        lambda c: any(r["dynamodb"]["Keys"]["pk"]["S"] == pk for r in c.event.get("Records", [])),
        timeout=within,
    )
    return time.monotonic() - started


@pytest.mark.parametrize("how", ["PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem"])
def test_a_write_wakes_the_tables_stream_poller(emulator: Emulator, invoker: InProcessInvoker, how: str) -> None:
    ddb = emulator.client("dynamodb")
    pk = f"wake-{how}"
    item = {"pk": {"S": pk}}
    if how == "PutItem":
        ddb.put_item(TableName=TABLE, Item=item)
    elif how == "UpdateItem":
        ddb.update_item(
            TableName=TABLE, Key=item, UpdateExpression="SET n = :one", ExpressionAttributeValues={":one": {"N": "1"}}
        )
    elif how == "TransactWriteItems":
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": TABLE, "Item": item}}])
    else:
        ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item}}]})
    assert _delivered(invoker, pk) < 5.0  # far inside the 60 s interval


@pytest.mark.parametrize("delay", [0, 2])
def test_a_send_wakes_the_queues_poller_when_its_message_is_due(
    emulator: Emulator, invoker: InProcessInvoker, delay: int
) -> None:
    sqs = emulator.client("sqs")
    url = sqs.get_queue_url(QueueName="oncall-fixture-jobs")["QueueUrl"]
    marker = f"job-{delay}-{time.monotonic_ns()}"
    started = time.monotonic()
    sqs.send_message(QueueUrl=url, MessageBody=marker, DelaySeconds=delay)
    invoker.wait_for(
        "echo", lambda c: any(r.get("body") == marker for r in c.event.get("Records", [])), timeout=delay + 5
    )
    # not before it was due, and far inside the pollers' 60 s interval
    assert delay <= time.monotonic() - started < delay + 5


class _FailsOnce:
    """A consumer that reports its first message failed (``batchItemFailures``) and takes it the second time."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, list[str]]] = []

    def invoke(self, function: str, event: Any) -> InvokeResult:
        ids = [r["messageId"] for r in event["Records"]]
        self.calls.append((time.monotonic(), ids))
        failures = [{"itemIdentifier": i} for i in ids] if len(self.calls) == 1 else []
        return InvokeResult(payload={"batchItemFailures": failures})


def test_a_failed_message_is_polled_for_when_it_comes_back(emulator: Emulator) -> None:
    """A failed message reappears when its visibility runs out, which no send announces: the poller wakes for it
    then, instead of finding it whenever its backoff (here 3 s, up to 20 s idle) next polls."""
    sqs = emulator.client("sqs")
    url = sqs.create_queue(QueueName=f"fails-once-{time.monotonic_ns()}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    consumer = _FailsOnce()
    poller = QueuePoller(
        queue=Queue(name="fails-once", consumer="echo"),
        queue_url=url,
        queue_arn=arn,
        region="us-east-1",
        invoker=consumer,
        sqs=lambda: sqs,
        poll_seconds=3.0,
        retry_seconds=1,
        max_idle_seconds=20.0,
    )
    sqs.send_message(QueueUrl=url, MessageBody="page")
    poller.start()
    try:
        deadline = time.monotonic() + 10
        while len(consumer.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    assert len(consumer.calls) == 2, consumer.calls
    (first, ids), (second, again) = consumer.calls
    assert ids == again  # the same message, retried
    assert 1.0 <= second - first < 2.0  # when it came back, not at the 3 s backoff
    assert poller.failed == 1 and poller.processed == 1


def test_full_collections_wait_for_a_quiet_moment_or_a_minute_of_load() -> None:
    before = gc.get_threshold()
    collector = QuietCollector(quiet_s=0.3, every_s=60.0, check_s=0.05)
    collector.start()
    try:
        assert gc.get_threshold() == (before[0], before[1], NEVER)  # the young generations still collect
        # busy: a request every 50 ms for a second never leaves 0.3 s of quiet, and the minute has not passed
        for _ in range(20):
            collector._count(None, None)
            time.sleep(0.05)
        assert collector.collections == 0
        # quiet, and as much young garbage collected as CPython waits for: one full collection, and no second one
        # until something happens again
        for _ in range(before[2]):
            gc.collect(1)
        deadline = time.monotonic() + 3
        while collector.collections == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert collector.collections == 1
    finally:
        collector.stop()
    assert gc.get_threshold() == before


def test_quiet_requests_without_garbage_make_no_full_collection() -> None:
    """An idle runner's schedules: a few requests a minute and next to no young garbage."""
    collector = QuietCollector(quiet_s=0.1, every_s=0.2, check_s=0.05, young=1_000)
    collector.start()
    try:
        for _ in range(10):
            collector._count(None, None)
            time.sleep(0.15)
        assert collector.collections == 0
    finally:
        collector.stop()


def test_a_long_storm_still_gets_its_full_collection() -> None:
    collector = QuietCollector(quiet_s=10.0, every_s=0.3, check_s=0.05, young=1)
    collector.start()
    try:
        for _ in range(30):  # 1.5 s of requests, never quiet, each with young garbage
            collector._count(None, None)
            gc.collect(1)
            time.sleep(0.05)
        assert collector.collections >= 2
    finally:
        collector.stop()
