"""Incident analytics over a window: counts, MTTA/MTTR percentiles, trends and the MTTR distribution, of the
incidents the caller's teams may read (``IncidentService.scoped``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from oncall.domain.errors import InvalidInput
from oncall.domain.incidents import Incident, Percentiles, Severity, Status, mtta_seconds, mttr_seconds, percentiles
from oncall.domain.users import User
from oncall.services.incident_ports import IncidentFilter
from oncall.services.incidents import IncidentService


class IncidentAnalytics:
    def __init__(self, incidents: IncidentService) -> None:
        self.incidents = incidents

    def _created(self, actor: User, start: datetime, end: datetime, team_id: str | None) -> list[Incident]:
        return self.incidents.store.created_between(start, end, self.incidents.scoped(actor, IncidentFilter(), team_id))

    def summary(self, actor: User, start: datetime, end: datetime, team_id: str | None = None) -> dict[str, Any]:
        if end <= start:
            raise InvalidInput("to", "must be after from")
        if end - start > timedelta(days=366):
            raise InvalidInput("to", "the window is at most 366 days")
        return summarise(self._created(actor, start, end, team_id))

    def trends(
        self, actor: User, start: datetime, end: datetime, bucket_seconds: int, team_id: str | None = None
    ) -> list[dict[str, Any]]:
        from oncall.domain.incidents import trends

        if (end - start).total_seconds() / bucket_seconds > 1000:
            raise InvalidInput("bucket", "at most 1000 buckets per period; choose a larger bucket")
        return trends(self._created(actor, start, end, team_id), start, end, bucket_seconds)

    def mttr_distribution(
        self, actor: User, start: datetime, end: datetime, team_id: str | None = None
    ) -> list[dict[str, Any]]:
        from oncall.domain.incidents import mttr_distribution

        if end <= start:
            raise InvalidInput("to", "must be after from")
        return mttr_distribution(self._created(actor, start, end, team_id))


def summarise(incidents: Sequence[Incident]) -> dict[str, Any]:
    mtta = percentiles([v for i in incidents if (v := mtta_seconds(i)) is not None])
    mttr = percentiles([v for i in incidents if (v := mttr_seconds(i)) is not None])

    def out(p: Percentiles) -> dict[str, Any]:
        return {"count": p.count, "mean_seconds": p.mean, "p50_seconds": p.p50, "p90_seconds": p.p90}

    by_status: dict[str, int] = {s.value: 0 for s in Status}
    by_severity: dict[str, int] = {s.value: 0 for s in Severity}
    for i in incidents:
        by_status[i.status.value] += 1
        by_severity[i.severity.value] += 1
    return {
        "count": len(incidents),
        "by_status": by_status,
        "by_severity": by_severity,
        "mtta": out(mtta),
        "mttr": out(mttr),
    }
