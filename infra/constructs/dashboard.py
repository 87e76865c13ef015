"""The CloudWatch dashboard: what the Grafana dashboard (``infra/dashboards/``) shows, drawn from the EMF metrics.

Every metric comes from the catalog (``oncall.domain.metrics.EMF``), selected the way the functions emit it:
namespace ``OnCallHub``, ``service`` = ``oncall-<emitting function>``, plus the metric's declared dimensions.

- Severities are a closed set (``Severity``), so severity metrics are listed one per severity: the graphs stay
  exact and need no search.
- ``source``, ``reason``, ``channel`` and ``outcome`` take values the product does not fix (integrations, channels
  and reasons grow), so those graphs are ``SEARCH`` expressions that find whichever values exist.
- ``ColdStart`` and ``HandlerErrors`` are one metric each for the whole stack (``service`` = ``oncall``, the function
  a property, as CloudWatch bills each metric); errors per function come from Lambda's own ``Errors``, which are free
  and name this stack's functions.

What Prometheus has and EMF has not (incidents open now, people on call) is Grafana's alone: those are current state,
read at scrape time, not events a function emits.

The name is ``<stack name>-<region>`` because CloudWatch dashboard names are unique per account, across regions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

# infra.settings puts the common layer (the ``oncall`` package) on the import path
from infra.settings import LAYER_PATH  # noqa: F401
from oncall.domain.incidents import Severity
from oncall.domain.metrics import EMF_BY_NAME, STACK_WIDE, EmfMetric

NAMESPACE = "OnCallHub"
HOUR = Duration.hours(1)
FIVE_MINUTES = Duration.minutes(5)
#: the dashboard's grid is 24 units wide
FULL, HALF, THIRD, QUARTER = 24, 12, 8, 6
HEIGHT = 6
SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)


def service(metric: EmfMetric) -> str:
    """The ``service`` dimension the emitting function's metrics carry (its ``POWERTOOLS_SERVICE_NAME``)."""
    if metric.emitted_by is None:
        raise ValueError(f"{metric.name} is emitted by every function: select it by function")
    return f"oncall-{metric.emitted_by}"


def _metric_id(name: str, suffix: str = "") -> str:
    # metric math ids: a lowercase letter, then letters, digits and underscores, unique within a widget
    return name[:1].lower() + name[1:] + suffix[:1].upper() + suffix[1:]


def by_severity(name: str, *, statistic: str = "Sum", period: Duration = HOUR) -> list[cloudwatch.Metric]:
    """One line per severity of a severity-dimensioned metric."""
    metric = EMF_BY_NAME[name]
    if metric.dimensions != ("severity",):
        raise ValueError(f"{name} is not dimensioned by severity alone: {metric.dimensions}")
    return [
        cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=name,
            dimensions_map={"service": service(metric), "severity": severity},
            statistic=statistic,
            period=period,
            label=severity,
        )
        for severity in SEVERITIES
    ]


def all_severities(name: str, label: str, *, period: Duration = HOUR) -> cloudwatch.MathExpression:
    """A severity-dimensioned counter summed over every severity (missing severities count as nothing)."""
    metrics = by_severity(name, period=period)
    using = {_metric_id(name, severity): m for severity, m in zip(SEVERITIES, metrics, strict=True)}
    return cloudwatch.MathExpression(
        expression=f"SUM([{','.join(using)}])", using_metrics=using, label=label, period=period
    )


def search(name: str, *, statistic: str = "Sum", period: Duration = FIVE_MINUTES) -> str:
    """A ``SEARCH`` for every value of the metric's own dimension (besides ``service``)."""
    metric = EMF_BY_NAME[name]
    schema = ",".join((NAMESPACE, "service", *metric.dimensions))
    query = f'{{{schema}}} MetricName="{name}" service="{service(metric)}"'
    return f"SEARCH('{query}', '{statistic}', {int(period.to_seconds())})"


def each_value(name: str, *, period: Duration = FIVE_MINUTES) -> cloudwatch.MathExpression:
    """One line per value of the metric's dimension, labelled with that value."""
    (dimension,) = EMF_BY_NAME[name].dimensions
    return cloudwatch.MathExpression(
        expression=search(name, period=period), using_metrics={}, label=f"${{PROP('Dim.{dimension}')}}", period=period
    )


def total(name: str, label: str, *, period: Duration = FIVE_MINUTES) -> cloudwatch.MathExpression:
    """Every value of the metric's dimension, summed into one line."""
    return cloudwatch.MathExpression(
        expression=f"SUM({search(name, period=period)})", using_metrics={}, label=label, period=period
    )


def plain(name: str, label: str, *, period: Duration = HOUR) -> cloudwatch.Metric:
    """A metric with no dimension besides ``service``."""
    metric = EMF_BY_NAME[name]
    if metric.dimensions:
        raise ValueError(f"{name} has dimensions {metric.dimensions}")
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service(metric)},
        statistic="Sum",
        period=period,
        label=label,
    )


def stack_wide(name: str, label: str) -> cloudwatch.Metric:
    """A metric every function emits as one for the whole stack (``service`` = ``oncall``)."""
    metric = EMF_BY_NAME[name]
    if metric.emitted_by is not None or metric.dimensions:
        raise ValueError(f"{name} is not a stack-wide metric")
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={"service": STACK_WIDE},
        statistic="Sum",
        period=FIVE_MINUTES,
        label=label,
    )


def lambda_errors(functions: Mapping[str, lambda_.IFunction]) -> list[cloudwatch.IMetric]:
    """Lambda's own ``Errors`` per function (free, unlike an EMF metric per function), labelled with its name."""
    return [
        fn.metric_errors(period=FIVE_MINUTES, statistic="Sum", label=fname) for fname, fn in sorted(functions.items())
    ]


def _graph(
    title: str, left: Sequence[cloudwatch.IMetric], width: int, *, unit: str = "", stacked: bool = False
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title,
        left=list(left),
        width=width,
        height=HEIGHT,
        stacked=stacked,
        left_y_axis=cloudwatch.YAxisProps(min=0, label=unit, show_units=False),
    )


class Dashboard(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: Mapping[str, lambda_.IFunction]) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Resource",
            dashboard_name=f"{stack.stack_name}-{stack.region}",
            default_interval=Duration.days(1),
        )
        self.dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    "# OnCall Hub\n"
                    "Incidents, response times, alerts, paging and the functions' health, from the metrics the "
                    "functions emit (namespace `OnCallHub`). Incidents open now and people on call are on the "
                    "Grafana dashboard, which reads `GET /metrics`."
                ),
                width=FULL,
                height=2,
            )
        )
        counters = [
            ("IncidentsOpened", "opened"),
            ("IncidentsAcknowledged", "acknowledged"),
            ("IncidentsResolved", "resolved"),
            ("IncidentsEscalated", "escalated"),
        ]
        self.dashboard.add_widgets(
            cloudwatch.SingleValueWidget(
                title="Incidents in the time range",
                metrics=[all_severities(name, label) for name, label in counters],
                set_period_to_time_range=True,
                width=FULL,
                height=4,
            )
        )
        self.dashboard.add_widgets(
            _graph(
                "Incidents opened per hour by severity",
                by_severity("IncidentsOpened"),
                HALF,
                unit="incidents/h",
                stacked=True,
            ),
            _graph(
                "Acknowledged, resolved and escalated per hour",
                [all_severities(name, label) for name, label in counters[1:]],
                HALF,
                unit="incidents/h",
            ),
        )
        # percentiles cannot be merged across dimension values, so each severity keeps its own line
        self.dashboard.add_widgets(
            *(
                _graph(title, by_severity(name, statistic=p), QUARTER, unit="seconds")
                for name, what in (("TimeToAcknowledge", "MTTA"), ("TimeToResolve", "MTTR"))
                for p, title in ((p, f"{what} {p} by severity") for p in ("p50", "p90"))
            )
        )
        self.dashboard.add_widgets(
            _graph(
                "Alerts received vs deduplicated",
                [total("AlertsReceived", "received"), total("AlertsDeduplicated", "deduplicated")],
                THIRD,
                unit="alerts/5 min",
            ),
            _graph("Alerts received by source", [each_value("AlertsReceived")], THIRD, unit="alerts/5 min"),
            _graph("Alerts suppressed by reason", [each_value("AlertsSuppressed")], THIRD, unit="alerts/5 min"),
        )
        self.dashboard.add_widgets(
            _graph("Pages sent by channel", [each_value("PagesSent")], THIRD, unit="pages/5 min"),
            _graph("Pages failed by channel", [each_value("PagesFailed")], THIRD, unit="pages/5 min"),
            _graph(
                "Shift reminders",
                [plain("RemindersSent", "sent"), plain("RemindersLate", "late")],
                THIRD,
                unit="reminders/h",
            ),
        )
        self.dashboard.add_widgets(
            _graph("Webhook deliveries by outcome", [each_value("WebhookDeliveries")], HALF, unit="attempts/5 min"),
            _graph("Webhook dead letters", [plain("WebhookDeadLetters", "given up")], HALF, unit="deliveries/h"),
        )
        self.dashboard.add_widgets(
            _graph(
                "Cold starts and handler errors, all functions",
                [stack_wide("ColdStart", "cold starts"), stack_wide("HandlerErrors", "handler errors")],
                HALF,
                unit="per 5 min",
            ),
            _graph("Errors by function (Lambda)", lambda_errors(functions), HALF, unit="errors/5 min"),
        )
        CfnOutput(
            stack,
            "DashboardName",
            value=self.dashboard.dashboard_name,
            description="The CloudWatch dashboard of the stack's metrics",
        )
