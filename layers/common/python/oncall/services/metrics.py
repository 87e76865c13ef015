"""``GET /metrics``: what a Prometheus scrape reads (``oncall.domain.prometheus``). Counters and histograms come from
the statistics rollups' all-time cells (one Query per team) and the suppression counters (one BatchGetItem per 100
services), the gauges from current state: services and schedules (paged lists) and who is on call on each schedule
(one Query per schedule). A scrape's cost grows with teams,
services and schedules, never with incidents (docs/architecture.md, "Observability")."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from oncall.domain.prometheus import Named, exposition
from oncall.domain.schedules import Schedule
from oncall.domain.services_catalog import Service
from oncall.domain.shifts import Shift
from oncall.domain.stats import Row
from oncall.domain.teams import DEFAULT_TEAM_ID

PAGE = 100


class AllTimeCells(Protocol):
    def all_time(self) -> list[Row]: ...


class Pages(Protocol):
    def __call__(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[Any], dict[str, Any] | None]: ...


def _all(page: Pages) -> Iterator[Any]:
    cursor: dict[str, Any] | None = None
    while True:
        items, cursor = page(PAGE, cursor)
        yield from items
        if cursor is None:
            return


@dataclass
class MetricsService:
    stats: AllTimeCells
    #: every team's services / schedules, a page at a time (no actor: the scrape is the system's, not a person's)
    services: Pages
    schedules: Pages
    on_call: Callable[[str, datetime], Shift | None]
    clock: Callable[[], datetime]
    #: service ids → their suppressed alerts ever, by reason
    suppressed: Callable[[list[str]], Mapping[str, Mapping[str, int]]] = lambda ids: {}

    def scrape(self) -> str:
        now = self.clock()
        services: list[Service] = list(_all(self.services))
        schedules: list[Schedule] = list(_all(self.schedules))
        on_call = {s.id: int(self.on_call(s.id, now) is not None) for s in schedules}
        return exposition(
            self.stats.all_time(),
            [Named(s.id, s.name, s.team_id or DEFAULT_TEAM_ID) for s in services],
            [Named(s.id, s.name, s.team_id or DEFAULT_TEAM_ID) for s in schedules],
            on_call,
            self.suppressed([s.id for s in services]),
        )
