"""What the product's event path does for statistics, done in-process: every event in the outbox handed to the stats
service, as the publisher and the ``incident-stats`` rule hand them to the stats function when deployed or run by the
runner. Idempotent (the rollups are), so a test calls it whenever it is about to read analytics."""

from __future__ import annotations

import boto3


def count_events() -> int:
    """Apply every outbox event to the rollups; how many there were."""
    from oncall import wiring
    from oncall.adapters.outbox.stream import event_from_image
    from oncall.settings import get_settings

    client = boto3.client("dynamodb", region_name="us-east-1")
    stats = wiring.incidents.stats_service()
    seen = 0
    for page in client.get_paginator("scan").paginate(TableName=get_settings().table("outbox")):
        for item in page.get("Items", []):
            event = event_from_image(item)
            stats.on_event({"detail-type": event.detail_type, "detail": event.detail})
            seen += 1
    return seen
