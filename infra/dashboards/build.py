"""Writes ``infra/dashboards/oncall-hub.json``, the Grafana dashboard of what ``GET /metrics`` exposes.

Generated rather than hand-edited so that every query names metrics and labels exactly as the catalog
(``oncall.domain.metrics.PROMETHEUS``) declares them: a name the catalog does not have fails the build, not a panel
that silently stays empty. The JSON is committed (it is what people import) and ``tests/infra/test_dashboards.py``
proves it equals what this script writes; after changing the catalog or the panels, run
``python -m infra.dashboards.build`` (``--check`` only compares).

The dashboard is importable as is: ``__inputs`` declares the Prometheus datasource, so Grafana's import asks for it.

Long because it is the whole dashboard in one place: each panel's query, unit and position read together, in the
order Grafana shows them, and splitting the panel kinds from the panels would only move the same lines apart.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# infra.settings puts the common layer (the ``oncall`` package) on the import path
from infra.settings import LAYER_PATH  # noqa: F401
from oncall.domain.metrics import PROMETHEUS

OUTPUT = Path(__file__).resolve().parent / "oncall-hub.json"
UID = "oncall-hub"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
#: the incident metrics' selector: the team and service the viewer picked
CELL = '{team_id=~"$team_id", service_id=~"$service_id"}'
#: the quantiles MTTA and MTTR are drawn at
QUANTILES = (0.5, 0.9)

_BY_NAME = {m.name: m for m in PROMETHEUS}

Json = dict[str, Any]


def metric(name: str, suffix: str = "") -> str:
    """A catalog metric's series name: a histogram's with ``_bucket``, ``_sum`` or ``_count``, others without."""
    declared = _BY_NAME.get(name)
    if declared is None:
        raise KeyError(f"{name} is not in oncall.domain.metrics.PROMETHEUS")
    if (declared.kind == "histogram") != bool(suffix) or suffix not in ("", "_bucket", "_sum", "_count"):
        raise ValueError(f"{name} is a {declared.kind}: suffix {suffix!r} does not apply")
    return name + suffix


def _quantile(q: float, histogram: str, window: str) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({metric(histogram, '_bucket')}{CELL}[{window}])))"


def _range_quantile(q: float, histogram: str) -> str:
    # increase over the whole range: one figure for every incident of the period, however few
    return f"histogram_quantile({q}, sum by (le) (increase({metric(histogram, '_bucket')}{CELL}[$__range])))"


def _range_mean(histogram: str) -> str:
    total = f"sum(increase({metric(histogram, '_sum')}{CELL}[$__range]))"
    return f"{total} / sum(increase({metric(histogram, '_count')}{CELL}[$__range]))"


def _on_call() -> str:
    # the schedule's name (and team, for the team filter) come from its info series, joined on schedule_id
    people, info = metric("oncall_on_call_people"), metric("oncall_schedule_info")
    return f'{people} * on(schedule_id) group_left(name) {info}{{team_id=~"$team_id"}}'


def _target(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> Json:
    return {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": expr,
        "instant": instant,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "refId": ref,
    }


def _targets(*queries: tuple[str, str], instant: bool = False) -> list[Json]:
    return [_target(expr, legend, chr(ord("A") + i), instant=instant) for i, (expr, legend) in enumerate(queries)]


class _Layout:
    """Panels left to right, wrapping at Grafana's 24 columns; ``row`` starts a collapsible section."""

    def __init__(self) -> None:
        self.panels: list[Json] = []
        self._x = self._y = self._row_height = 0

    def _place(self, width: int, height: int) -> Json:
        if self._x + width > 24:
            self._x, self._y, self._row_height = 0, self._y + self._row_height, 0
        pos = {"h": height, "w": width, "x": self._x, "y": self._y}
        self._x += width
        self._row_height = max(self._row_height, height)
        return pos

    def row(self, title: str) -> None:
        self._x, self._y, self._row_height = 0, self._y + self._row_height, 0
        pos = self._place(24, 1)
        self.panels.append(
            {
                "collapsed": False,
                "gridPos": pos,
                "id": len(self.panels) + 1,
                "panels": [],
                "title": title,
                "type": "row",
            }
        )
        self._x, self._y, self._row_height = 0, self._y + 1, 0

    def add(self, panel: Json, width: int, height: int) -> None:
        self.panels.append({"id": len(self.panels) + 1, "gridPos": self._place(width, height), **panel})


def _timeseries(
    title: str, description: str, targets: list[Json], *, unit: str, bars: bool = False, interval: str | None = None
) -> Json:
    custom: Json = {"drawStyle": "bars" if bars else "line", "fillOpacity": 80 if bars else 10, "lineWidth": 1}
    if bars:
        custom["stacking"] = {"group": "A", "mode": "normal"}
    panel: Json = {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit, "min": 0, "custom": custom}, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
    }
    if interval:
        panel["interval"] = interval
    return panel


def _stat(
    title: str, description: str, expr: str, *, unit: str, decimals: int | None = None, red_from: float | None = None
) -> Json:
    steps: list[Json] = [{"color": "green", "value": None}]
    if red_from is not None:
        steps.append({"color": "red", "value": red_from})
    defaults: Json = {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}}
    if decimals is not None:
        defaults["decimals"] = decimals
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "colorMode": "value" if red_from is not None else "none",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "value",
        },
        "targets": [_target(expr, instant=True)],
    }


def _bars(title: str, description: str, expr: str, legend: str) -> Json:
    return {
        "type": "bargauge",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {
                "unit": "none",
                "min": 0,
                "decimals": 0,
                "thresholds": {"mode": "absolute", "steps": [{"color": "blue", "value": None}]},
            },
            "overrides": [],
        },
        "options": {
            "displayMode": "basic",
            "orientation": "horizontal",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "showUnfilled": True,
        },
        "targets": [_target(expr, legend, instant=True)],
    }


def _variable(name: str, label: str, query: str) -> Json:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        # every value by default; ".*" rather than a list of values keeps the selector short with many teams
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {},
        "options": [],
        "refresh": 2,
        "regex": "",
        "sort": 1,
        "hide": 0,
    }


def _window() -> Json:
    options = ["1h", "6h", "12h", "1d", "7d"]
    return {
        "name": "window",
        "label": "Window",
        "description": "How far back each point of the rate and percentile graphs looks: incidents are rare, so a "
        "short window leaves gaps where nothing happened.",
        "type": "interval",
        "query": ",".join(options),
        "current": {"selected": True, "text": "6h", "value": "6h"},
        "options": [{"selected": o == "6h", "text": o, "value": o} for o in options],
        "auto": False,
        "refresh": 2,
        "hide": 0,
    }


def _panels() -> list[Json]:
    layout = _Layout()
    counters = (
        ("oncall_incidents_opened_total", "Opened"),
        ("oncall_incidents_acknowledged_total", "Acknowledged"),
        ("oncall_incidents_resolved_total", "Resolved"),
        ("oncall_incidents_escalated_total", "Escalated"),
    )

    layout.row("Incidents")
    for name, label in counters:
        layout.add(
            _stat(
                label,
                f"{label} in the dashboard's time range.",
                f"sum(increase({metric(name)}{CELL}[$__range]))",
                unit="none",
                decimals=0,
            ),
            6,
            4,
        )
    layout.add(
        _timeseries(
            "Incidents opened per hour by severity",
            "Incidents triggered in each hour, by severity.",
            _targets(
                (f"sum by (severity) (increase({metric('oncall_incidents_opened_total')}{CELL}[1h]))", "{{severity}}")
            ),
            unit="none",
            bars=True,
            interval="1h",
        ),
        12,
        8,
    )
    layout.add(
        _bars(
            "Open incidents by severity",
            "Incidents triggered or acknowledged now.",
            f"sum by (severity) ({metric('oncall_incidents_open')}{CELL})",
            "{{severity}}",
        ),
        6,
        8,
    )
    layout.add(
        _bars(
            "Open incidents by service",
            "Incidents triggered or acknowledged now, by service (named from oncall_service_info).",
            f"sum by (service_id) ({metric('oncall_incidents_open')}{CELL})"
            f" * on(service_id) group_left(name) {metric('oncall_service_info')}",
            "{{name}}",
        ),
        6,
        8,
    )
    layout.add(
        _timeseries(
            "Acknowledged, resolved and escalated per hour",
            "Hourly rates averaged over the chosen window.",
            _targets(
                *((f"sum(rate({metric(name)}{CELL}[$window])) * 3600", label.lower()) for name, label in counters[1:])
            ),
            unit="none",
        ),
        24,
        8,
    )

    layout.row("Response times")
    for histogram, what in (("oncall_time_to_acknowledge_seconds", "MTTA"), ("oncall_time_to_resolve_seconds", "MTTR")):
        for q in QUANTILES:
            layout.add(
                _stat(
                    f"{what} p{round(q * 100)}",
                    "Over every incident of the time range; interpolated within a histogram bucket, so exact "
                    "only to that bucket's width.",
                    _range_quantile(q, histogram),
                    unit="s",
                ),
                4,
                4,
            )
        layout.add(
            _stat(f"{what} mean", "Over every incident of the time range.", _range_mean(histogram), unit="s"), 4, 4
        )
    for histogram, title in (
        ("oncall_time_to_acknowledge_seconds", "Time to acknowledge (MTTA)"),
        ("oncall_time_to_resolve_seconds", "Time to resolve (MTTR)"),
    ):
        layout.add(
            _timeseries(
                f"{title} p50 / p90",
                "Percentiles of the incidents of the chosen window before each point.",
                _targets(*((_quantile(q, histogram, "$window"), f"p{round(q * 100)}") for q in QUANTILES)),
                unit="s",
            ),
            12,
            8,
        )

    layout.row("Alerts")
    received, deduplicated = metric("oncall_alerts_received_total"), metric("oncall_alerts_deduplicated_total")
    suppressed = metric("oncall_alerts_suppressed_total")
    layout.add(
        _timeseries(
            "Alerts received, deduplicated and suppressed",
            "Alerts per minute that opened or joined an incident, those that joined an open one, and those held back "
            "by maintenance, a silence or an event rule.",
            _targets(
                (f"sum(rate({received}{CELL}[$__rate_interval])) * 60", "received"),
                (f"sum(rate({deduplicated}{CELL}[$__rate_interval])) * 60", "deduplicated"),
                (f"sum by (reason) (rate({suppressed}{CELL}[$__rate_interval])) * 60", "suppressed: {{reason}}"),
            ),
            unit="none",
        ),
        18,
        8,
    )
    layout.add(
        _stat(
            "Deduplicated share",
            "Share of the time range's alerts that joined an already open incident.",
            f"sum(increase({deduplicated}{CELL}[$__range])) / sum(increase({received}{CELL}[$__range]))",
            unit="percentunit",
        ),
        6,
        8,
    )

    layout.row("On call")
    layout.add(
        _bars(
            "People on call per schedule",
            "People on call now, per schedule of the chosen teams.",
            _on_call(),
            "{{name}}",
        ),
        18,
        8,
    )
    layout.add(
        _stat(
            "Schedules with nobody on call",
            "Schedules of the chosen teams that nobody covers right now.",
            f"count(({_on_call()}) == 0) or vector(0)",
            unit="none",
            decimals=0,
            red_from=1,
        ),
        6,
        8,
    )
    return layout.panels


def dashboard() -> Json:
    panels = _panels()
    panel_types = sorted({p["type"] for p in panels} - {"row"})
    # the variables' values come from the services' info series: every team and service with a name
    services = metric("oncall_service_info")
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "description": "The Prometheus that scrapes OnCall Hub's GET /metrics",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "__elements": {},
        "__requires": [
            {"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0"},
            {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
            *({"type": "panel", "id": t, "name": t, "version": ""} for t in panel_types),
        ],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": "OnCall Hub: incidents, response times, alerts and who is on call, from GET /metrics.",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [],
        "panels": panels,
        "refresh": "1m",
        "schemaVersion": 39,
        "tags": ["oncall-hub"],
        "templating": {
            "list": [
                _variable("team_id", "Team", f"label_values({services}, team_id)"),
                _variable("service_id", "Service", f'label_values({services}{{team_id=~"$team_id"}}, service_id)'),
                _window(),
            ]
        },
        "time": {"from": "now-24h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": "OnCall Hub",
        "uid": UID,
        "version": 1,
        "weekStart": "",
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare: exit 1 if the committed JSON differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.name} is out of date: run python -m infra.dashboards.build", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
