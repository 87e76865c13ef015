"""The notifier's messages to people: through the one notification service, sent once per event whatever the queue
does (duplicates, a batch failing mid-way), with a real fake-Bot-API server on 127.0.0.1."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from infra.local.queues import QueuePoller
from infra.local.resources import create_queues, queue_arn, queue_url
from infra.topology import TOPOLOGY
from tests.support.fake_telegram import FakeTelegram
from tests.support.invoker import InProcessInvoker
from tests.support.telegram import linked_user, telegram_env


@pytest.fixture
def tg(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    monkeypatch.delenv("ONCALL_EMAIL_SENDER", raising=False)
    monkeypatch.delenv("ONCALL_SMTP_HOST", raising=False)
    create_queues(boto3.client("sqs", region_name="us-east-1"), TOPOLOGY)
    with telegram_env(monkeypatch) as fake:
        yield fake


def reassigned(incident_id: str, assignee: str, version: int) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "incident.reassigned",
        "source": "oncall",
        "account": "123456789012",
        "time": "2026-05-04T09:30:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"id": incident_id, "title": f"Incident {incident_id}", "assignee_id": assignee, "version": version},
    }


def drain(poller: QueuePoller, rounds: int = 40) -> None:
    import time

    idle = 0
    for _ in range(rounds):
        if poller.poll_once():
            idle = 0
            continue
        idle += 1
        if idle > 12:  # nothing for > 1 s: failed messages come back after 1 s
            return
        time.sleep(0.1)


def test_each_person_gets_one_telegram_message_per_event_despite_duplicates_and_a_failed_batch(
    tg: FakeTelegram,
) -> None:
    people = [linked_user() for _ in range(4)]
    sqs = boto3.client("sqs", region_name="us-east-1")
    events = [reassigned(f"inc-{i}", user.id, 3) for i, (user, _) in enumerate(people)]
    # EventBridge delivers at least once: every event twice, plus a second copy under a new event id
    for event in events:
        for copy in (event, {**event, "id": str(uuid.uuid4())}):
            sqs.send_message(QueueUrl=queue_url("notifier"), MessageBody=json.dumps(copy))
    # Telegram fails the first sends with 5xx (after the client's own retries): those messages come back
    tg.fail("sendMessage", status=502, times=6)
    with InProcessInvoker(TOPOLOGY) as invoker:
        poller = QueuePoller(
            queue=TOPOLOGY.queue("notifier"),
            queue_url=queue_url("notifier"),
            queue_arn=queue_arn("notifier"),
            region="us-east-1",
            invoker=invoker,
            sqs=lambda: sqs,
            retry_seconds=1,
        )
        drain(poller)
    for user, chat in people:
        texts = [m["text"] for m in tg.sent(chat)]
        assert len(texts) == 1, (user.id, texts)
        assert texts[0].startswith("Assigned to you:")
    assert poller.failed >= 1
    left = sqs.get_queue_attributes(
        QueueUrl=queue_url("notifier"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert left == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
