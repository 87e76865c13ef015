"""What a page about an incident says and which buttons it carries, apart from when and to whom it goes (that is the
lifecycle's tasks, ``oncall.services.escalation``): the page's content and plain text, its dedup key, its buttons
before and after an acknowledgement, what it becomes once someone acted on it, and the timeline's record of each
page. The words themselves live in ``oncall.domain.texts``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from oncall.domain import texts
from oncall.domain.escalation import callback_data
from oncall.domain.incidents import Incident, TimelineEntry
from oncall.domain.page_content import PageContent, compose, headline, plain_text
from oncall.domain.services_catalog import Service
from oncall.services.incident_ports import Page, PageButton, PageResult
from oncall.services.incidents import entry

Buttons = tuple[tuple[PageButton, ...], ...]


def page_key(incident_id: str, generation: int, cycle: int, key: str) -> str:
    """The dedup key of a page: one per (incident run, level step or notice, person)."""
    return f"{incident_id}:{generation}:{cycle}:{key}"


def page_buttons(incident_id: str) -> Buttons:
    return (
        (
            PageButton(texts.ACKNOWLEDGE, callback_data("ack", incident_id)),
            PageButton(texts.RESOLVE, callback_data("res", incident_id)),
        ),
    )


def after_ack_buttons(incident_id: str) -> Buttons:
    """Once acknowledged, only Resolve still does something."""
    return ((PageButton(texts.RESOLVE, callback_data("res", incident_id)),),)


def outcome_text(
    title: str, incident_id: str, done: texts.Done, who: str, at: datetime, *, severity: str | None = None
) -> str:
    """What a page becomes once someone acted on it (the same words the Telegram button handler uses, so the second
    edit of the pressed message changes nothing). With the severity its first line is the page's own headline. Plain
    text: an edit without a parse mode cannot be refused for markup, whatever the title holds."""
    first = headline(severity, title) if severity else title
    return texts.outcome_text(first, incident_id, done, who, at)


def page_content(
    incident: Incident, service: Service | None, public_url: str | None, *, exhausted: bool
) -> PageContent:
    """What a page about ``incident`` says. The alert's facts come from the incident itself (``last_alert``: a
    bounded summary stored on the incident item when an alert opened or joined it, in the same write), never from raw
    payloads on the timeline; the incident link needs a public URL (without one the page has no link)."""
    return compose(
        title=incident.title,
        incident_id=incident.id,
        severity=incident.severity.value,
        status=incident.status.value,
        alert_count=incident.alert_count,
        escalation_level=incident.escalation_level,
        service_name=service.name if service else None,
        service_runbook_url=service.runbook_url if service else None,
        alert=incident.last_alert,
        public_url=public_url,
        exhausted=exhausted,
        urgency=incident.urgency,
    )


def page_for(incident: Incident, kind: str, key: str, content: PageContent) -> Page:
    """The page to one person; ``key`` tells this page from the incident run's others (level step or notice, and
    the person)."""
    return Page(
        kind=kind,
        key=page_key(incident.id, incident.generation, incident.cycle, key),
        text=plain_text(content),
        incident_id=incident.id,
        buttons=page_buttons(incident.id),
        content=content,
    )


def page_entry(
    incident: Incident,
    name: str,
    user_id: str,
    result: PageResult,
    context: Mapping[str, Any],
    now: datetime,
    **more: Any,
) -> TimelineEntry:
    """The timeline's record of one page to ``user_id`` (called ``name``); its ref lets an acknowledgement edit it."""
    level_no = context.get("level")
    text = texts.paged(
        name,
        level_no,
        result.status,
        result.channel if result.status == "sent" else None,
        result.detail if not result.reached else None,
    )
    return entry(
        incident.id,
        now,
        "page",
        text,
        None,
        user_id=user_id,
        level=level_no,
        round=context.get("round"),
        step=context.get("step"),
        generation=incident.generation,
        cycle=incident.cycle,
        status=result.status,
        channel=result.channel,
        ref=result.ref,
        detail=result.detail,
        **more,
    )


def fallback_page_entry(
    incident: Incident, name: str, user_id: str, result: PageResult, now: datetime
) -> TimelineEntry:
    """The timeline's record of one page of the lifecycle's fallback; its ref lets an acknowledgement edit it."""
    return entry(
        incident.id,
        now,
        "page",
        texts.fallback_paged(name, result.status, result.channel, result.detail if not result.reached else None),
        None,
        user_id=user_id,
        fallback=True,
        generation=incident.generation,
        cycle=incident.cycle,
        status=result.status,
        channel=result.channel,
        ref=result.ref,
        detail=result.detail,
    )


def nobody_on_call_entry(incident_id: str, level_no: int, round_no: int, step: int, now: datetime) -> TimelineEntry:
    """The timeline's record of a level that resolved to nobody: it escalates at once."""
    return entry(
        incident_id,
        now,
        "nobody_on_call",
        texts.nobody_on_call(level_no),
        None,
        level=level_no,
        round=round_no,
        step=step,
    )


def unreachable_entry(
    incident: Incident,
    level_no: int,
    round_no: int,
    step: int,
    results: Mapping[str, PageResult],
    name: Callable[[str], str],
    now: datetime,
) -> TimelineEntry:
    """The timeline's record of a level none of whose pages reached anyone, naming each one's reason."""
    return entry(
        incident.id,
        now,
        "nobody_reachable",
        texts.nobody_reachable(level_no, ((name(uid), r.detail or r.status) for uid, r in results.items())),
        None,
        level=level_no,
        round=round_no,
        step=step,
        reasons={uid: r.detail or r.status for uid, r in results.items()},
    )
