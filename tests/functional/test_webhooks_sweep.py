"""The webhook sweep: a pending delivery whose attempt job was lost (SQS send failed after the delivery was stored, or
the local runner restarted and its in-memory queues with it) is re-queued by the ``webhook-sweep`` schedule and
delivered once; concurrent sweeps queue one job; the sweep reads only overdue deliveries.

Lost jobs are made real: the queue is purged after fan-out, as a runner restart loses it. Times are the real clock
plus an offset handed to the sweep as the Scheduled Event's ``time``, so nothing waits for the 10-minute grace.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from infra.local.eventbus import scheduled_event
from infra.local.resources import create_queues, queue_url
from infra.topology import TOPOLOGY
from oncall.domain.users import Role
from oncall.domain.webhooks import Attempt, DeliveryStatus, WebhookDelivery
from oncall.services.webhooks import SweepResult
from tests.functional.test_webhooks import BASE_ENV, Hooks
from tests.support.identity import login_as
from tests.support.receivers import WebhookReceiver

GRACE = timedelta(minutes=10)


@pytest.fixture
def hooks(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    from oncall import wiring

    for key, value in BASE_ENV.items():
        monkeypatch.setenv(key, value)
    create_queues(boto3.client("sqs", region_name="us-east-1"), TOPOLOGY)
    wiring.reset()
    h = Hooks(login_as(Role.ADMIN))
    with h.invoker:
        yield h
    wiring.reset()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def sweep_at(hooks: Hooks, at: datetime) -> dict[str, Any]:
    """The notifier invoked the way the ``webhook-sweep`` schedule invokes it."""
    event = scheduled_event(
        event_id=str(uuid.uuid4()),
        rule_arn="arn:aws:events:us-east-1:123456789012:rule/webhook-sweep",
        at=at,
        account="123456789012",
        region="us-east-1",
    )
    result = hooks.invoker.invoke("notifier", event)
    assert result.error_type is None, result.payload
    return dict(result.payload)


def queued_jobs(hooks: Hooks) -> list[dict[str, Any]]:
    """Every message on the notifier queue (read and left invisible: the test looks, nothing processes them)."""
    out: list[dict[str, Any]] = []
    while True:
        got = hooks.sqs.receive_message(
            QueueUrl=queue_url("notifier"), MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        ).get("Messages", [])
        if not got:
            return out
        out += [json.loads(m["Body"]) for m in got]


def lose_the_queue(hooks: Hooks) -> None:
    hooks.sqs.purge_queue(QueueUrl=queue_url("notifier"))
    assert queued_jobs(hooks) == []


def stored_pending_with_lost_job(
    hooks: Hooks, url: str, events: int = 1, event_type: str = "incident.triggered"
) -> dict[str, Any]:
    """Subscribe, fan out ``events`` events (the fan-out queues the jobs), then lose the queue."""
    created = hooks.subscribe(url, [event_type])
    for _ in range(events):
        hooks.publish(event_type)
    while len(hooks.deliveries(created["id"])) < events:
        assert hooks.poller.poll_once(), "the fan-out message did not arrive"
    lose_the_queue(hooks)
    assert {d["status"] for d in hooks.deliveries(created["id"])} == {"pending"}
    return created


def test_a_delivery_whose_job_was_lost_is_requeued_and_delivered_exactly_once(
    hooks: Hooks, receiver: WebhookReceiver
) -> None:
    created = stored_pending_with_lost_job(hooks, receiver.url)
    receiver.secrets = [created["secret"]]
    (delivery,) = hooks.deliveries(created["id"])
    assert delivery["attempts"] == 0 and receiver.requests == []

    result = sweep_at(hooks, datetime.now(UTC) + GRACE + timedelta(minutes=1))
    assert result == {"found": 1, "requeued": 1, "skipped": 0}
    hooks.drain(lambda: len(receiver.processed) == 1)
    # the next sweeps find nothing: the delivery left the index when it succeeded
    assert sweep_at(hooks, datetime.now(UTC) + 2 * GRACE) == {"found": 0, "requeued": 0, "skipped": 0}
    assert hooks.poller.poll_once() == 0
    (request,) = receiver.requests
    assert request.status == 200 and request.headers["webhook-id"] == delivery["id"]
    (after,) = hooks.deliveries(created["id"])
    assert after["status"] == "succeeded" and after["attempts"] == 1


def test_a_requeued_job_racing_a_late_original_still_sends_once(hooks: Hooks, receiver: WebhookReceiver) -> None:
    """The original job was only late, not lost: both arrive, the attempt claim lets one through."""
    created = hooks.subscribe(receiver.url)
    receiver.secrets = [created["secret"]]
    hooks.publish("incident.triggered")
    while not hooks.deliveries(created["id"]):
        assert hooks.poller.poll_once()
    assert sweep_at(hooks, datetime.now(UTC) + GRACE + timedelta(minutes=1))["requeued"] == 1
    hooks.drain(lambda: hooks.poller.poll_once() == 0 and len(receiver.processed) == 1)
    assert len(receiver.requests) == 1
    (after,) = hooks.deliveries(created["id"])
    assert after["status"] == "succeeded" and after["attempts"] == 1


def test_two_concurrent_sweeps_queue_one_job_per_overdue_delivery(hooks: Hooks, receiver: WebhookReceiver) -> None:
    from infra.local import dynamo_lock
    from oncall import wiring

    created = stored_pending_with_lost_job(hooks, receiver.url, events=6)
    service = wiring.webhooks.webhook_service()
    at = datetime.now(UTC) + GRACE + timedelta(minutes=1)
    start = threading.Barrier(2)
    results: list[SweepResult] = []

    def sweep() -> None:
        start.wait()
        results.append(service.sweep(at))

    dynamo_lock.install()
    try:
        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        dynamo_lock.uninstall()
    assert len(results) == 2
    assert sum(r.requeued for r in results) == 6
    jobs = queued_jobs(hooks)
    assert sorted(j["delivery_id"] for j in jobs) == sorted(d["id"] for d in hooks.deliveries(created["id"]))
    assert {j["attempts_made"] for j in jobs} == {0}


def test_not_yet_overdue_delivered_and_dead_deliveries_are_left_alone(
    hooks: Hooks, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring

    # one delivered, one dead-lettered (no retries, a receiver that always fails)
    good = hooks.subscribe(receiver.url)
    receiver.secrets = [good["secret"]]
    monkeypatch.setenv("ONCALL_WEBHOOK_RETRY_SCHEDULE", "")
    wiring.reset()
    with WebhookReceiver(fail_first=100) as down:
        bad = hooks.subscribe(down.url)
        hooks.publish("incident.triggered")
        hooks.drain(lambda: len(receiver.processed) == 1 and len(down.requests) == 1)
        hooks.drain(lambda: hooks.deliveries(bad["id"])[0]["status"] == "dead")
        lost = stored_pending_with_lost_job(hooks, "http://127.0.0.1:9/unreachable", event_type="shift.created")
    (pending,) = hooks.deliveries(lost["id"])

    now = datetime.now(UTC)
    # within the grace: nothing, and nothing read
    assert sweep_at(hooks, now + GRACE - timedelta(minutes=1)) == {"found": 0, "requeued": 0, "skipped": 0}
    assert queued_jobs(hooks) == []
    # past it: only the pending one, even though 3 deliveries are stored
    assert sweep_at(hooks, now + GRACE + timedelta(minutes=1)) == {"found": 1, "requeued": 1, "skipped": 0}
    (job,) = queued_jobs(hooks)
    assert job["delivery_id"] == pending["id"] and job["attempts_made"] == 0
    # the requeue moved its due time: a sweep right after does not queue it again
    assert sweep_at(hooks, now + GRACE + timedelta(minutes=2)) == {"found": 0, "requeued": 0, "skipped": 0}
    assert [d["status"] for d in hooks.deliveries(good["id"])] == ["succeeded"]
    assert [d["status"] for d in hooks.deliveries(bad["id"])] == ["dead"]


def test_the_sweep_reads_only_the_overdue_deliveries(hooks: Hooks) -> None:
    """Many stored deliveries, three overdue: the index Query scans three items (DynamoDB's own ScannedCount,
    read from the responses with a botocore hook)."""
    from oncall import wiring

    service = wiring.webhooks.webhook_service()
    store: Any = service.store
    now = datetime.now(UTC)
    old = now - GRACE - timedelta(minutes=5)

    def add(n: int, at: datetime) -> list[WebhookDelivery]:
        out = []
        for _ in range(n):
            d = WebhookDelivery(
                id=f"msg_{uuid.uuid4().hex}",
                subscription_id="wh_sweep",
                event_type="incident.triggered",
                event_id=str(uuid.uuid4()),
                body="{}",
                status=DeliveryStatus.PENDING,
                created_at=at,
            )
            assert store.add_delivery(d)
            out.append(d)
        return out

    add(40, now)  # pending, not due long enough
    overdue = add(3, old)
    for d in add(10, old):  # old but finished
        claimed = store.claim(d.subscription_id, d.id, 0, old, timedelta(seconds=60))
        assert claimed is not None
        store.finish(
            claimed, Attempt(at=old, status=200, ok=True, detail="ok", duration_ms=1), DeliveryStatus.SUCCEEDED, None
        )

    scanned: list[int] = []

    def count(parsed: dict[str, Any], **_: Any) -> None:
        scanned.append(int(parsed.get("ScannedCount", 0)))

    client = store.client
    client.meta.events.register("after-call.dynamodb.Query", count)
    try:
        result = service.sweep(now)
    finally:
        client.meta.events.unregister("after-call.dynamodb.Query", count)
    assert result == SweepResult(found=3, requeued=3, skipped=0)
    assert sum(scanned) == 3 and len(scanned) == 1
    assert sorted(j["delivery_id"] for j in queued_jobs(hooks)) == sorted(d.id for d in overdue)
