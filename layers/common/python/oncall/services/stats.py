"""Incident statistics: rollups kept up to date from the bus's ``incident.*`` events (and a backfill for what was
stored before), and the analytics read from them, at a cost set by the window and the number of services, never by
the number of incidents (``oncall.domain.stats``; docs/architecture.md, "Statistics")."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from oncall import observability
from oncall.domain.errors import InvalidInput
from oncall.domain.incidents import Incident, iso
from oncall.domain.stats import (
    ALL_TIME,
    BY,
    DAY,
    HOUR,
    Contribution,
    Row,
    Tally,
    ceil_to,
    floor_to,
    grouped,
    plan_reads,
    window,
)
from oncall.domain.teams import DEFAULT_TEAM_ID, Access
from oncall.domain.users import User
from oncall.observability import log

MAX_ATTEMPTS = 8


def emit_metrics(incident_id: str, old: Contribution | None, new: Contribution) -> None:
    """The EMF metrics of what ``new`` counts that ``old`` did not: opened, first acknowledged, first resolved,
    escalated, with the durations; the incident and its service are properties, not dimensions (cost)."""
    properties = {"incident_id": incident_id, "service_id": new.service, "team_id": new.team}
    severity = new.severity
    if old is None:
        observability.count("IncidentsOpened", properties=properties, severity=severity)
    if new.mtta is not None and (old is None or old.mtta is None):
        observability.count("IncidentsAcknowledged", properties=properties, severity=severity)
        observability.measure("TimeToAcknowledge", new.mtta, properties=properties, severity=severity)
    if new.mttr is not None and (old is None or old.mttr is None):
        observability.count("IncidentsResolved", properties=properties, severity=severity)
        observability.measure("TimeToResolve", new.mttr, properties=properties, severity=severity)
    if new.escalated and not (old is not None and old.escalated):
        observability.count("IncidentsEscalated", properties=properties, severity=severity)


TREND_BUCKETS_MAX = 1000


class StatsStore(Protocol):
    def contribution(self, incident_id: str) -> Contribution | None: ...

    def replace(self, incident_id: str, old: Contribution | None, new: Contribution) -> bool: ...

    def rows(self, granularity: str, team: str, start: datetime, end: datetime) -> Iterable[Row]: ...

    def teams(self) -> list[str]: ...


class TeamIds(Protocol):
    def ids(self) -> list[str]: ...


class StatsService:
    def __init__(self, store: StatsStore, teams: TeamIds | None, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.teams = teams
        self.clock = clock

    # -- keeping the rollups -----------------------------------------------------------------------------------------
    def record(self, snapshot: Mapping[str, Any], *, emit: bool = False) -> str:
        """Count an incident as ``snapshot`` shows it: ``applied``, or ``stale`` when this version or a newer one
        already was (a redelivery, or events arriving out of order). With ``emit``, what this version newly counted
        is also emitted as EMF metrics, so they are exactly as idempotent as the rollups."""
        new = Contribution.of(snapshot)
        incident_id = str(snapshot["id"])
        for _ in range(MAX_ATTEMPTS):
            old = self.store.contribution(incident_id)
            if old is not None and old.version >= new.version:
                return "stale"
            if self.store.replace(incident_id, old, new):
                if emit:
                    emit_metrics(incident_id, old, new)
                return "applied"
        raise RuntimeError(f"incident {incident_id}: its statistics kept changing")

    def on_event(self, event: Mapping[str, Any]) -> str:
        """A bus event: ``incident.*`` details are incident snapshots; anything else, or one that lacks what a
        contribution needs, is logged and skipped (a retry would fail the same way)."""
        if not str(event.get("detail-type", "")).startswith("incident."):
            return "ignored"
        detail = event.get("detail") or {}
        try:
            return self.record(detail, emit=True)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("skipped an incident event without what statistics need: %s", type(exc).__name__)
            return "skipped"

    def backfill(self, incidents: Iterable[Incident]) -> dict[str, int]:
        """Count incidents stored before the rollups (or replay all): idempotent, as events are."""
        done: dict[str, int] = {"applied": 0, "stale": 0}
        for incident in incidents:
            done[self.record(incident.snapshot())] += 1
        return done

    # -- analytics ---------------------------------------------------------------------------------------------------
    def all_time(self) -> list[Row]:
        """Every all-time cell of every team: what ``GET /metrics`` reports (one Query per team)."""
        known = self.teams.ids() if self.teams is not None else ()
        teams = sorted({DEFAULT_TEAM_ID, *known, *self.store.teams()})
        return [row for team in teams for row in self.store.rows("T", team, ALL_TIME, ALL_TIME + HOUR)]

    def _teams(self, actor: User, team_id: str | None) -> list[str]:
        scope = Access.of(actor).scope(team_id)
        if scope is not None:
            return sorted(scope)
        # every team with cells (a deleted team's incidents still count for those who see every team), every team
        # there is, and the default team (incidents stored before teams), which need not exist as a team item
        known = self.teams.ids() if self.teams is not None else ()
        return sorted({DEFAULT_TEAM_ID, *known, *self.store.teams()})

    def _rows(
        self, actor: User, start: datetime, end: datetime, team_id: str | None, *, hourly: bool = False
    ) -> list[Row]:
        reads = [("H", start, end)] if hourly else plan_reads(start, end)
        return [
            row
            for team in self._teams(actor, team_id)
            for granularity, a, b in reads
            for row in self.store.rows(granularity, team, a, b)
        ]

    def summary(
        self,
        actor: User,
        start: datetime,
        end: datetime,
        team_id: str | None = None,
        by: str | None = None,
        service_id: str | None = None,
    ) -> dict[str, Any]:
        """Counts and MTTA/MTTR of the incidents created in ``[start, end)`` (whole hours), with ``by`` a breakdown
        per service, severity or team."""
        if by is not None and by not in BY:
            raise InvalidInput("by", f"must be one of {', '.join(BY)}")
        start, end = window(start, end)
        rows = [r for r in self._rows(actor, start, end, team_id) if service_id is None or r.service == service_id]
        out: dict[str, Any] = {"from": iso(start), "to": iso(end), **grouped(rows, None).get("", Tally()).summary()}
        if by is not None:
            out["by"] = by
            out["groups"] = [{by: key, **t.summary()} for key, t in sorted(grouped(rows, by).items())]
        return out

    def trends(
        self, actor: User, end: datetime, span: timedelta, width: timedelta, team_id: str | None = None
    ) -> dict[str, Any]:
        """Incidents per bucket of ``width`` (whole hours) over the ``span`` that ends with the current hour, with
        their MTTA/MTTR means."""
        if width < HOUR or width.total_seconds() % 3600:
            raise InvalidInput("bucket", "whole hours (1h, 6h, 1d, 1w): statistics are kept per hour")
        # the hour under way counts, as far as it has gone; buckets of whole days are UTC days, so day cells serve them
        unit = DAY if width.total_seconds() % DAY.total_seconds() == 0 else HOUR
        end = ceil_to(end, unit)
        start = floor_to(end - span, unit)
        count = -(-int((end - start).total_seconds()) // int(width.total_seconds()))
        if count > TREND_BUCKETS_MAX:
            raise InvalidInput("bucket", f"at most {TREND_BUCKETS_MAX} buckets per period; choose a larger bucket")
        window(start, end)
        day_aligned = width.total_seconds() % DAY.total_seconds() == 0 and floor_to(start, DAY) == start
        rows = self._rows(actor, start, end, team_id, hourly=not day_aligned)
        tallies = [Tally() for _ in range(count)]
        for row in rows:
            index = int((row.bucket - start).total_seconds() // width.total_seconds())
            if 0 <= index < count:
                tallies[index].add(row)
        items = []
        for i, t in enumerate(tallies):
            a, r = t.percentiles("a"), t.percentiles("r")
            items.append(
                {
                    "start": iso(start + i * width),
                    "count": t.n,
                    "mtta_mean_seconds": a["mean_seconds"],
                    "mttr_mean_seconds": r["mean_seconds"],
                    "mtta_p90_seconds": a["p90_seconds"],
                    "mttr_p90_seconds": r["p90_seconds"],
                }
            )
        return {"from": iso(start), "to": iso(end), "bucket_seconds": int(width.total_seconds()), "items": items}

    def mttr_distribution(
        self, actor: User, start: datetime, end: datetime, team_id: str | None = None
    ) -> dict[str, Any]:
        start, end = window(start, end)
        rows = self._rows(actor, start, end, team_id)
        return {"from": iso(start), "to": iso(end), "items": grouped(rows, None).get("", Tally()).mttr_bands()}
