"""Prometheus Alertmanager webhook (``version: "4"``): one Alert per entry of ``alerts``.

Each alert's own ``status`` decides trigger or resolve: the group ``status`` stays ``firing`` while any alert of the
group fires, so it says nothing about the alert at hand. ``fingerprint`` is the dedup key, ``groupKey`` the group
(the alerts Alertmanager grouped feed one incident), ``truncatedAlerts`` (alerts Alertmanager dropped to respect
``max_alerts``, plus those past our own ``MAX_ALERTS``) is recorded on each alert's timeline line, as are its labels,
annotations (bounded: a page shows ``runbook_url`` and ``description`` from them) and the links Alertmanager/Grafana
send. An alert's own ``labels`` (already a flat string map, only bounded) are its ``Alert.labels``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from oncall.domain.alerts import (
    Alert,
    AlertAction,
    InvalidAlert,
    bound_free_form,
    bound_raw,
    digest,
    flat_labels,
    severity_of,
)
from oncall.domain.errors import Unauthenticated
from oncall.domain.incidents import Severity, Source
from oncall.services.alert_ports import Delivery, Sender

#: the source's name at alert intake (``AlertService.receive``)
NAME = "alertmanager"

#: entries per delivery we apply (Alertmanager's max_alerts is 0 = unlimited by default); the rest are counted as
#: truncated, as Alertmanager's own ``max_alerts`` does, never refused: refusing a delivery for its size would refuse
#: the biggest outage on every retry
MAX_ALERTS = 1000
_STATUSES = {"firing": AlertAction.TRIGGER, "resolved": AlertAction.RESOLVE}


def _labels(errors: list[str], where: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        errors.append(f"{where} must be an object of strings")
        return {}
    return value


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or value.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def to_alerts(body: Any, service_id: str, *, source: Source = Source.ALERTMANAGER) -> list[Alert]:
    """Every entry as an Alert; InvalidAlert naming each bad field (``alerts[1].status``) otherwise."""
    if not isinstance(body, dict):
        raise InvalidAlert(["body must be a JSON object"])
    errors: list[str] = []
    entries = body.get("alerts")
    if not isinstance(entries, list):
        raise InvalidAlert(["alerts must be an array"])
    over = max(0, len(entries) - MAX_ALERTS)
    entries = entries[:MAX_ALERTS]
    group_key = body.get("groupKey")
    if group_key is not None and not isinstance(group_key, str):
        errors.append("groupKey must be a string")
        group_key = None
    truncated = body.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        errors.append("truncatedAlerts must be a non-negative integer")
        truncated = 0
    truncated += over
    common = _labels(errors, "commonLabels", body.get("commonLabels"))
    out: list[Alert] = []
    for i, entry in enumerate(entries):
        where = f"alerts[{i}]"
        if not isinstance(entry, dict):
            errors.append(f"{where} must be an object")
            continue
        status = entry.get("status")
        if status not in _STATUSES:
            errors.append(f"{where}.status must be firing or resolved")
            continue
        labels = _labels(errors, f"{where}.labels", entry.get("labels"))
        annotations = _labels(errors, f"{where}.annotations", entry.get("annotations"))
        fingerprint = entry.get("fingerprint")
        if fingerprint is not None and (not isinstance(fingerprint, str) or not 0 < len(fingerprint) <= 255):
            errors.append(f"{where}.fingerprint must be a string of 1-255 characters")
            continue
        if fingerprint is None:
            if not labels:
                errors.append(f"{where} needs a fingerprint or labels")
                continue
            # what Alertmanager fingerprints: the label set
            fingerprint = digest(repr(sorted(labels.items())))
        summary = (
            annotations.get("summary")
            or annotations.get("description")
            or annotations.get("message")
            or " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k in ("alertname", "instance", "job"))
            or labels.get("alertname", "")
        )
        severity = severity_of(labels.get("severity") or common.get("severity"), Severity.HIGH)
        details: dict[str, Any] = {"labels": dict(list(labels.items())[:50])}
        if annotations:
            details["annotations"] = bound_free_form(annotations)
        for name in ("generatorURL", "dashboardURL", "panelURL", "silenceURL"):
            value = entry.get(name)
            if isinstance(value, str) and value:
                details[name] = value[:2048]
        if truncated:
            details["truncated_alerts"] = truncated
        out.append(
            Alert(
                source=source,
                action=_STATUSES[status],
                service_id=service_id,
                summary=summary,
                severity=severity,
                raw=bound_raw(entry),
                dedup_key=fingerprint,
                group_key=group_key,
                occurred_at=_time(entry.get("startsAt")) if status == "firing" else _time(entry.get("endsAt")),
                details=details,
                labels=flat_labels(labels),
            )
        )
    if errors:
        raise InvalidAlert(errors)
    return out


def bearer_sender(key: str | None) -> Sender:
    """The sender of a webhook that authenticates with ``Authorization: Bearer <integration key>``."""
    if key is None:
        raise Unauthenticated("missing integration key: send Authorization: Bearer <integration key>", reason="missing")
    return Sender(Unauthenticated("unknown integration key", reason="invalid"), key=key)


def json_body(delivery: Delivery) -> Any:
    try:
        return json.loads(delivery.body or "")
    except (ValueError, RecursionError):
        raise InvalidAlert(["body must be valid JSON"]) from None


class AlertmanagerSource:
    """``AlertSource`` for ``POST /integrations/alertmanager``: the payload is the ``Delivery`` (read only once its
    sender is known), the integration key the Bearer token beside it."""

    def sender(self, payload: Delivery, key: str | None) -> Sender:
        return bearer_sender(key)

    def alerts(self, payload: Delivery, service_id: str) -> list[Alert]:
        return to_alerts(json_body(payload), service_id)
