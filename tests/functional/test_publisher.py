"""functions/publisher: outbox stream records → PutEvents on the oncall bus, ≤ 10 per call, partial failures reported
from the first failed record on (the stream retries from there)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3

from oncall.adapters.outbox import event_from_image, relay, transact_put
from oncall.domain.events import DomainEvent

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _event(entity_id: str, version: int = 1) -> DomainEvent:
    return DomainEvent(
        entity_type="testentity",
        entity_id=entity_id,
        version=version,
        detail_type="testentity.created",
        snapshot={"id": entity_id, "price": 9.99, "name": 'ü "q"'},
        occurred_at=NOW,
        resources=("arn:aws:oncall:::testentity/" + entity_id,),
    )


def _record(seq: int, event: DomainEvent, name: str = "INSERT") -> dict[str, Any]:
    image = transact_put(event, table="oncall-outbox")["Put"]["Item"]
    return {
        "eventID": f"id-{seq}",
        "eventName": name,
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image, "SequenceNumber": str(seq)},
    }


class RejectingBus:
    """EventBridge's documented partial failure (a per-entry ErrorCode) and throttling, which moto never produces."""

    def __init__(self, reject_ids: set[str] = frozenset(), raise_on_call: int | None = None) -> None:  # type: ignore[assignment]
        self.reject_ids = reject_ids
        self.raise_on_call = raise_on_call
        self.calls: list[list[Mapping[str, Any]]] = []

    def put_events(self, *, Entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
        self.calls.append(list(Entries))
        if self.raise_on_call is not None and len(self.calls) == self.raise_on_call:
            raise RuntimeError("ThrottlingException")
        out = []
        for entry in Entries:
            if json.loads(entry["Detail"])["id"] in self.reject_ids:
                out.append({"ErrorCode": "InternalFailure", "ErrorMessage": "try again"})
            else:
                out.append({"EventId": "ok"})
        return {"FailedEntryCount": sum("ErrorCode" in e for e in out), "Entries": out}


def test_outbox_item_round_trips_through_the_stream_image() -> None:
    original = _event("e-1", 7)
    assert event_from_image(_record(1, original)["dynamodb"]["NewImage"]) == original


def test_all_published_in_batches_of_ten_in_order() -> None:
    bus = RejectingBus()
    records = [_record(100 + i, _event(f"e-{i}")) for i in range(23)]
    assert relay(records, bus, "oncall") == {"batchItemFailures": []}
    assert [len(c) for c in bus.calls] == [10, 10, 3]
    sent = [json.loads(e["Detail"])["id"] for c in bus.calls for e in c]
    assert sent == [f"e-{i}" for i in range(23)]
    entry = bus.calls[0][0]
    assert entry["Source"] == "oncall"
    assert entry["DetailType"] == "testentity.created"
    assert entry["EventBusName"] == "oncall"
    assert entry["Time"] == NOW
    assert json.loads(entry["Detail"]) == {"id": "e-0", "price": 9.99, "name": 'ü "q"', "version": 1}


def test_modify_and_remove_records_are_not_events() -> None:
    bus = RejectingBus()
    records = [_record(1, _event("a"), "MODIFY"), _record(2, _event("b"), "REMOVE")]
    assert relay(records, bus, "oncall") == {"batchItemFailures": []}
    assert bus.calls == []


def test_a_rejected_entry_fails_it_and_everything_after_it() -> None:
    bus = RejectingBus(reject_ids={"e-12"})
    records = [_record(100 + i, _event(f"e-{i}")) for i in range(23)]
    out = relay(records, bus, "oncall")
    assert out == {"batchItemFailures": [{"itemIdentifier": str(100 + i)} for i in range(12, 23)]}
    assert len(bus.calls) == 2  # the third batch is not sent: the stream re-sends it after the retry anyway


def test_a_throttled_call_fails_its_whole_chunk_onwards() -> None:
    bus = RejectingBus(raise_on_call=2)
    records = [_record(100 + i, _event(f"e-{i}")) for i in range(15)]
    out = relay(records, bus, "oncall")
    assert out == {"batchItemFailures": [{"itemIdentifier": str(100 + i)} for i in range(10, 15)]}


def test_a_malformed_record_is_reported_failed_not_crashing_the_batch() -> None:
    bus = RejectingBus()
    bad = _record(2, _event("bad"))
    del bad["dynamodb"]["NewImage"]["detail_type"]
    records = [_record(1, _event("good")), bad, _record(3, _event("after"))]
    out = relay(records, bus, "oncall")
    assert out == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}


def test_against_moto_events_land_on_the_bus(aws: dict[str, str]) -> None:
    """The real client against moto: entries are accepted and a rule on the bus receives the envelope."""
    events = boto3.client("events", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    events.create_event_bus(Name="oncall")
    url = sqs.create_queue(QueueName="capture")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventBusName="oncall", EventPattern=json.dumps({"source": ["oncall"]}))
    events.put_targets(Rule="all", EventBusName="oncall", Targets=[{"Id": "q", "Arn": arn}])
    out = relay([_record(1, _event("m-1")), _record(2, _event("m-2", 2))], events, "oncall")
    assert out == {"batchItemFailures": []}
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert sorted((b["detail"]["id"], b["detail"]["version"]) for b in bodies) == [("m-1", 1), ("m-2", 2)]
    assert {b["detail-type"] for b in bodies} == {"testentity.created"}
