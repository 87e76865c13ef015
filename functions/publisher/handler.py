"""Outbox → lifecycle and bus: each INSERT on the ``outbox`` table's stream becomes one event on the ``oncall`` bus,
and an incident that needs a lifecycle gets it started first, here (``oncall.services.lifecycle_start``: the bus and
the starter are then the retry path, not the way to the first page).

Triggered by the stream with ``ReportBatchItemFailures``; returns the partial batch response ``relay`` builds, so a
failed entry is retried from its sequence number and nothing before it is sent twice. powertools' batch processor
calls a handler per record, which would mean one PutEvents per event; ``relay`` sends up to ten per call instead.
"""

from __future__ import annotations

from typing import Any

from oncall import observability, wiring
from oncall.adapters.outbox import inserted_events, relay
from oncall.services.lifecycle_start import start_first
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
    records = event.get("Records", [])
    start_first(wiring.incidents.stream_lifecycle(), inserted_events(records))
    return relay(records, _bus(), get_settings().bus_name)
