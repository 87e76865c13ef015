"""Drive reminders as AWS would: shift events from the outbox as bus envelopes to the planner, Scheduled Events to
the tick. Handlers are the real ones, invoked in-process (inside the ``aws`` fixture)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from infra.local.context import LambdaContext
from infra.local.loader import load_handler

EVENTS_SEEN: set[tuple[str, str]] = set()


def scheduled_event(at: datetime) -> dict[str, Any]:
    """The envelope EventBridge delivers for a ``rate(1 minute)`` rule (sample: tests/events)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/oncall-send-reminders"],
        "detail": {},
    }


def tick(at: datetime) -> dict[str, Any]:
    result: dict[str, Any] = load_handler("reminders")(scheduled_event(at), LambdaContext(function_name="reminders"))
    return result


def outbox_events(table: str, seen: set[tuple[str, str]], prefix: str = "shift.") -> list[dict[str, Any]]:
    """New outbox items whose detail-type starts with ``prefix``, as the bus envelopes the publisher would put
    (oldest first), remembering what was handed out. ``shift.`` by default: what the planner's rule routes."""
    import boto3

    from oncall.adapters.outbox import event_from_image

    client = boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    out = []
    for item in items:
        key = (item["pk"]["S"], item["sk"]["S"])
        if key in seen or not item["detail_type"]["S"].startswith(prefix):
            continue
        seen.add(key)
        event = event_from_image(item)
        out.append(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": event.detail_type,
                "source": "oncall",
                "account": "123456789012",
                "time": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": "us-east-1",
                "resources": list(event.resources),
                "detail": json.loads(json.dumps(event.detail)),
            }
        )
    out.sort(key=lambda e: (e["time"], e["detail"]["version"]))
    return out


def plan(event: dict[str, Any]) -> str:
    result = load_handler("reminder_planner")(event, LambdaContext(function_name="reminder_planner"))
    return str(result["outcome"])


def deliver_shift_events(table: str, seen: set[tuple[str, str]]) -> list[str]:
    return [plan(e) for e in outbox_events(table, seen)]
