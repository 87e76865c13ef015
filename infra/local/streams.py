"""DynamoDB Streams → Lambda, the way an event source mapping does it, without moto's own mapping.

moto's mapping invokes the function inside ``put_item`` (so the writer waits for the consumer, in the writer's
thread), replays the whole shard and then clears it. Instead one poller thread per streamed table reads the shard
with GetRecords semantics (``DynamoDBStreamsBackend.get_shard_iterator`` / ``get_records``, in-process, under the
DynamoDB lock, dropping the iterators it creates so polling does not grow moto's iterator table) and invokes the
consumer through the ``Invoker`` with a real stream event:

    {"Records": [{"eventID", "eventName", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion",
                  "dynamodb": {"ApproximateCreationDateTime": <epoch seconds>, "Keys", "NewImage", "OldImage",
                               "SequenceNumber", "SizeBytes", "StreamViewType"},
                  "eventSourceARN": <stream ARN>}]}

Semantics kept from Lambda's mapping (``ReportBatchItemFailures`` on, ``BatchSize`` ≤ 100, one shard, in order):
- a batch whose response lists ``batchItemFailures`` is retried from the lowest failed ``itemIdentifier`` (the
  sequence number); records before it count as done; an unknown or empty identifier fails the whole batch;
- a function error retries the whole batch;
- an ``Invoker`` that raises, or fails while it is ``closed`` (the runner cannot run the function at all because it is
  shutting down), is retried without limit and never parks anything: it is not the records' fault;
- retries back off (``retry_delays``); when they run out, the failing record (partial failure) or the whole batch
  (function error) is *parked*: logged at ERROR, kept in ``parked`` (and in the snapshot) for inspection, and the
  poller moves on, so a poison record never crash-loops the consumer.

A poller reads as soon as a write names its table (``wake_on_writes``: a ``dynamo_lock`` observer nudges it, as
Lambda's pollers, which long-poll, see a record without waiting out an interval) and otherwise every
``poll_seconds``, so a record never waits for a poll and an idle runner polls rarely.

``backlog()`` returns what has not been processed yet (the in-flight batch and what is still unread) for snapshots;
a poller created with a backlog delivers it before reading the (new) shard. A batch in flight at snapshot time is
therefore delivered again after a restore: at-least-once, as in AWS, and consumers dedupe by ``version``.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from infra.local import dynamo_lock
from infra.local.contracts import Invoker

log = logging.getLogger("oncall.local.streams")

Record = dict[str, Any]

#: the invoker raised instead of returning a result: an infrastructure failure, retried without limit
INVOKER_DOWN = "invoker unavailable"


def _read_shard(
    account: str, region: str, table_name: str, position: int | None, limit: int
) -> tuple[list[Record], int]:
    """Up to ``limit`` records at or after ``position`` (None = trim horizon), and the position after them."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodbstreams.models import dynamodbstreams_backends

    with dynamo_lock.LOCK:
        table = dynamodb_backends[account][region].get_table(table_name)
        shard = table.stream_shard
        if shard is None:
            return [], position or 0
        start = shard.starting_sequence_number if position is None else position
        streams = dynamodbstreams_backends[account][region]
        arn = stream_arn(table)
        iterator = streams.get_shard_iterator(arn, shard.id, "AT_SEQUENCE_NUMBER", start)  # type: ignore[arg-type]
        out = streams.get_records(iterator.arn, limit)
        streams.shard_iterators.pop(iterator.arn, None)
        streams.shard_iterators.pop(out["NextShardIterator"], None)
        raw = copy.deepcopy(out["Records"])
    records = [_as_lambda_record(r, region, arn) for r in raw]
    nxt = int(records[-1]["dynamodb"]["SequenceNumber"]) + 1 if records else start
    return records, nxt


def stream_arn(table: Any) -> str:
    return f"{table.table_arn}/stream/{table.latest_stream_label}"


def _as_lambda_record(raw: Record, region: str, arn: str) -> Record:
    ddb = raw["dynamodb"]
    created = ddb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        ddb["ApproximateCreationDateTime"] = int(created.timestamp())
    raw["awsRegion"] = region
    raw["eventVersion"] = "1.1"
    raw["eventSourceARN"] = arn
    return raw


class StreamPoller:
    def __init__(
        self,
        *,
        table_name: str,
        consumer: str,
        invoker: Invoker,
        account: str,
        region: str,
        batch_size: int = 100,
        poll_seconds: float = 0.1,
        retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0),
        backlog: list[Record] | None = None,
        on_park: Callable[[str, list[Record], str], None] | None = None,
    ) -> None:
        if not 1 <= batch_size <= 100:
            raise ValueError("batch_size must be 1..100")
        self.table_name = table_name
        self.consumer = consumer
        self.invoker = invoker
        self.account = account
        self.region = region
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retry_delays = retry_delays
        self.on_park = on_park
        self.parked: list[Record] = []
        self.delivered = 0
        self._restored: list[Record] = list(backlog or [])
        self._inflight: list[Record] = []
        self._position: int | None = None
        self._state = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    # --- snapshot support -------------------------------------------------------------------------------------
    def backlog(self) -> list[Record]:
        """Everything not yet processed: restored leftovers, the batch in flight, then what is still unread."""
        with dynamo_lock.LOCK, self._state:
            unread: list[Record] = []
            position = self._position
            while True:
                try:
                    chunk, position = _read_shard(self.account, self.region, self.table_name, position, 1000)
                except Exception:  # the table is gone: nothing unread
                    break
                if not chunk:
                    break
                unread.extend(chunk)
            return [*self._restored, *self._inflight, *unread]

    # --- polling ------------------------------------------------------------------------------------------------
    def _next_batch(self) -> list[Record]:
        # lock order everywhere: the DynamoDB lock, then ours (snapshots hold the former while reading the backlog)
        with dynamo_lock.LOCK, self._state:
            if self._restored:
                batch, self._restored = self._restored[: self.batch_size], self._restored[self.batch_size :]
            else:
                batch, self._position = _read_shard(
                    self.account, self.region, self.table_name, self._position, self.batch_size
                )
            self._inflight = batch
            return batch

    def poll_once(self) -> int:
        """Read and process one batch (with its retries); returns how many records it held."""
        batch = self._next_batch()
        if batch:
            self._process(batch)
            with self._state:
                self._inflight = []
        return len(batch)

    def _process(self, batch: list[Record]) -> None:
        attempt = 0
        while batch and not self._stop.is_set():
            failed_from, reason = self._invoke(batch)
            if failed_from is None:
                self.delivered += len(batch)
                return
            if reason == INVOKER_DOWN:
                # the runner cannot run the function at all (e.g. shutting down): not the records' fault, so this
                # never counts towards parking them; they wait, and a snapshot keeps them
                self._stop.wait(self.retry_delays[-1] if self.retry_delays else 1.0)
                continue
            self.delivered += failed_from
            with self._state:
                self._inflight = batch = batch[failed_from:]
            if attempt >= len(self.retry_delays):
                poison = batch if reason == "function error" else batch[:1]
                self._park(poison, reason)
                with self._state:
                    self._inflight = batch = batch[len(poison) :]
                attempt = 0
                continue
            log.warning(
                "%s → %s: %s; retrying %d records (attempt %d)",
                self.table_name,
                self.consumer,
                reason,
                len(batch),
                attempt + 2,
            )
            self._stop.wait(self.retry_delays[attempt])
            attempt += 1

    def _invoke(self, batch: list[Record]) -> tuple[int | None, str]:
        """Index of the first record to retry (None = all done) and why."""
        try:
            result = self.invoker.invoke(self.consumer, {"Records": batch})
        except Exception:
            log.exception("%s → %s: invoker failed", self.table_name, self.consumer)
            return 0, INVOKER_DOWN
        if not result.ok:
            if getattr(self.invoker, "closed", False):
                return 0, INVOKER_DOWN  # refused or killed by the closing pools: not the records' fault
            return 0, "function error"
        payload = result.payload
        failures = payload.get("batchItemFailures") if isinstance(payload, dict) else None
        if not failures:
            return None, ""
        by_seq = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
        indexes = []
        for failure in failures:
            ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if ident not in by_seq:
                return 0, f"batch failure with unknown itemIdentifier {ident!r}"
            indexes.append(by_seq[ident])
        return min(indexes), "partial batch failure"

    def _park(self, records: list[Record], reason: str) -> None:
        seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
        log.error(
            "%s → %s: giving up on %d record(s) %s after retries (%s); parked, moving on",
            self.table_name,
            self.consumer,
            len(records),
            seqs,
            reason,
        )
        self.parked.extend(records)
        if self.on_park:
            self.on_park(self.table_name, records, reason)

    def nudge(self) -> None:
        """A write named the table: read now rather than at the next interval."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before reading: a write after this point wakes the next wait
            try:
                got = self.poll_once()
            except Exception:  # e.g. the table was deleted under us; keep the poller alive
                log.exception("%s: stream poll failed", self.table_name)
                got = 0
            if not got:
                self._wake.wait(self.poll_seconds)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"oncall-stream-{self.table_name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None


def wake_on_writes(pollers: Mapping[str, StreamPoller]) -> Callable[[Any, Any], None]:
    """A ``dynamo_lock`` observer that nudges the poller of every streamed table a write request names."""

    def observe(handler: Any, response: Any) -> None:
        body = handler.body if isinstance(handler.body, dict) else {}
        named = [body.get("TableName")]
        named += [op.get("TableName") for entry in body.get("TransactItems") or () for op in entry.values()]
        named += list(body.get("RequestItems") or ())
        for name in named:
            poller = pollers.get(name) if isinstance(name, str) else None
            if poller is not None:
                poller.nudge()

    return observe
