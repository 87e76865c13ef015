"""``PageContent``: one page as data, the same for every channel, and how it is composed from an incident."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import quote

from oncall.domain import texts
from oncall.domain.page_content.alert_summary import URGENCIES, AlertSummary
from oncall.domain.page_content.bounds import bound_details, one_line, safe_url

#: today's page cut titles here; kept so a headline never dominates a phone screen
TITLE_MAX = 300
HIGH_URGENCY_SEVERITIES = frozenset({"critical", "high"})

_MARKERS = ("🔴 ", "🟠 ")


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
    """The incident's page in the web console under the product's public base URL (a person follows it from Telegram
    or mail, so it opens the page with Acknowledge/Resolve, not the API's JSON); None without a usable base (a page
    without a link is better than one pointing at a guessed host)."""
    base = safe_url(public_url)
    if base is None:
        return None
    return safe_url(f"{base.rstrip('/')}/console/incidents/{quote(incident_id, safe='')}")


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
    urgency: str | None = None,
) -> PageContent:
    """The page about an incident. The alert's own runbook wins over the service's: it was written for this alert."""
    return PageContent(
        headline=headline(severity, title),
        incident_id=incident_id,
        severity=severity,
        # the incident's urgency is how it is handled (``oncall.domain.routing``); without one, what the alert said
        urgency=urgency_of(severity, urgency or (alert.urgency if alert else None)),
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
