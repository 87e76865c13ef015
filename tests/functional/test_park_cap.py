"""Parked events are capped per source per day: a misconfigured source in a storm gets its first events kept for
inspection and the rest counted, never one item per event (the alerts table's PARKED#<day> partition is shared)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.local.context import LambdaContext
from infra.local.loader import load_handler
from oncall.adapters.dynamodb import alerts as store_module
from oncall.adapters.dynamodb.alerts import PARKED_MAX_BYTES, DynamoAlertStore
from oncall.settings import get_settings
from tests.support.alerts import items
from tests.support.identity import FakeClock

START = datetime(2026, 11, 22, 23, 58, 0, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return START


def broken(i: int, source: str = "someone.else", padding: int = 0) -> dict[str, Any]:
    return {"id": f"{source}-{i}", "source": source, "detail-type": "x", "detail": {"pad": "p" * padding}}


def deliver(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = load_handler("alerts")(event, LambdaContext(function_name="alerts"))
    return out


def store() -> DynamoAlertStore:
    return DynamoAlertStore(get_settings().table("alerts"))


def test_a_source_over_its_daily_count_is_counted_not_stored(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "PARK_DAILY_COUNT", 5)
    for i in range(12):
        assert deliver(broken(i))["status"] == "parked"
    # another source still has its own budget
    for i in range(2):
        deliver(broken(i, source="other.source"))
    day = START.date().isoformat()
    kept = sorted(p["sk"]["S"] for p in items("alerts", f"PARKED#{day}"))
    assert kept == sorted([*(f"someone.else-{i}" for i in range(5)), "other.source-0", "other.source-1"])
    counted = store().park_count(day, "someone.else")
    assert counted["parked"] == 5 and counted["over"] == 7 and counted["over_bytes"] > 0
    assert store().park_count(day, "other.source")["over"] == 0
    # a new UTC day is a new budget
    clock.advance(300)
    deliver(broken(99))
    next_day = (START + timedelta(minutes=5)).date().isoformat()
    assert [p["sk"]["S"] for p in items("alerts", f"PARKED#{next_day}")] == ["someone.else-99"]


def test_a_source_over_its_daily_bytes_is_counted_not_stored(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "PARK_DAILY_BYTES", 3 * PARKED_MAX_BYTES)
    for i in range(5):
        deliver(broken(i, padding=2 * PARKED_MAX_BYTES))
    day = START.date().isoformat()
    parked = items("alerts", f"PARKED#{day}")
    # each kept event is cut to PARKED_MAX_BYTES and marked; three fill the day's bytes
    assert len(parked) == 3
    assert all(p["truncated"]["BOOL"] and len(p["event"]["S"].encode()) <= PARKED_MAX_BYTES for p in parked)
    counted = store().park_count(day, "someone.else")
    assert counted["parked"] == 3 and counted["parked_bytes"] <= 3 * PARKED_MAX_BYTES
    assert counted["over"] == 2 and counted["over_bytes"] > 2 * 2 * PARKED_MAX_BYTES
