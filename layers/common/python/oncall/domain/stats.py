"""Incident statistics kept as rollups: what each incident contributes to its hour and day cells, and the analytics
read back from cells. Pure: times are passed in.

A **cell** is (granularity ``H`` or ``D``, bucket start, team, service, severity) and holds counters: ``n``
incidents created in the bucket, ``st_<status>`` by current status, ``esc`` escalated past level 1, and for MTTA and
MTTR (``a`` and ``r``) the count, the sum and an exact histogram by whole second (``a_<seconds>``). Exact histograms
merge without loss, so percentiles from any set of cells equal those computed from the incidents themselves
(nearest rank, as ``oncall.domain.incidents.percentiles``); their size grows with the distinct durations in one cell,
not with the incidents of a window. The **all-time** cell (``T``, one per team, service and severity) holds the same
counts, the alerts (``al``) and the durations in fixed buckets: what ``GET /metrics`` reports as Prometheus counters.

An incident's **contribution** is computed from its snapshot (the bus event's detail); a newer version replaces the
older one by subtracting what the older added and adding the new (``delta``), so events applied in any order, any
number of times, leave the cells as if each incident's newest version alone had been counted
(docs/architecture.md, "Statistics").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall.domain.errors import InvalidInput
from oncall.domain.incidents import MTTR_EDGES, Severity, Status
from oncall.domain.metrics import DURATION_BUCKETS

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
GRANULARITIES = {"H": HOUR, "D": DAY}
#: the all-time cells (``T``) have this one bucket: what ``GET /metrics`` reads as Prometheus counters
ALL_TIME = datetime(1970, 1, 1, tzinfo=UTC)
#: an analytics window: at most this long
WINDOW_MAX = timedelta(days=366)

Cell = tuple[str, datetime, str, str, str]


def floor_to(at: datetime, width: timedelta) -> datetime:
    epoch = int(at.astimezone(UTC).timestamp())
    step = int(width.total_seconds())
    return datetime.fromtimestamp(epoch - epoch % step, tz=UTC)


def ceil_to(at: datetime, width: timedelta) -> datetime:
    floored = floor_to(at, width)
    return floored if floored == at.astimezone(UTC) else floored + width


@dataclass(frozen=True)
class Contribution:
    """What one incident, at one version, adds to the cells of the hour and the day it was created in."""

    version: int
    team: str
    service: str
    severity: str
    created_at: datetime
    status: str
    mtta: int | None
    mttr: int | None
    escalated: bool
    #: alerts that opened or joined the incident (``alert_count``); stored contributions from before it counted none
    alerts: int = 0

    @classmethod
    def of(cls, snapshot: Mapping[str, Any]) -> Contribution:
        """From an incident's snapshot (``Incident.snapshot``, the detail of every ``incident.*`` event)."""
        created = datetime.fromisoformat(str(snapshot["created_at"]).replace("Z", "+00:00"))
        return cls(
            version=int(snapshot["version"]),
            team=str(snapshot.get("team_id") or "default"),
            service=str(snapshot["service_id"]),
            severity=str(snapshot["severity"]),
            created_at=created.astimezone(UTC),
            status=str(snapshot["status"]),
            mtta=_seconds(snapshot.get("mtta_seconds")),
            mttr=_seconds(snapshot.get("mttr_seconds")),
            escalated=int(snapshot.get("escalation_level") or 0) > 1,
            alerts=int(snapshot.get("alert_count") or 0),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "team_id": self.team,
            "service_id": self.service,
            "severity": self.severity,
            "created_at": self.created_at.isoformat(),
            "status": self.status,
            "mtta_seconds": self.mtta,
            "mttr_seconds": self.mttr,
            "escalation_level": 2 if self.escalated else 1,
            "alert_count": self.alerts,
        }

    def cells(self) -> dict[Cell, dict[str, int]]:
        counters = {"n": 1, f"st_{self.status}": 1}
        if self.escalated:
            counters["esc"] = 1
        for prefix, value in (("a", self.mtta), ("r", self.mttr)):
            if value is not None:
                counters[f"{prefix}_n"] = 1
                counters[f"{prefix}_s"] = value
                counters[f"{prefix}_{value}"] = 1
        cells = {
            (g, floor_to(self.created_at, width), self.team, self.service, self.severity): dict(counters)
            for g, width in GRANULARITIES.items()
        }
        cells[("T", ALL_TIME, self.team, self.service, self.severity)] = self.all_time()
        return cells

    def all_time(self) -> dict[str, int]:
        """The all-time cell's counters: as the hour's and day's, with ``al`` alerts, but the durations in the fixed
        buckets of ``DURATION_BUCKETS`` (``ab_<i>``/``rb_<i>``, not cumulative; the last is beyond every bound):
        exact per-second histograms of every incident ever would outgrow an item."""
        counters = {"n": 1, f"st_{self.status}": 1}
        if self.escalated:
            counters["esc"] = 1
        if self.alerts:
            counters["al"] = self.alerts
        for prefix, value in (("a", self.mtta), ("r", self.mttr)):
            if value is not None:
                counters[f"{prefix}_n"] = 1
                counters[f"{prefix}_s"] = value
                counters[f"{prefix}b_{bucket_index(value)}"] = 1
        return counters


def bucket_index(seconds: int) -> int:
    """The index of the first ``DURATION_BUCKETS`` bound ``seconds`` is within (``le``), or one past the last."""
    for i, bound in enumerate(DURATION_BUCKETS):
        if seconds <= bound:
            return i
    return len(DURATION_BUCKETS)


def _seconds(value: object) -> int | None:
    return None if value is None else int(str(value))


def delta(old: Contribution | None, new: Contribution | None) -> dict[Cell, dict[str, int]]:
    """What to add to each cell to replace ``old`` by ``new`` (either may be None); zero changes left out."""
    out: dict[Cell, dict[str, int]] = {}
    for sign, contribution in ((-1, old), (1, new)):
        if contribution is None:
            continue
        for cell, counters in contribution.cells().items():
            into = out.setdefault(cell, {})
            for name, value in counters.items():
                into[name] = into.get(name, 0) + sign * value
    return {cell: {k: v for k, v in c.items() if v} for cell, c in out.items() if any(c.values())}


# -- reading cells back ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One cell as stored."""

    granularity: str
    bucket: datetime
    team: str
    service: str
    severity: str
    counters: Mapping[str, int]


def window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """An analytics window in whole hours: ``start`` rounded down, ``end`` up (cells are hourly at the finest)."""
    if end <= start:
        raise InvalidInput("to", "must be after from")
    if end - start > WINDOW_MAX:
        raise InvalidInput("to", f"the window is at most {WINDOW_MAX.days} days")
    return floor_to(start, HOUR), ceil_to(end, HOUR)


def plan_reads(start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
    """The cell ranges that cover ``[start, end)`` (whole hours) with the fewest cells: whole days from day cells,
    the hours before the first and after the last whole day from hour cells."""
    first_day, last_day = ceil_to(start, DAY), floor_to(end, DAY)
    if first_day >= last_day:
        return [("H", start, end)]
    reads = [("D", first_day, last_day)]
    if start < first_day:
        reads.insert(0, ("H", start, first_day))
    if last_day < end:
        reads.append(("H", last_day, end))
    return reads


@dataclass
class Tally:
    """Cells merged: counts and exact duration histograms."""

    n: int = 0
    escalated: int = 0

    def __post_init__(self) -> None:
        self.status: dict[str, int] = {s.value: 0 for s in Status}
        self.severity: dict[str, int] = {s.value: 0 for s in Severity}
        self.hist: dict[str, dict[int, int]] = {"a": {}, "r": {}}
        self.sums: dict[str, int] = {"a": 0, "r": 0}

    def add(self, row: Row) -> None:
        c = row.counters
        self.n += c.get("n", 0)
        self.escalated += c.get("esc", 0)
        self.severity[row.severity] = self.severity.get(row.severity, 0) + c.get("n", 0)
        for name, value in c.items():
            if name.startswith("st_"):
                self.status[name[3:]] = self.status.get(name[3:], 0) + value
            elif name[:2] in ("a_", "r_") and name[2:].isdigit():
                into = self.hist[name[0]]
                into[int(name[2:])] = into.get(int(name[2:]), 0) + value
        for prefix in ("a", "r"):
            self.sums[prefix] += c.get(f"{prefix}_s", 0)

    def percentiles(self, prefix: str) -> dict[str, Any]:
        hist = {v: k for v, k in self.hist[prefix].items() if k > 0}
        count = sum(hist.values())
        if not count:
            return {"count": 0, "mean_seconds": None, "p50_seconds": None, "p90_seconds": None}
        ordered = sorted(hist.items())

        def rank(p: float) -> float:
            index = max(0, min(count - 1, math.ceil(p * count - 1e-9) - 1))
            seen = 0
            for value, k in ordered:
                seen += k
                if seen > index:
                    return float(value)
            return float(ordered[-1][0])

        total = sum(v * k for v, k in ordered)
        return {"count": count, "mean_seconds": total / count, "p50_seconds": rank(0.5), "p90_seconds": rank(0.9)}

    def summary(self) -> dict[str, Any]:
        return {
            "count": self.n,
            "by_status": dict(self.status),
            "by_severity": dict(self.severity),
            "escalated": self.escalated,
            "mtta": self.percentiles("a"),
            "mttr": self.percentiles("r"),
        }

    def mttr_bands(self) -> list[dict[str, Any]]:
        lowers = (0, *MTTR_EDGES)
        uppers: tuple[int | None, ...] = (*MTTR_EDGES, None)
        counts = [0] * len(lowers)
        for value, k in self.hist["r"].items():
            counts[sum(1 for edge in MTTR_EDGES if value >= edge)] += k
        return [
            {"lower_seconds": lo, "upper_seconds": hi, "count": c}
            for lo, hi, c in zip(lowers, uppers, counts, strict=True)
        ]


def tally(rows: Iterable[Row]) -> Tally:
    out = Tally()
    for row in rows:
        out.add(row)
    return out


BY = ("service", "severity", "team")


def grouped(rows: Iterable[Row], by: str | None) -> dict[str, Tally]:
    """Rows merged per service, severity or team (``by``), or all together under ``""``."""
    out: dict[str, Tally] = {}
    for row in rows:
        key = "" if by is None else str(getattr(row, by))
        out.setdefault(key, Tally()).add(row)
    return out
