"""The pure statistics rules: which cells cover a window, and that replacing a contribution moves exactly its own
counts (a status change touches two counters, a re-grade moves the incident between cells)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from oncall.domain.errors import InvalidInput
from oncall.domain.stats import Contribution, delta, plan_reads, window

T = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def snapshot(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "i1",
        "version": 1,
        "team_id": "default",
        "service_id": "svc",
        "severity": "high",
        "status": "triggered",
        "created_at": "2026-11-02T05:30:00Z",
        "mtta_seconds": None,
        "mttr_seconds": None,
        "escalation_level": 1,
    }
    return {**base, **changes}


def test_a_window_reads_whole_days_from_day_cells_and_its_edges_from_hour_cells() -> None:
    assert plan_reads(T + timedelta(hours=5), T + timedelta(days=2, hours=17)) == [
        ("H", T + timedelta(hours=5), T + timedelta(days=1)),
        ("D", T + timedelta(days=1), T + timedelta(days=2)),
        ("H", T + timedelta(days=2), T + timedelta(days=2, hours=17)),
    ]
    assert plan_reads(T + timedelta(hours=1), T + timedelta(hours=9)) == [
        ("H", T + timedelta(hours=1), T + timedelta(hours=9))
    ]
    assert window(T + timedelta(minutes=10), T + timedelta(hours=2, seconds=1)) == (T, T + timedelta(hours=3))
    with pytest.raises(InvalidInput) as too_long:
        window(T, T + timedelta(days=367))
    assert too_long.value.field == "to"


def test_replacing_a_contribution_moves_only_what_changed() -> None:
    opened = Contribution.of(snapshot())
    acked = Contribution.of(snapshot(version=2, status="acknowledged", mtta_seconds=42))
    changes = delta(opened, acked)
    hour = ("H", T + timedelta(hours=5), "default", "svc", "high")
    assert changes[hour] == {"st_triggered": -1, "st_acknowledged": 1, "a_n": 1, "a_s": 42, "a_42": 1}
    regraded = Contribution.of(snapshot(version=3, status="acknowledged", mtta_seconds=42, severity="low"))
    moved = delta(acked, regraded)
    assert moved[hour]["n"] == -1 and moved[("H", T + timedelta(hours=5), "default", "svc", "low")]["n"] == 1
    assert delta(acked, acked) == {}
