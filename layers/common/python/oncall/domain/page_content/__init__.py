"""What a page says, the same for every channel, and how each channel shows it. Pure: no I/O, no clock.

- ``model``: ``PageContent``, the page as data (headline, incident, service, severity, urgency, status, alert count,
  escalation level, a few key/value details of the alert that opened or last joined the incident, and links: the
  incident in the API, a runbook, the alert's source), composed from an incident by ``compose``. It survives
  ``to_dict()`` → JSON → ``from_dict()`` unchanged, so a message can be queued and sent later.
- ``render``: ``plain_text`` (its FIRST LINE is always the one-line headline, ``🔴 [CRITICAL] <title>``: digests and
  subjects are built from it), ``telegram_html`` and ``email_html``.
- ``alert_summary``: ``AlertSummary``, the part of an alert a page shows, small enough to be stored on the incident
  whenever an alert opens or joins it (``summarise_alert`` picks it from a normalised alert's details), so paging
  never reads raw alert payloads.
- ``bounds``: everything in a page except our own words comes from people and monitoring sources (titles, service
  names, labels), so it is bounded when a ``PageContent`` or ``AlertSummary`` is made (whatever made it,
  ``from_dict`` included) and escaped when rendered as HTML; a link is kept only when it is an absolute http(s) URL.

The names below are the package's public surface; importers use them from here.
"""

from __future__ import annotations

from oncall.domain.page_content.alert_summary import URGENCIES, AlertSummary, summarise_alert
from oncall.domain.page_content.bounds import (
    DETAILS_MAX,
    KEY_MAX,
    URL_MAX,
    VALUE_MAX,
    bound_details,
    one_line,
    safe_url,
)
from oncall.domain.page_content.model import (
    HIGH_URGENCY_SEVERITIES,
    TITLE_MAX,
    PageContent,
    compose,
    headline,
    incident_link,
    urgency_of,
)
from oncall.domain.page_content.render import TELEGRAM_MAX, email_html, plain_text, telegram_html

__all__ = [
    "DETAILS_MAX",
    "HIGH_URGENCY_SEVERITIES",
    "KEY_MAX",
    "TELEGRAM_MAX",
    "TITLE_MAX",
    "URGENCIES",
    "URL_MAX",
    "VALUE_MAX",
    "AlertSummary",
    "PageContent",
    "bound_details",
    "compose",
    "email_html",
    "headline",
    "incident_link",
    "one_line",
    "plain_text",
    "safe_url",
    "summarise_alert",
    "telegram_html",
    "urgency_of",
]
