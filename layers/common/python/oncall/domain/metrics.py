"""Every metric the product emits, declared once: the functions emit them (``oncall.observability``), the CloudWatch
dashboard (CDK) and the Grafana dashboard (``infra/dashboards/``) chart them, README lists them; tests hold the four
together.

**EMF** (CloudWatch, namespace ``OnCallHub``): every metric also has the dimension ``service``: the function, as
powertools adds it, or ``oncall`` for ``ColdStart`` and ``HandlerErrors``, which every function emits. Dimensions are
few on purpose: CloudWatch bills each distinct combination as a metric, so an incident's service or id is an EMF
*property* (in the log line, searchable with Logs Insights), not a dimension.

**Prometheus** (``GET /metrics``): counters and histograms read from the statistics rollups' all-time cells and
gauges from current state, so a scrape costs a few reads whatever the number of incidents. Labels carry ids; names
come from ``oncall_service_info`` (join on ``service_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Unit = Literal["Count", "Seconds", "Milliseconds"]


@dataclass(frozen=True)
class EmfMetric:
    name: str
    unit: Unit
    #: dimensions besides ``service`` (the function)
    dimensions: tuple[str, ...]
    meaning: str
    #: the function that emits it (dashboards select it by its ``service`` dimension); None: every function
    emitted_by: str | None = None


SEVERITY = ("severity",)
#: the ``service`` dimension of the metrics every function emits as one for the whole stack
STACK_WIDE = "oncall"

EMF: tuple[EmfMetric, ...] = (
    EmfMetric("IncidentsOpened", "Count", SEVERITY, "incidents triggered", "stats"),
    EmfMetric("IncidentsAcknowledged", "Count", SEVERITY, "incidents acknowledged for the first time", "stats"),
    EmfMetric("IncidentsResolved", "Count", SEVERITY, "incidents resolved for the first time", "stats"),
    EmfMetric("IncidentsEscalated", "Count", SEVERITY, "incidents that escalated past their first level", "stats"),
    EmfMetric("TimeToAcknowledge", "Seconds", SEVERITY, "from trigger to first acknowledgement", "stats"),
    EmfMetric("TimeToResolve", "Seconds", SEVERITY, "from trigger to resolution", "stats"),
    EmfMetric("AlertsReceived", "Count", ("source",), "alerts accepted by intake (before deduplication)", "api"),
    EmfMetric("AlertsDeduplicated", "Count", ("source",), "alerts that joined an open incident", "api"),
    EmfMetric("AlertsSuppressed", "Count", ("reason",), "alerts held back by a rule, maintenance or a silence", "api"),
    EmfMetric("PagesSent", "Count", ("channel",), "pages and notifications delivered, by channel", "escalation"),
    EmfMetric("PagesFailed", "Count", ("channel",), "deliveries that failed for good, by channel", "escalation"),
    EmfMetric("RemindersSent", "Count", (), "shift reminders delivered", "reminders"),
    EmfMetric(
        "RemindersLate", "Count", (), "reminders sent after their time (an outage or a missed tick)", "reminders"
    ),
    EmfMetric("WebhookDeliveries", "Count", ("outcome",), "outgoing webhook attempts: delivered or failed", "notifier"),
    EmfMetric("WebhookDeadLetters", "Count", (), "webhook deliveries given up after every retry", "notifier"),
    # ``service`` = ``oncall`` whichever function emits them: one metric each for the whole stack, the function a
    # property; per function, Lambda's own Errors and Init Duration are free
    EmfMetric("ColdStart", "Count", (), "execution environments started (all functions)"),
    EmfMetric("HandlerErrors", "Count", (), "invocations that raised, all functions (Lambda retries or reports them)"),
)

EMF_BY_NAME: dict[str, EmfMetric] = {m.name: m for m in EMF}


@dataclass(frozen=True)
class PromMetric:
    name: str
    kind: Literal["counter", "gauge", "histogram", "info"]
    labels: tuple[str, ...]
    help: str


CELL_LABELS = ("team_id", "service_id", "severity")

#: upper bounds (seconds) of the MTTA/MTTR histogram buckets: fixed, so any two scrapes or series merge
DURATION_BUCKETS: tuple[int, ...] = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)

PROMETHEUS: tuple[PromMetric, ...] = (
    PromMetric("oncall_incidents_opened_total", "counter", CELL_LABELS, "Incidents triggered."),
    PromMetric("oncall_incidents_acknowledged_total", "counter", CELL_LABELS, "Incidents acknowledged."),
    PromMetric("oncall_incidents_resolved_total", "counter", CELL_LABELS, "Incidents resolved."),
    PromMetric("oncall_incidents_escalated_total", "counter", CELL_LABELS, "Incidents escalated past level 1."),
    PromMetric("oncall_incidents_open", "gauge", CELL_LABELS, "Incidents triggered or acknowledged now."),
    PromMetric("oncall_alerts_received_total", "counter", CELL_LABELS, "Alerts that opened or joined an incident."),
    PromMetric(
        "oncall_alerts_deduplicated_total", "counter", CELL_LABELS, "Alerts that joined an already open incident."
    ),
    PromMetric(
        "oncall_alerts_suppressed_total",
        "counter",
        ("team_id", "service_id", "reason"),
        "Alerts held back by maintenance, a silence or an event rule.",
    ),
    PromMetric("oncall_time_to_acknowledge_seconds", "histogram", CELL_LABELS, "Time from trigger to acknowledgement."),
    PromMetric("oncall_time_to_resolve_seconds", "histogram", CELL_LABELS, "Time from trigger to resolution."),
    PromMetric("oncall_on_call_people", "gauge", ("schedule_id",), "People on call now, per schedule."),
    PromMetric("oncall_service_info", "gauge", ("service_id", "name", "team_id"), "A service's name and team."),
    PromMetric("oncall_schedule_info", "gauge", ("schedule_id", "name", "team_id"), "A schedule's name and team."),
)
