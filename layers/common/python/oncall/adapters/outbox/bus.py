"""The relay: an outbox stream batch onto the ``oncall`` bus, in order, with Lambda's partial batch response."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from oncall.adapters.outbox.stream import event_from_image
from oncall.domain.events import SOURCE, DomainEvent
from oncall.observability import log

# the name the relay has always logged under, so log filters keep finding it

#: EventBridge accepts at most 10 entries per PutEvents
PUT_EVENTS_MAX = 10


def bus_entry(event: DomainEvent, bus_name: str) -> dict[str, Any]:
    """The ``PutEvents`` entry for ``event``."""
    return {
        "Source": SOURCE,
        "DetailType": event.detail_type,
        "Detail": json.dumps(event.detail, separators=(",", ":"), sort_keys=True),
        "EventBusName": bus_name,
        "Time": event.occurred_at,
        "Resources": list(event.resources),
    }


class EventBus(Protocol):
    """The part of an EventBridge client ``relay`` uses (boto3's ``events`` client fits)."""

    def put_events(self, *, Entries: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]: ...


def relay(records: Iterable[Mapping[str, Any]], bus: EventBus, bus_name: str) -> dict[str, list[dict[str, str]]]:
    """Put the INSERTs of an outbox stream batch on the bus, ≤ 10 per call, in stream order.

    Returns Lambda's partial batch response. The stream retries from the lowest failed sequence number, so once an
    entry fails, it and every later record are reported (later ones would be re-sent anyway; not sending them now
    keeps duplicates down). MODIFY/REMOVE (TTL expiry) records are not events and are skipped.
    """
    pending: list[tuple[str, DomainEvent | None]] = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        seq = str(record["dynamodb"]["SequenceNumber"])
        try:
            pending.append((seq, event_from_image(record["dynamodb"]["NewImage"])))
        except (KeyError, ValueError, TypeError):
            log.exception("outbox record %s is malformed", seq)
            pending.append((seq, None))

    for start in range(0, len(pending), PUT_EVENTS_MAX):
        chunk = pending[start : start + PUT_EVENTS_MAX]
        valid = [(seq, ev) for seq, ev in chunk if ev is not None]
        first_bad = next((i for i, (_, ev) in enumerate(chunk) if ev is None), None)
        failed_at: int | None = first_bad
        if valid:
            try:
                response = bus.put_events(Entries=[bus_entry(ev, bus_name) for _, ev in valid])
            except Exception:
                log.exception("PutEvents failed for %d entries", len(valid))
                failed_at = 0
            else:
                for (seq, _), entry in zip(valid, response.get("Entries", []), strict=False):
                    if entry.get("ErrorCode"):
                        log.error("event %s rejected: %s %s", seq, entry["ErrorCode"], entry.get("ErrorMessage"))
                        index = next(i for i, (s, _) in enumerate(chunk) if s == seq)
                        failed_at = index if failed_at is None else min(failed_at, index)
                        break
        if failed_at is not None:
            return {"batchItemFailures": [{"itemIdentifier": seq} for seq, _ in pending[start + failed_at :]]}
    return {"batchItemFailures": []}
