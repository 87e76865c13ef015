"""The Prometheus text exposition (format 0.0.4) of ``GET /metrics``: pure, from the statistics rollups' all-time
cells and the current state the caller read (``oncall.services.metrics``).

Counters are the all-time cells' counters, so they only grow while incidents are created and move forward. An
incident whose severity or service is changed moves its counts from one series to another: the old series then
drops, which Prometheus reads as a counter reset (``increase`` and ``rate`` stay right for the series that grew).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from oncall.domain.incidents import OPEN
from oncall.domain.metrics import DURATION_BUCKETS, PROMETHEUS, PromMetric
from oncall.domain.stats import Row

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_BY_NAME = {m.name: m for m in PROMETHEUS}

#: counter name → the all-time cell counter it reads
_CELL_COUNTERS = {
    "oncall_incidents_opened_total": "n",
    "oncall_incidents_acknowledged_total": "a_n",
    "oncall_incidents_resolved_total": "r_n",
    "oncall_incidents_escalated_total": "esc",
    "oncall_alerts_received_total": "al",
}


@dataclass(frozen=True)
class Named:
    """A service or schedule: its id, name and team (the ``*_info`` series)."""

    id: str
    name: str
    team_id: str


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Out:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, samples: Iterable[tuple[str, Sequence[tuple[str, str]], float]]) -> None:
        """One metric family: HELP and TYPE, then ``(suffix, labels, value)`` samples (always written, even with no
        sample, so dashboards and alert rules find every family from the first scrape)."""
        spec: PromMetric = _BY_NAME[name]
        kind = "gauge" if spec.kind == "info" else spec.kind
        self.lines.append(f"# HELP {name} {spec.help}")
        self.lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            self.lines.append(f"{name}{suffix}{_labels(labels)} {_number(value)}")


def _cell_labels(row: Row) -> list[tuple[str, str]]:
    return [("team_id", row.team), ("service_id", row.service), ("severity", row.severity)]


def _histogram(rows: Sequence[Row], prefix: str) -> list[tuple[str, Sequence[tuple[str, str]], float]]:
    samples: list[tuple[str, Sequence[tuple[str, str]], float]] = []
    for row in rows:
        c = row.counters
        count = c.get(f"{prefix}_n", 0)
        if not count:
            continue
        labels = _cell_labels(row)
        running = 0
        for i, bound in enumerate(DURATION_BUCKETS):
            running += c.get(f"{prefix}b_{i}", 0)
            samples.append(("_bucket", [*labels, ("le", str(bound))], running))
        samples.append(("_bucket", [*labels, ("le", "+Inf")], count))
        samples.append(("_sum", labels, c.get(f"{prefix}_s", 0)))
        samples.append(("_count", labels, count))
    return samples


def exposition(
    cells: Iterable[Row],
    services: Iterable[Named],
    schedules: Iterable[Named],
    on_call: Mapping[str, int],
    suppressed: Mapping[str, Mapping[str, int]] | None = None,
) -> str:
    """The whole scrape: ``cells`` the all-time rows, ``on_call`` people on call now per schedule id,
    ``suppressed`` each service's suppressed alerts ever by reason (``maintenance``, ``silence``, ``rule``)."""
    services = list(services)
    rows = sorted((r for r in cells if r.counters.get("n", 0) > 0), key=lambda r: (r.team, r.service, r.severity))
    out = _Out()
    for name, counter in _CELL_COUNTERS.items():
        out.family(name, (("", _cell_labels(r), r.counters.get(counter, 0)) for r in rows))
    out.family(
        "oncall_alerts_deduplicated_total",
        (("", _cell_labels(r), max(0, r.counters.get("al", 0) - r.counters.get("n", 0))) for r in rows),
    )
    out.family(
        "oncall_incidents_open",
        (("", _cell_labels(r), sum(r.counters.get(f"st_{s.value}", 0) for s in OPEN)) for r in rows),
    )
    team_of = {s.id: s.team_id for s in services}
    out.family(
        "oncall_alerts_suppressed_total",
        (
            ("", [("team_id", team_of.get(sid, "default")), ("service_id", sid), ("reason", reason)], n)
            for sid, counts in sorted((suppressed or {}).items())
            for reason, n in sorted(counts.items())
            if reason != "suppressed" and n
        ),
    )
    out.family("oncall_time_to_acknowledge_seconds", _histogram(rows, "a"))
    out.family("oncall_time_to_resolve_seconds", _histogram(rows, "r"))
    out.family("oncall_on_call_people", (("", [("schedule_id", sid)], n) for sid, n in sorted(on_call.items())))
    for family, named in (("oncall_service_info", services), ("oncall_schedule_info", schedules)):
        id_label = "service_id" if family == "oncall_service_info" else "schedule_id"
        out.family(
            family,
            (
                ("", [(id_label, x.id), ("name", x.name), ("team_id", x.team_id)], 1)
                for x in sorted(named, key=lambda x: x.id)
            ),
        )
    return "\n".join(out.lines) + "\n"
