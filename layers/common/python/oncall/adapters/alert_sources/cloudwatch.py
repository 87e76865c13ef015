"""CloudWatch "Alarm State Change" events (EventBridge default bus, ``source: aws.cloudwatch``).

``detail.state.value`` ALARM → trigger, OK → resolve, INSUFFICIENT_DATA → configurable (default: ignore). The dedup
key is the alarm ARN (``resources[0]``), so every state change of one alarm lands on the same incident.

The event carries no tags, so the service comes from configuration (``ONCALL_ALERTS_CLOUDWATCH_SERVICES``, a JSON
object whose keys are alarm ARNs or alarm-name prefixes and whose values are service ids or names; the exact ARN
wins, then the longest prefix) or, failing that, from the convention ``<service name>/<alarm>`` in the alarm name.

An alert's labels: ``alarmName``, each metric's dimensions by dimension name (``InstanceId``), the metric's
``namespace`` and ``metric_name``, and the event's ``region`` and ``account``; those named fields win a name a
dimension shares, and of metric math's several metrics the first one that names a dimension or namespace wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from oncall.domain.alerts import Alert, AlertAction, InvalidAlert, bound_raw, merge_labels
from oncall.domain.incidents import Severity, Source
from oncall.services.alert_ports import Sender

DETAIL_TYPE = "CloudWatch Alarm State Change"
SOURCE = "aws.cloudwatch"
_STATES = {"ALARM": AlertAction.TRIGGER, "OK": AlertAction.RESOLVE}


def alarm(event: Any) -> tuple[str, str, str]:
    """(alarm ARN, alarm name, state value) of a well-formed event; InvalidAlert otherwise."""
    if not isinstance(event, dict) or event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise InvalidAlert(["not a CloudWatch Alarm State Change event"])
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise InvalidAlert(["detail must be an object"])
    name = detail.get("alarmName")
    state = detail.get("state")
    resources = event.get("resources")
    errors = []
    if not isinstance(name, str) or not name:
        errors.append("detail.alarmName must be a non-empty string")
    if not isinstance(state, dict) or not isinstance(state.get("value"), str):
        errors.append("detail.state.value must be a string")
    arn = resources[0] if isinstance(resources, list) and resources and isinstance(resources[0], str) else None
    if arn is None:
        errors.append("resources[0] must be the alarm ARN")
    if errors:
        raise InvalidAlert(errors)
    assert isinstance(name, str) and isinstance(state, dict) and arn is not None
    return arn, name, str(state["value"])


def service_ref(arn: str, name: str, mapping: Mapping[str, str]) -> str | None:
    """The configured service (id or name) for an alarm: exact ARN, longest name prefix, then ``<service>/...``."""
    if arn in mapping:
        return mapping[arn]
    prefixes = [p for p in mapping if not p.startswith("arn:") and name.startswith(p)]
    if prefixes:
        return mapping[max(prefixes, key=len)]
    head, sep, _ = name.partition("/")
    return head if sep and head else None


def labels(event: dict[str, Any], name: str) -> dict[str, str]:
    """The labels of a well-formed event (``alarm`` has accepted it) whose alarm is ``name``."""
    config = event["detail"].get("configuration")
    metrics = config.get("metrics") if isinstance(config, dict) else None
    dimensions: dict[str, Any] = {}
    named: dict[str, Any] = {"alarmName": name}
    for entry in metrics if isinstance(metrics, list) else []:
        stat = entry.get("metricStat") if isinstance(entry, dict) else None
        metric = stat.get("metric") if isinstance(stat, dict) else None
        if not isinstance(metric, dict):
            continue  # a metric math expression names no metric
        if isinstance(metric.get("dimensions"), dict):
            for dim, value in metric["dimensions"].items():
                dimensions.setdefault(dim, value)
        for label, field in (("namespace", "namespace"), ("metric_name", "name")):
            if label not in named and isinstance(metric.get(field), str):
                named[label] = metric[field]
    named["region"] = event.get("region")
    named["account"] = event.get("account")
    return merge_labels(dimensions, named)


def to_alert(event: dict[str, Any], service_id: str, insufficient_data: str = "ignore") -> Alert | None:
    """The alert an alarm change means, or None when the state is ignored (INSUFFICIENT_DATA by default)."""
    arn, name, value = alarm(event)
    action = _STATES.get(value)
    if action is None and value == "INSUFFICIENT_DATA" and insufficient_data in ("trigger", "resolve"):
        action = AlertAction(insufficient_data)
    if action is None:
        return None
    detail = event["detail"]
    state = detail["state"]
    config = detail.get("configuration") if isinstance(detail.get("configuration"), dict) else {}
    description = config.get("description") if isinstance(config.get("description"), str) else None
    reason = state.get("reason") if isinstance(state.get("reason"), str) else ""
    summary = f"{name}: {description or reason or value}"
    occurred = None
    if isinstance(event.get("time"), str):
        try:
            occurred = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        except ValueError:
            occurred = None
    return Alert(
        source=Source.EVENTBRIDGE,
        action=action,
        service_id=service_id,
        summary=summary,
        severity=Severity.HIGH,
        raw=bound_raw(event),
        dedup_key=arn,
        occurred_at=occurred,
        details={"alarm": name, "state": value, "reason": reason[:1024], "region": event.get("region")},
        labels=labels(event, name),
    )


class CloudWatchSource:
    """``AlertSource`` for CloudWatch alarm state changes: the service comes from ``services`` (alarm ARN or name
    prefix → service id or name) or the ``<service>/`` name convention; ``insufficient_data`` is ignore, trigger or
    resolve."""

    def __init__(self, services: Mapping[str, str], insufficient_data: str = "ignore") -> None:
        self.services = dict(services)
        self.insufficient_data = insufficient_data

    def sender(self, payload: Any, key: str | None) -> Sender:
        arn, name, _ = alarm(payload)
        unknown = InvalidAlert(
            [f"alarm {name!r} maps to no service (ONCALL_ALERTS_CLOUDWATCH_SERVICES or '<service>/')"]
        )
        return Sender(unknown, service_ref=service_ref(arn, name, self.services))

    def alerts(self, payload: Any, service_id: str) -> list[Alert] | None:
        alert = to_alert(payload, service_id, self.insufficient_data)
        return None if alert is None else [alert]
