"""``oncall.alerts`` custom events on the ``oncall`` bus: any system that can ``PutEvents`` can raise an alert.

Schema of ``detail`` (``detail-type`` is free, e.g. ``Alert``)::

    {
      "integration_key": "<the service's 32-character key>",    required
      "summary": "Disk 95% full on db-1",                        required to trigger, ≤ 1,024 characters
      "severity": "critical|high|medium|low",                    default high; PagerDuty words also accepted
      "dedup_key": "db-1-disk",                                  optional, ≤ 255; without one alerts correlate by
                                                                 (service, severity) inside the window
      "action": "trigger|acknowledge|resolve",                   default trigger; ack/resolve need dedup_key
      "details": {...}                                           optional, kept (bounded) on the timeline; a page
                                                                 shows a few entries, and ``runbook_url`` as a link
      "labels": {"team": "db", ...}                              optional, for silences and event rules
    }

An alert's labels are the top-level text, number and boolean fields of ``detail`` (never ``integration_key``: it
is the service's secret), with ``labels`` flattened over them.
"""

from __future__ import annotations

from typing import Any

from oncall.domain.alerts import Alert, AlertAction, InvalidAlert, bound_free_form, bound_raw, merge_labels, severity_of
from oncall.domain.incidents import Severity, Source
from oncall.services.alert_ports import Sender

SOURCE = "oncall.alerts"
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255
_SEVERITIES = {"critical", "high", "medium", "low", "error", "warning", "info"}
#: detail fields that never become labels: the integration key authenticates the sender and must not be echoed
_NOT_LABELS = {"integration_key"}


def integration_key(event: Any) -> str:
    if not isinstance(event, dict) or event.get("source") != SOURCE or not isinstance(event.get("detail"), dict):
        raise InvalidAlert(["not an oncall.alerts event with an object detail"])
    key = event["detail"].get("integration_key")
    if not isinstance(key, str) or not key:
        raise InvalidAlert(["detail.integration_key is missing"])
    return key


def to_alert(event: dict[str, Any], service_id: str) -> Alert:
    detail = event["detail"]
    errors: list[str] = []
    action = detail.get("action", "trigger")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("detail.action must be trigger, acknowledge or resolve")
    key = detail.get("dedup_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= DEDUP_KEY_MAX):
        errors.append(f"detail.dedup_key must be a string of 1-{DEDUP_KEY_MAX} characters")
    if action in ("acknowledge", "resolve") and key is None:
        errors.append(f"detail.dedup_key is required to {action}")
    summary = detail.get("summary")
    if action == "trigger":
        if not isinstance(summary, str) or not summary.strip():
            errors.append("detail.summary is required to trigger")
        elif len(summary) > SUMMARY_MAX:
            errors.append(f"detail.summary is at most {SUMMARY_MAX} characters")
    severity = detail.get("severity", "high")
    if not isinstance(severity, str) or severity not in _SEVERITIES:
        errors.append("detail.severity must be critical, high, medium or low")
    extra = detail.get("details")
    if extra is not None and not isinstance(extra, dict):
        errors.append("detail.details must be an object")
    own = detail.get("labels")
    if own is not None and not isinstance(own, dict):
        errors.append("detail.labels must be an object")
    if errors:
        raise InvalidAlert(errors)
    scalars = {k: v for k, v in detail.items() if k not in _NOT_LABELS and isinstance(v, (str, int, float, bool))}
    return Alert(
        source=Source.EVENTBRIDGE,
        action=AlertAction(action),
        service_id=service_id,
        summary=summary if isinstance(summary, str) else "",
        severity=severity_of(severity, Severity.HIGH),
        raw=bound_raw({k: v for k, v in detail.items() if k != "integration_key"}),
        dedup_key=key,
        details={"event_id": event.get("id"), **({"details": bound_free_form(extra)} if extra else {})},
        labels=merge_labels(scalars, own),
    )


class CustomEventSource:
    """``AlertSource`` for ``oncall.alerts`` bus events: the event names its integration key in ``detail``."""

    def sender(self, payload: Any, key: str | None) -> Sender:
        unknown = InvalidAlert(["detail.integration_key is not a valid integration key"])
        return Sender(unknown, key=integration_key(payload))

    def alerts(self, payload: Any, service_id: str) -> list[Alert]:
        return [to_alert(payload, service_id)]
