"""What a page says, the same for every channel, and how each channel shows it. Pure: no I/O, no clock.

``PageContent`` is the page as data: headline, incident, service, severity, urgency, status, alert count, escalation
level, a few key/value details of the alert that opened or last joined the incident, and links (the incident in the
API, a runbook, the alert's source). It survives ``to_dict()`` → JSON → ``from_dict()`` unchanged, so a message can be
queued and sent later. The renderers:

- ``plain_text``: the text part of mail and any channel without markup. Its FIRST LINE is always the one-line
  headline (``🔴 [CRITICAL] <title>``): digests and subjects are built from it.
- ``telegram_html``: Telegram's HTML parse mode, within its 4,096-character limit.
- ``email_html``: the body of the HTML part of mail.

Everything in a page except our own words comes from people and monitoring sources (titles, service names, labels),
so it is bounded when a ``PageContent`` or ``AlertSummary`` is made (whatever made it, ``from_dict`` included) and
escaped when rendered as HTML; a link is kept only when it is an absolute http(s) URL.

``AlertSummary`` is the part of an alert a page shows, small enough to be stored on the incident whenever an alert
opens or joins it (``summarise_alert`` picks it from a normalised alert's details), so paging never reads raw alert
payloads.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import quote, urlsplit

from oncall.domain import texts

#: key/value details a page shows at most, and how long each key and value may be
DETAILS_MAX = 8
KEY_MAX = 40
VALUE_MAX = 100
#: today's page cut titles here; kept so a headline never dominates a phone screen
TITLE_MAX = 300
#: longer URLs are dropped, not cut: a cut URL leads nowhere
URL_MAX = 1024
#: Telegram's limit on a message, counted in UTF-16 code units (what Telegram counts; never fewer than characters)
TELEGRAM_MAX = 4096

HIGH_URGENCY_SEVERITIES = frozenset({"critical", "high"})
URGENCIES = frozenset({"high", "low"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MARKERS = ("🔴 ", "🟠 ")


# -- bounding ------------------------------------------------------------------------------------------------------


def one_line(raw: object, limit: int) -> str:
    """``raw`` as one line of at most ``limit`` characters (whitespace runs and control characters become a space;
    a cut ends with …)."""
    text = " ".join(_CONTROL.sub(" ", str(raw)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_url(raw: object) -> str | None:
    """``raw`` if it is an absolute http(s) URL of at most ``URL_MAX`` characters, else None (``javascript:``,
    relative paths, whitespace inside, garbage)."""
    if not isinstance(raw, str):
        return None
    url = raw.strip()
    if not url or len(url) > URL_MAX or _CONTROL.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _value(raw: object) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (dict, list, tuple)):
        raw = json.dumps(raw, separators=(",", ":"), sort_keys=True, default=str, ensure_ascii=False)
    text = one_line(raw, VALUE_MAX)
    return text or None


def bound_details(pairs: Iterable[object]) -> tuple[tuple[str, str], ...]:
    """At most ``DETAILS_MAX`` pairs, first ones first, each key ≤ ``KEY_MAX`` and value ≤ ``VALUE_MAX`` characters,
    one line each; empty ones and repeated keys are skipped."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for pair in pairs:
        if len(out) >= DETAILS_MAX:
            break
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            continue
        key = one_line(pair[0], KEY_MAX) if pair[0] is not None else ""
        value = _value(pair[1])
        if not key or value is None or key in seen:
            continue
        seen.add(key)
        out.append((key, value))
    return tuple(out)


# -- the alert part ------------------------------------------------------------------------------------------------


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


# -- the page ------------------------------------------------------------------------------------------------------


def headline(severity: str, title: str) -> str:
    """The first line of every page: ``🔴 [CRITICAL] <title>`` (🔴 for critical and high, 🟠 otherwise)."""
    marker = "🔴" if severity in HIGH_URGENCY_SEVERITIES else "🟠"
    return f"{marker} [{severity.upper()}] {one_line(title, TITLE_MAX)}"


def urgency_of(severity: str, stated: str | None = None) -> str:
    """A stated urgency wins; otherwise critical and high severities are high urgency, the rest low."""
    if stated in URGENCIES:
        return stated
    return "high" if severity in HIGH_URGENCY_SEVERITIES else "low"


def incident_link(public_url: str | None, incident_id: str) -> str | None:
    """The incident's URL in the API under the product's public base URL; None without a usable base (a page
    without a link is better than one pointing at a guessed host)."""
    base = safe_url(public_url)
    if base is None:
        return None
    return safe_url(f"{base.rstrip('/')}/incidents/{quote(incident_id, safe='')}")


@dataclass(frozen=True)
class PageContent:
    """One page as data; every field is bounded and every link is http(s) once constructed."""

    headline: str
    incident_id: str
    severity: str
    urgency: str
    status: str
    alert_count: int = 0
    escalation_level: int = 0
    service: str | None = None
    details: tuple[tuple[str, str], ...] = ()
    incident_url: str | None = None
    runbook_url: str | None = None
    source_url: str | None = None
    #: the escalation policy ran out without an acknowledgement (said instead of the level)
    exhausted: bool = False

    def __post_init__(self) -> None:
        # the headline carries a 300-character title plus its marker; the margin is for the marker
        object.__setattr__(self, "headline", one_line(self.headline, TITLE_MAX + 40) or texts.PAGE_INCIDENT)
        object.__setattr__(self, "incident_id", one_line(self.incident_id, 64))
        for name in ("severity", "urgency", "status"):
            object.__setattr__(self, name, one_line(getattr(self, name), 20))
        object.__setattr__(self, "service", (one_line(self.service, 100) or None) if self.service else None)
        object.__setattr__(self, "alert_count", max(0, int(self.alert_count)))
        object.__setattr__(self, "escalation_level", max(0, int(self.escalation_level)))
        object.__setattr__(self, "details", bound_details(self.details))
        for name in ("incident_url", "runbook_url", "source_url"):
            object.__setattr__(self, name, safe_url(getattr(self, name)))
        object.__setattr__(self, "exhausted", bool(self.exhausted))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["details"] = [list(pair) for pair in self.details]
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PageContent:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in raw.items() if k in known}
        values["details"] = bound_details(values.get("details") or ())
        return cls(**values)

    @property
    def subject(self) -> str:
        """The headline without its marker (mail subjects: an emoji there renders badly in many clients)."""
        for marker in _MARKERS:
            if self.headline.startswith(marker):
                return self.headline[len(marker) :]
        return self.headline


def compose(
    *,
    title: str,
    incident_id: str,
    severity: str,
    status: str,
    alert_count: int = 0,
    escalation_level: int = 0,
    service_name: str | None = None,
    service_runbook_url: str | None = None,
    alert: AlertSummary | None = None,
    public_url: str | None = None,
    exhausted: bool = False,
) -> PageContent:
    """The page about an incident. The alert's own runbook wins over the service's: it was written for this alert."""
    return PageContent(
        headline=headline(severity, title),
        incident_id=incident_id,
        severity=severity,
        urgency=urgency_of(severity, alert.urgency if alert else None),
        status=status,
        alert_count=alert_count,
        escalation_level=escalation_level,
        service=service_name,
        details=alert.details if alert else (),
        incident_url=incident_link(public_url, incident_id),
        runbook_url=(alert.runbook_url if alert else None) or safe_url(service_runbook_url),
        source_url=alert.source_url if alert else None,
        exhausted=exhausted,
    )


# -- renderers -----------------------------------------------------------------------------------------------------


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(content: PageContent, render: Callable[[PageContent], str], limit: int) -> str:
    """``render(content)`` within ``limit``: the least useful parts go first (details from the last, then the source
    link, the runbook link, the incident link). The bounds above keep the headline and facts alone far below 4,096
    even fully escaped, so dropping always ends in time."""
    text = render(content)
    while _units(text) > limit:
        if content.details:
            content = replace(content, details=content.details[:-1])
        elif content.source_url:
            content = replace(content, source_url=None)
        elif content.runbook_url:
            content = replace(content, runbook_url=None)
        elif content.incident_url:
            content = replace(content, incident_url=None)
        else:
            break
        text = render(content)
    return text


def _facts(content: PageContent) -> list[tuple[str, str]]:
    out = [(texts.PAGE_SERVICE, content.service)] if content.service else []
    out += [
        (texts.PAGE_SEVERITY, content.severity),
        (texts.PAGE_URGENCY, content.urgency),
        (texts.PAGE_ALERTS, str(content.alert_count)),
    ]
    if content.escalation_level and not content.exhausted:
        out.append((texts.PAGE_ESCALATION_LEVEL, str(content.escalation_level)))
    return out


def _links(content: PageContent) -> list[tuple[str, str]]:
    return [
        (label, url)
        for label, url in (
            (texts.PAGE_INCIDENT, content.incident_url),
            (texts.PAGE_RUNBOOK, content.runbook_url),
            (texts.PAGE_SOURCE, content.source_url),
        )
        if url
    ]


def _plain(content: PageContent) -> str:
    lines = [
        content.headline,
        f"{texts.PAGE_INCIDENT} {content.incident_id} · {texts.PAGE_STATUS_INLINE} {content.status}",
    ]
    if content.service:
        lines.append(f"{texts.PAGE_SERVICE}: {content.service}")
    lines.append(
        f"{texts.PAGE_SEVERITY}: {content.severity} · {texts.PAGE_URGENCY}: {content.urgency}"
        f" · {texts.PAGE_ALERTS}: {content.alert_count}"
    )
    if content.exhausted:
        lines.append(texts.EXHAUSTED_NOTICE)
    elif content.escalation_level:
        lines.append(f"{texts.PAGE_ESCALATION_LEVEL} {content.escalation_level}")
    text = "\n".join(lines)
    if content.details:
        text += "\n\n" + "\n".join(f"{k}: {v}" for k, v in content.details)
    links = _links(content)
    if links:
        text += "\n\n" + "\n".join(f"{label}: {url}" for label, url in links)
    return text


def plain_text(content: PageContent) -> str:
    """The page as plain text, at most 4,096 characters; the first line is the headline."""
    return _fit(content, _plain, TELEGRAM_MAX)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _telegram(content: PageContent) -> str:
    incident = f"{texts.PAGE_INCIDENT} <code>{_e(content.incident_id)}</code>"
    if content.incident_url:
        incident = f'<a href="{_e(content.incident_url)}">{texts.PAGE_INCIDENT} {_e(content.incident_id)}</a>'
    lines = [f"<b>{_e(content.headline)}</b>", f"{incident} · {texts.PAGE_STATUS_INLINE} <b>{_e(content.status)}</b>"]
    if content.service:
        lines.append(f"<b>{texts.PAGE_SERVICE}:</b> {_e(content.service)}")
    lines.append(
        f"<b>{texts.PAGE_SEVERITY}:</b> {_e(content.severity)} · <b>{texts.PAGE_URGENCY}:</b> {_e(content.urgency)}"
        f" · <b>{texts.PAGE_ALERTS}:</b> {content.alert_count}"
    )
    if content.exhausted:
        lines.append(f"⚠️ <b>{_e(texts.EXHAUSTED_NOTICE)}</b>")
    elif content.escalation_level:
        lines.append(f"<b>{texts.PAGE_ESCALATION_LEVEL}:</b> {content.escalation_level}")
    text = "\n".join(lines)
    if content.details:
        text += "\n\n" + "\n".join(f"{_e(k)}: <code>{_e(v)}</code>" for k, v in content.details)
    # the incident link is already on the second line
    links = [(label, url) for label, url in _links(content) if label != texts.PAGE_INCIDENT]
    if links:
        text += "\n\n" + " · ".join(f'<a href="{_e(url)}">{label}</a>' for label, url in links)
    return text


def telegram_html(content: PageContent) -> str:
    """The page in Telegram's HTML parse mode (``parse_mode: "HTML"``): only tags Telegram knows (b, code, a),
    everything else escaped, at most 4,096 UTF-16 code units."""
    return _fit(content, _telegram, TELEGRAM_MAX)


def email_html(content: PageContent) -> str:
    """The page as the body of an HTML mail part (no document shell: the mail template wraps it)."""
    color = "#b00020" if content.urgency == "high" else "#b35c00"
    incident = _e(content.incident_id)
    if content.incident_url:
        incident = f'<a href="{_e(content.incident_url)}">{incident}</a>'
    rows = [(texts.PAGE_INCIDENT, incident), (texts.PAGE_STATUS, _e(content.status))]
    rows += [(k, _e(v)) for k, v in _facts(content)]
    cell = 'style="text-align:left;padding:2px 12px 2px 0;vertical-align:top"'
    out = [
        f'<h2 style="color:{color}">{_e(content.headline)}</h2>',
        "<table>" + "".join(f"<tr><th {cell}>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>",
    ]
    if content.exhausted:
        out.append(f'<p style="color:#b00020"><strong>{_e(texts.EXHAUSTED_NOTICE)}</strong></p>')
    if content.details:
        out.append(
            f"<h3>{texts.PAGE_DETAILS}</h3><table>"
            + "".join(f"<tr><th {cell}>{_e(k)}</th><td><code>{_e(v)}</code></td></tr>" for k, v in content.details)
            + "</table>"
        )
    links = _links(content)
    if links:
        out.append("<p>" + " · ".join(f'<a href="{_e(url)}">{_e(label)}</a>' for label, url in links) + "</p>")
    return "".join(out)
