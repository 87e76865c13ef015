"""The bus event contract (docs/architecture.md, "How an event flows"): detail = snapshot + version, detail-type =
<entity>.<what happened>."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from oncall.domain.events import KNOWN_DETAIL_TYPES, SOURCE, DomainEvent, is_newer

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def event(**overrides: Any) -> DomainEvent:
    fields: dict[str, Any] = {
        "entity_type": "shift",
        "entity_id": "s-1",
        "version": 3,
        "detail_type": "shift.updated",
        "snapshot": {"id": "s-1", "start": "2026-01-05T09:00:00Z"},
        "occurred_at": NOW,
    }
    fields.update(overrides)
    return DomainEvent(**fields)


def test_detail_is_the_snapshot_plus_version() -> None:
    assert event().detail == {"id": "s-1", "start": "2026-01-05T09:00:00Z", "version": 3}
    assert event(snapshot={"id": "s-1", "version": 3}).detail == {"id": "s-1", "version": 3}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"detail_type": "incident.triggered"}, "detail_type"),
        ({"detail_type": "shift"}, "detail_type"),
        ({"entity_type": "Shift", "detail_type": "Shift.updated"}, "entity_type"),
        ({"entity_id": ""}, "entity_id"),
        ({"entity_id": "a#b"}, "entity_id"),
        ({"occurred_at": datetime(2026, 1, 5, 9, 0)}, "occurred_at"),
        ({"snapshot": {"version": 2}}, "version"),
    ],
)
def test_invalid_events_are_rejected_naming_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        event(**overrides)


def test_known_detail_types_follow_the_contract() -> None:
    assert SOURCE == "oncall"
    assert "incident.triggered" in KNOWN_DETAIL_TYPES
    assert "shift.created" in KNOWN_DETAIL_TYPES
    assert "reminder.sent" in KNOWN_DETAIL_TYPES
    for detail_type in KNOWN_DETAIL_TYPES:
        entity = detail_type.split(".")[0]
        event(entity_type=entity, detail_type=detail_type)


def test_consumers_drop_stale_and_duplicate_versions() -> None:
    assert is_newer(1, None)
    assert is_newer(4, 3)
    assert not is_newer(3, 3)
    assert not is_newer(2, 3)
