"""Reading an outbox item back from the table's stream."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from oncall.domain.events import DomainEvent


def event_from_image(image: Mapping[str, Any]) -> DomainEvent:
    """Read an outbox item back from a stream record's ``NewImage`` (DynamoDB JSON)."""

    def s(name: str) -> str:
        return str(image[name]["S"])

    resources = image.get("resources", {}).get("S")
    return DomainEvent(
        entity_type=s("entity_type"),
        entity_id=s("entity_id"),
        version=int(image["version"]["N"]),
        detail_type=s("detail_type"),
        snapshot=json.loads(s("detail")),
        occurred_at=datetime.fromisoformat(s("occurred_at")),
        resources=tuple(json.loads(resources)) if resources else (),
    )


def inserted_events(records: Iterable[Mapping[str, Any]]) -> Iterator[DomainEvent]:
    """The events of a stream batch's INSERT records, in order; a malformed one is skipped (``relay`` reports it)."""
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        try:
            yield event_from_image(record["dynamodb"]["NewImage"])
        except (KeyError, ValueError, TypeError):
            continue
