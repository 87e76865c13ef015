"""Outbox → bus: each INSERT on the ``outbox`` table's stream becomes one event on the ``oncall`` bus.

Triggered by the stream with ``ReportBatchItemFailures``; returns the partial batch response ``relay`` builds, so a
failed entry is retried from its sequence number and nothing before it is sent twice. powertools' batch processor
calls a handler per record, which would mean one PutEvents per event; ``relay`` sends up to ten per call instead.
"""

from __future__ import annotations

from typing import Any

from oncall import observability
from oncall.adapters.outbox import relay
from oncall.settings import get_settings

_events: Any = None


def _bus() -> Any:
    global _events
    if _events is None:
        import boto3

        _events = boto3.client("events", region_name=get_settings().region)
    return _events


@observability.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    return relay(event.get("Records", []), _bus(), get_settings().bus_name)
