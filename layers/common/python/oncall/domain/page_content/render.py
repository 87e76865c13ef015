"""How each channel shows a ``PageContent``: ``plain_text`` (mail's text part and any channel without markup; its
FIRST LINE is always the headline, which digests and subjects are built from), ``telegram_html`` (Telegram's HTML
parse mode, within its 4,096-character limit) and ``email_html`` (the body of mail's HTML part). Every value from
outside is escaped in HTML; the labels are ``oncall.domain.texts``."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import replace

from oncall.domain import texts
from oncall.domain.page_content.model import PageContent

#: Telegram's limit on a message, counted in UTF-16 code units (what Telegram counts; never fewer than characters)
TELEGRAM_MAX = 4096


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(content: PageContent, render: Callable[[PageContent], str], limit: int) -> str:
    """``render(content)`` within ``limit``: the least useful parts go first (details from the last, then the source
    link, the runbook link, the incident link). What ``bounds`` allows keeps the headline and facts alone far below
    4,096 even fully escaped, so dropping always ends in time."""
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
