"""``start_first``: the publisher's start of each incident's lifecycle as its event comes off the outbox stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from oncall.domain.events import DomainEvent
from oncall.services.lifecycle_start import start_first
from tests.support.fakes import FakeLifecycle

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _event(detail_type: str, incident_id: str, version: int = 1, **snapshot: Any) -> DomainEvent:
    return DomainEvent(
        entity_type=detail_type.split(".")[0],
        entity_id=incident_id,
        version=version,
        detail_type=detail_type,
        snapshot={"id": incident_id, **snapshot},
        occurred_at=NOW,
    )


class RefusingLifecycle(FakeLifecycle):
    """Step Functions refusing every start, as throttled past the start's retries."""

    def __init__(self) -> None:
        super().__init__()
        self.tried: list[str] = []

    def start(self, name: str, payload: dict[str, Any]) -> str:
        self.tried.append(name)
        raise RuntimeError("ThrottlingException: Rate exceeded")


def test_triggered_and_reopened_incidents_start_their_run_and_nothing_else_does() -> None:
    lifecycle = FakeLifecycle()
    events = [
        _event("incident.triggered", "i1", generation=1),
        _event("incident.acknowledged", "i1", 2),
        _event("incident.reopened", "i2", 3, generation=2),
        _event("incident.triggered", "i3", 4, generation=1, trigger_reason="unacknowledged"),  # resumes, starts none
        _event("shift.created", "s1"),
    ]
    started = start_first(lifecycle, events)
    assert sorted(lifecycle.executions) == ["i1-1", "i2-2"]
    assert [a.rsplit(":", 1)[1] for a in started] == ["i1-1", "i2-2"]
    # the same batch again (the stream retried it): the same runs, no second one
    start_first(lifecycle, events)
    assert sorted(lifecycle.executions) == ["i1-1", "i2-2"]


def test_after_a_refusal_the_rest_of_the_batch_is_left_to_the_sweep_and_nothing_raises() -> None:
    lifecycle = RefusingLifecycle()
    events = [_event("incident.triggered", f"i{n}", generation=1) for n in range(5)]
    assert start_first(lifecycle, events) == []
    assert lifecycle.tried == ["i0-1"]
