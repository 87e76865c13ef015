"""The exact analytics, computed from the incidents themselves: what the API answered before statistics were kept
as rollups, kept here as the oracle the rollups are held to (tests/functional/test_stats.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from oncall.domain.errors import InvalidInput
from oncall.domain.incidents import MTTR_EDGES, Incident, Severity, Status, iso, mtta_seconds, mttr_seconds
from oncall.domain.users import User
from oncall.services.incident_ports import IncidentFilter
from oncall.services.incidents import IncidentService


@dataclass(frozen=True)
class Percentiles:
    count: int
    mean: float | None
    p50: float | None
    p90: float | None


def percentiles(values: list[int]) -> Percentiles:
    """Nearest-rank p50/p90 and the mean of whole-second durations."""
    if not values:
        return Percentiles(0, None, None, None)
    ordered = sorted(values)

    def rank(p: float) -> float:
        index = max(0, min(len(ordered) - 1, math.ceil(p * len(ordered) - 1e-9) - 1))
        return float(ordered[index])

    return Percentiles(len(ordered), sum(ordered) / len(ordered), rank(0.5), rank(0.9))


def trends(incidents: list[Incident], start: datetime, end: datetime, bucket_seconds: int) -> list[dict[str, Any]]:
    """Incidents created per bucket of ``[start, end)`` with their MTTA/MTTR means (None where nothing to average)."""
    count = math.ceil((end - start).total_seconds() / bucket_seconds)
    buckets: list[list[Incident]] = [[] for _ in range(count)]
    for incident in incidents:
        index = int((incident.created_at - start).total_seconds() // bucket_seconds)
        if 0 <= index < count:
            buckets[index].append(incident)
    out = []
    for i, members in enumerate(buckets):
        acks = [v for m in members if (v := mtta_seconds(m)) is not None]
        fixes = [v for m in members if (v := mttr_seconds(m)) is not None]
        out.append(
            {
                "start": iso(start + timedelta(seconds=i * bucket_seconds)),
                "count": len(members),
                "mtta_mean_seconds": sum(acks) / len(acks) if acks else None,
                "mttr_mean_seconds": sum(fixes) / len(fixes) if fixes else None,
            }
        )
    return out


def mttr_distribution(incidents: list[Incident]) -> list[dict[str, Any]]:
    """Resolved incidents per MTTR band (``lower_seconds`` inclusive, ``upper_seconds`` exclusive; None = open)."""
    lowers = (0, *MTTR_EDGES)
    uppers: tuple[int | None, ...] = (*MTTR_EDGES, None)
    counts = [0] * len(lowers)
    for incident in incidents:
        value = mttr_seconds(incident)
        if value is None:
            continue
        counts[sum(1 for edge in MTTR_EDGES if value >= edge)] += 1
    return [
        {"lower_seconds": lo, "upper_seconds": hi, "count": n} for lo, hi, n in zip(lowers, uppers, counts, strict=True)
    ]


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
        if (end - start).total_seconds() / bucket_seconds > 1000:
            raise InvalidInput("bucket", "at most 1000 buckets per period; choose a larger bucket")
        return trends(self._created(actor, start, end, team_id), start, end, bucket_seconds)

    def mttr_distribution(
        self, actor: User, start: datetime, end: datetime, team_id: str | None = None
    ) -> list[dict[str, Any]]:
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
