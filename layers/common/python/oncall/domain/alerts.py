"""Alerts: one value for every monitoring source, and the pure rules of dedup and correlation.

Every source (PagerDuty Events v2, Alertmanager, Grafana, CloudWatch alarms, ``oncall.alerts`` custom events) is
normalised into an ``Alert``. Which incident an alert belongs to is decided by a *group*:

- an alert with a dedup key (PagerDuty ``dedup_key``, Alertmanager/Grafana ``fingerprint``, the alarm ARN) joins the
  group its source names (Alertmanager/Grafana ``groupKey``; otherwise the key itself), so the two alerts of one
  Alertmanager group feed one incident, and that incident resolves when its last open alert resolves
  (``ResolvePolicy.LAST``; ``FIRST`` resolves it on the first);
- an alert without a key correlates by (service, severity) inside a window (default 5 minutes from the first alert):
  its group is ``~<severity>`` and the group's claim expires with the window.

What would open a new incident counts against the service's new-incident rate; past it, the alert joins the service's
*storm* group (``~storm``) instead: one incident that collects them all, paged once, resolving when the last of its
alerts resolves. Repeats, acknowledgements and resolves never count.

A group is claimed by ONE conditional put (``not there, or expired, or still pointing at the incident the writer
saw closed``) written in the same transaction as the incident it opens, so two identical alerts at the same instant
open one incident and the other attaches. Expiry is decided by ``expires_at`` compared with ``now``, never by whether
DynamoDB's TTL sweeper has removed the item yet (it may lag by days). Pure: ``now`` is always passed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from oncall.domain.errors import DomainError
from oncall.domain.incidents import TITLE_MAX, Severity, Source

#: raw payload kept with an alert on the timeline; an item holds 400 KB, so larger payloads are cut and flagged
RAW_MAX_BYTES = 64 * 1024
#: a keyed group's claim lives this long after the incident opened (then a new alert opens a new incident)
KEYED_CLAIM_TTL = timedelta(days=30)
CORRELATION_WINDOW = timedelta(minutes=5)


class AlertAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


class ResolvePolicy(StrEnum):
    #: the incident resolves when the last of its open alert keys resolves
    LAST = "last"
    #: the first resolve of any of its alert keys resolves it
    FIRST = "first"


class InvalidAlert(DomainError):
    """A payload that cannot become an alert; ``errors`` lists every problem found (PagerDuty's ``errors[]``)."""

    code = "invalid_event"

    def __init__(self, errors: list[str]) -> None:
        super().__init__("Event object is invalid", errors=list(errors))
        self.errors = list(errors)


#: how each source's severity words map onto ours (PagerDuty: critical|error|warning|info)
_SEVERITY_WORDS: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
    "error": Severity.HIGH,
    "high": Severity.HIGH,
    "major": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "warn": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "minor": Severity.MEDIUM,
    "info": Severity.LOW,
    "informational": Severity.LOW,
    "low": Severity.LOW,
    "none": Severity.LOW,
}

PAGERDUTY_SEVERITIES: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "error": Severity.HIGH,
    "warning": Severity.MEDIUM,
    "info": Severity.LOW,
}


def severity_of(word: object, default: Severity = Severity.HIGH) -> Severity:
    """A source's severity label in our scale; an unknown or missing label is ``default``."""
    if not isinstance(word, str):
        return default
    return _SEVERITY_WORDS.get(word.strip().lower(), default)


#: free-form source details kept beside an alert (annotations, custom_details): keys, and characters per value
DETAIL_KEYS_MAX = 50
DETAIL_CHARS_MAX = 1024


def bound_free_form(value: Any) -> Any:
    """A source's free-form object kept on the alert's timeline line and read for pages: at most
    ``DETAIL_KEYS_MAX`` keys, strings cut at ``DETAIL_CHARS_MAX``, nested objects as cut JSON text (the raw payload
    keeps them whole)."""

    def leaf(v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float)):
            return v
        if not isinstance(v, str):
            v = json.dumps(v, separators=(",", ":"), sort_keys=True, default=str, ensure_ascii=False)
        return v[:DETAIL_CHARS_MAX]

    if isinstance(value, dict):
        return {str(k)[:DETAIL_CHARS_MAX]: leaf(v) for k, v in list(value.items())[:DETAIL_KEYS_MAX]}
    return leaf(value)


#: an alert's labels (payloads are untrusted input): how many, and characters per name and per value
LABELS_MAX = 100
LABEL_NAME_MAX = 128
LABEL_VALUE_MAX = 1024
#: objects nested deeper than this become JSON text, so a hostile payload cannot make flattening recurse without end
_LABEL_DEPTH_MAX = 16


def _label_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value[:LABEL_VALUE_MAX]
    try:
        if isinstance(value, (int, float)):
            text = str(value)
        else:
            text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=str, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        # an int past Python's digit limit, keys of mixed types, absurd nesting: a value we cannot write is no label
        return None
    return text[:LABEL_VALUE_MAX]


def _label_pairs(mapping: Mapping[Any, Any], prefix: str, depth: int) -> Iterator[tuple[str, str]]:
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and depth < _LABEL_DEPTH_MAX:
            yield from _label_pairs(value, name, depth + 1)
            continue
        text = _label_value(value)
        if text is not None:
            yield name[:LABEL_NAME_MAX], text


def flat_labels(mapping: Mapping[str, Any] | None, prefix: str = "") -> dict[str, str]:
    """A source object as labels: scalars as text (``true``/``false``, numbers as written, None left out), nested
    objects under dotted names (``prefix.key.sub``), lists and the rest as compact JSON text. Bounded: at most
    ``LABELS_MAX`` labels (the first ones met), names cut at ``LABEL_NAME_MAX`` and values at ``LABEL_VALUE_MAX``
    characters; when two names meet (``{"a.b": 1, "a": {"b": 2}}``, or once cut) the first one wins."""
    labels: dict[str, str] = {}
    if not isinstance(mapping, Mapping):
        return labels
    for name, value in _label_pairs(mapping, prefix, 0):
        if name and name not in labels:
            labels[name] = value
            if len(labels) >= LABELS_MAX:
                break
    return labels


def merge_labels(*layers: Mapping[str, Any] | None) -> dict[str, str]:
    """Objects flattened by ``flat_labels`` into one label set; a later layer wins a name they share, and when
    together they pass ``LABELS_MAX`` the later layers' labels are the ones kept."""
    merged: dict[str, str] = {}
    for layer in reversed(layers):
        for name, value in flat_labels(layer).items():
            if len(merged) >= LABELS_MAX:
                return merged
            merged.setdefault(name, value)
    return merged


@dataclass(frozen=True)
class RawPayload:
    """A source payload as JSON text, at most ``RAW_MAX_BYTES`` UTF-8 bytes; ``size`` is the original size."""

    text: str
    size: int
    truncated: bool


def bound_raw(payload: Any, limit: int = RAW_MAX_BYTES) -> RawPayload:
    text = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str, ensure_ascii=False)
    data = text.encode()
    if len(data) <= limit:
        return RawPayload(text, len(data), False)
    # cut on a character boundary: a stored string must stay valid UTF-8
    return RawPayload(data[:limit].decode(errors="ignore"), len(data), True)


@dataclass(frozen=True)
class Alert:
    source: Source
    action: AlertAction
    service_id: str
    summary: str
    severity: Severity
    raw: RawPayload
    #: the source's identity of the alert (fingerprint, dedup_key, alarm ARN); None: correlate by severity
    dedup_key: str | None = None
    #: alerts of one source-side group feed one incident (Alertmanager/Grafana groupKey); None: the key itself
    group_key: str | None = None
    #: PagerDuty invents a key for a trigger without one; such an alert still correlates like a keyless one
    key_generated: bool = False
    occurred_at: datetime | None = None
    #: small source facts worth a timeline line (links, labels, truncatedAlerts)
    details: dict[str, Any] = field(default_factory=dict)
    #: flat name → text pairs from the payload: what silences (label matchers) and event rules match on, so they
    #: can match alerts of every source alike (``flat_labels`` bounds them)
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        text = " ".join(self.summary.split())
        if len(text) > TITLE_MAX:
            text = text[: TITLE_MAX - 1] + "…"
        return text or f"{self.source.value} alert"


@dataclass(frozen=True)
class Grouping:
    """Where an alert belongs: ``group`` (claim identity within the service), ``key`` (tracked as open), expiry."""

    group: str
    key: str | None
    correlated: bool
    expires_at: datetime


def grouping(alert: Alert, now: datetime, window: timedelta = CORRELATION_WINDOW) -> Grouping:
    if alert.dedup_key is None or alert.key_generated:
        return Grouping(f"~{alert.severity.value}", alert.dedup_key, True, now + window)
    group = alert.group_key or alert.dedup_key
    return Grouping(f"k:{group}", alert.dedup_key, False, now + KEYED_CLAIM_TTL)


#: the group that collects a service's new alerts over its rate: one open incident, paged once, that each such alert
#: joins (its key tracked, so its resolve is applied) instead of being refused or dropped
STORM_GROUP = "~storm"


def storm_grouping(alert: Alert, now: datetime) -> Grouping:
    """Where an alert goes when opening its own incident would pass the service's new-incident rate."""
    return Grouping(STORM_GROUP, alert.dedup_key, False, now + KEYED_CLAIM_TTL)


def claim_live(expires_at: datetime | None, now: datetime) -> bool:
    """A claim still decides the group at ``now`` (an expired one is dead even if TTL has not removed it yet)."""
    return expires_at is None or now < expires_at


def should_resolve(policy: ResolvePolicy, remaining_open: int) -> bool:
    return policy is ResolvePolicy.FIRST or remaining_open <= 0


def digest(text: str) -> str:
    """A fixed-size key part for arbitrary source text (group keys can be long and hold any character)."""
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def rate_window(now: datetime, seconds: int = 60) -> tuple[int, datetime]:
    """The fixed window ``now`` falls in (its number) and when its counter may be forgotten."""
    epoch = int(now.timestamp())
    number = epoch // seconds
    return number, datetime.fromtimestamp((number + 2) * seconds, tz=now.tzinfo)


@dataclass(frozen=True)
class Outcome:
    """What one alert did: created | attached | coalesced (into the storm incident, over the rate) | acknowledged |
    resolved | released | dropped | ignored."""

    result: str
    dedup_key: str | None
    incident_id: str | None = None
    reason: str | None = None
