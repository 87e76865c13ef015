"""SQS → function, the way Lambda's SQS event source mapping does it, for the queues the topology declares.

moto keeps the queue semantics (``DelaySeconds``, visibility timeout, receive counts, the redrive policy that moves a
message to its dead-letter queue after ``maxReceiveCount`` receives); what it lacks is the poller. ``QueuePoller``
receives up to ``batch_size`` messages, hands the consumer a real SQS event (``Records`` with ``messageId``,
``receiptHandle``, ``body``, ``attributes``, ``eventSource: aws:sqs``, ``eventSourceARN``...) and, as with
``ReportBatchItemFailures``, deletes every message except those named in ``batchItemFailures``; a function error
deletes none. One local liberty: a failed message becomes visible again after ``retry_seconds`` instead of the
queue's full visibility timeout (minutes), so a developer sees the retry now; receive counts and the dead-letter
queue behave as in AWS.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from infra.local.contracts import Invoker
from infra.topology import Queue

log = logging.getLogger("oncall.local.queues")


def _record(message: dict[str, Any], arn: str, region: str) -> dict[str, Any]:
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType", "String"),
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


#: seconds after a message's announced due time during which its queue is polled at the short interval
DUE_GRACE = 1.0


class QueuePoller:
    def __init__(
        self,
        *,
        queue: Queue,
        queue_url: str,
        queue_arn: str,
        region: str,
        invoker: Invoker,
        sqs: Callable[[], Any],
        threads: int = 1,
        poll_seconds: float = 0.1,
        retry_seconds: int = 1,
        max_idle_seconds: float = 1.0,
    ) -> None:
        self.queue = queue
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.invoker = invoker
        self.sqs = sqs
        self.threads = max(1, threads)
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.max_idle_seconds = max_idle_seconds
        #: bumped by ``nudge``: sleeping poll threads wake when it moves
        self._wakes = 0
        #: when delayed messages become visible (monotonic), so a sleeping poller wakes for them
        self._due: list[float] = []
        self._wake = threading.Condition()
        #: messages the consumer finished (deleted) and messages it reported failed, for tests and the log
        self.processed = 0
        self.failed = 0
        self._counts = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def poll_once(self) -> int:
        """Receive one batch and process it; returns how many messages it held."""
        client = self.sqs()
        got = client.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.queue.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            WaitTimeSeconds=0,
        ).get("Messages", [])
        if not got:
            return 0
        records = [_record(m, self.queue_arn, self.region) for m in got]
        failed = self._invoke(records)
        handles = {r["messageId"]: r["receiptHandle"] for r in records}
        done = [mid for mid in handles if mid not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": handles[mid]} for i, mid in enumerate(chunk)],
            )
        for mid in failed:
            try:
                client.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=handles[mid], VisibilityTimeout=self.retry_seconds
                )
            except Exception:  # the message moved on (e.g. redriven); SQS's own timeout applies then
                log.debug("could not shorten visibility of %s", mid, exc_info=True)
        if failed:
            # they come back when their visibility runs out, which no send announces: wake for it then
            self._due_in(self.retry_seconds)
        with self._counts:
            self.processed += len(done)
            self.failed += len(failed)
        return len(records)

    def _invoke(self, records: list[dict[str, Any]]) -> set[str]:
        """Message ids to leave on the queue."""
        every = {r["messageId"] for r in records}
        try:
            result = self.invoker.invoke(self.queue.consumer, {"Records": records})
        except Exception:
            log.exception("queue %s → %s: invoker failed", self.queue.name, self.queue.consumer)
            return every
        if not result.ok:
            log.warning(
                "queue %s → %s: function error; %d messages stay", self.queue.name, self.queue.consumer, len(every)
            )
            return every
        payload = result.payload
        failures = payload.get("batchItemFailures") if isinstance(payload, dict) else None
        if not failures:
            return set()
        ids = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
        if not ids <= every:
            # Lambda treats an unknown identifier as a failure of the whole batch
            log.warning(
                "queue %s: batchItemFailures names unknown ids %s", self.queue.name, sorted(map(str, ids - every))
            )
            return every
        log.info("queue %s → %s: %d of %d messages failed", self.queue.name, self.queue.consumer, len(ids), len(every))
        return {str(i) for i in ids}

    def _run(self) -> None:
        # an idle queue is polled less and less often (up to once a second), like Lambda's long polling, so an idle
        # runner costs next to nothing; the first message after a pause waits at most that second
        idle = self.poll_seconds
        while not self._stop.is_set():
            # a send announced while this thread polls must still wake its next sleep
            seen = self._wakes
            try:
                got = self.poll_once()
            except Exception:
                log.exception("queue %s: poll failed", self.queue.name)
                got = 0
            if got:
                idle = self.poll_seconds
                continue
            if self._sleep(idle, seen):
                idle = self.poll_seconds
            else:
                idle = min(max(idle * 2, self.poll_seconds), self.max_idle_seconds)

    def nudge(self, delay_seconds: float = 0.0) -> None:
        """A message was sent (visible after ``delay_seconds``): wake the sleeping poll threads, or have them wake
        when it is due."""
        with self._wake:
            if delay_seconds > 0:
                self._due.append(time.monotonic() + delay_seconds)
            self._wakes += 1
            self._wake.notify_all()

    def _due_in(self, seconds: float) -> None:
        with self._wake:
            self._due.append(time.monotonic() + seconds)

    def _sleep(self, seconds: float, seen: int) -> bool:
        """Sleep up to ``seconds``, less when a delayed message falls due first; True when nudged (since ``seen``)
        or due. For ``DUE_GRACE`` seconds after a due time the queue is polled at the short interval: moto's
        clock decides visibility, so a message may show a moment after the time it was announced for."""
        with self._wake:
            now = time.monotonic()
            self._due = [d for d in self._due if d > now - DUE_GRACE]
            due = min((d for d in self._due if d > now), default=None)
            if any(d <= now for d in self._due):
                seconds = min(seconds, self.poll_seconds)
                woke_for_due = True
            elif due is not None and due - now <= seconds:
                seconds = due - now + 0.01
                woke_for_due = True
            else:
                woke_for_due = False
            nudged = self._wake.wait_for(lambda: self._wakes != seen or self._stop.is_set(), timeout=seconds)
            return bool(nudged) or woke_for_due

    def start(self) -> None:
        self._stop.clear()
        for i in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"oncall-sqs-{self.queue.name}-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._workers:
            thread.join(timeout=timeout)
        self._workers = []
