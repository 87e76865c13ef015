"""``AlertSummary``: the part of an alert a page shows, small enough to be stored on the incident whenever an alert
opens or joins it (``summarise_alert`` picks it from a normalised alert's details), so paging never reads raw alert
payloads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from oncall.domain.page_content.bounds import bound_details, safe_url

URGENCIES = frozenset({"high", "low"})


@dataclass(frozen=True)
class AlertSummary:
    """What a page shows of one alert; bounded, so it can live on the incident item (well under 1 KB typically)."""

    details: tuple[tuple[str, str], ...] = ()
    runbook_url: str | None = None
    source_url: str | None = None
    #: an urgency the source stated (``high``/``low``), overriding the one derived from severity
    urgency: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", bound_details(self.details))
        object.__setattr__(self, "runbook_url", safe_url(self.runbook_url))
        object.__setattr__(self, "source_url", safe_url(self.source_url))
        urgency = self.urgency.strip().lower() if isinstance(self.urgency, str) else None
        object.__setattr__(self, "urgency", urgency if urgency in URGENCIES else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "details": [list(pair) for pair in self.details],
            "runbook_url": self.runbook_url,
            "source_url": self.source_url,
            "urgency": self.urgency,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> AlertSummary | None:
        """The summary back from ``to_dict`` (or None for anything that is not one: stored data may be older)."""
        if not isinstance(raw, Mapping):
            return None
        details = raw.get("details")
        return cls(
            details=bound_details(details) if isinstance(details, (list, tuple)) else (),
            runbook_url=raw.get("runbook_url"),
            source_url=raw.get("source_url"),
            urgency=raw.get("urgency"),
        )


#: Prometheus-style labels that say where and what, shown first in this order
_LABEL_ORDER = (
    "alertname",
    "instance",
    "job",
    "namespace",
    "pod",
    "container",
    "service",
    "cluster",
    "node",
    "deployment",
    "environment",
    "env",
    "region",
    "grafana_folder",
)
#: already on the page in their own right (severity, urgency) or machinery, not information
_SKIPPED_LABELS = frozenset({"severity", "urgency", "__alert_rule_uid__", "__alert_rule_namespace_uid__"})
_RUNBOOK_KEYS = ("runbook_url", "runbookURL", "runbookUrl", "runbook")


def _strings(raw: object) -> dict[str, Any]:
    return {str(k): v for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def _first_url(*candidates: object) -> str | None:
    return next((url for url in map(safe_url, candidates) if url), None)


def summarise_alert(source: str, details: Mapping[str, Any]) -> AlertSummary:
    """The page's view of a normalised alert (``Alert.details`` of its source): key facts first, bounded."""
    if source in ("alertmanager", "grafana"):
        return _prometheus(source, details)
    if source == "pagerduty-events":
        return _pagerduty(details)
    if "alarm" in details:
        # a CloudWatch alarm arrives as an EventBridge event; its name and region are what people search by
        return AlertSummary(
            details=bound_details((k, details.get(k)) for k in ("alarm", "region", "state", "reason")),
        )
    custom = _strings(details.get("details"))
    return AlertSummary(
        details=bound_details((k, v) for k, v in custom.items() if k not in _RUNBOOK_KEYS and k != "urgency"),
        runbook_url=_first_url(*(custom.get(k) for k in _RUNBOOK_KEYS)),
        urgency=custom.get("urgency") if isinstance(custom.get("urgency"), str) else None,
    )


def _prometheus(source: str, details: Mapping[str, Any]) -> AlertSummary:
    labels = _strings(details.get("labels"))
    annotations = _strings(details.get("annotations"))
    first = [(k, labels[k]) for k in _LABEL_ORDER if k in labels]
    if annotations.get("description"):
        first.append(("description", annotations["description"]))
    rest = [
        (k, v)
        for k, v in sorted(labels.items())
        if k not in _LABEL_ORDER and k not in _SKIPPED_LABELS and not k.startswith("__")
    ]
    # Grafana's own views of the alert say more than the rule's generator URL
    source_keys = ("panelURL", "dashboardURL", "generatorURL") if source == "grafana" else ("generatorURL",)
    urgency = labels.get("urgency")
    return AlertSummary(
        details=bound_details(first + rest),
        runbook_url=_first_url(*(annotations.get(k) for k in _RUNBOOK_KEYS)),
        source_url=_first_url(*(details.get(k) for k in source_keys)),
        urgency=urgency if isinstance(urgency, str) else None,
    )


def _pagerduty(details: Mapping[str, Any]) -> AlertSummary:
    custom = _strings(details.get("custom_details"))
    if not custom and isinstance(details.get("custom_details"), str):
        custom = {"details": details["custom_details"]}
    links = [
        (str(link.get("text") or ""), link.get("href"))
        for link in details.get("links") or []
        if isinstance(link, Mapping)
    ]
    runbook = _first_url(
        *(custom.get(k) for k in _RUNBOOK_KEYS), *(href for text, href in links if "runbook" in text.lower())
    )
    pairs = [(k, details.get(k)) for k in ("source", "component", "group", "class")]
    pairs += [(k, v) for k, v in custom.items() if k not in _RUNBOOK_KEYS and k != "urgency"]
    urgency = custom.get("urgency")
    return AlertSummary(
        details=bound_details(pairs),
        runbook_url=runbook,
        source_url=_first_url(details.get("client_url"), *(href for _, href in links if safe_url(href) != runbook)),
        urgency=urgency if isinstance(urgency, str) else None,
    )
