"""Incidents: statuses, the only legal moves, manual-title rules, MTTA/MTTR. Pure; ``now`` is always passed in.

Statuses and moves (docs/architecture.md, "Invariants")::

    triggered ──ack──► acknowledged ──resolve──► resolved ──close──► closed
        ▲  ◄──unack / ack timeout──┘                │
        ├──────────────resolve (from triggered)─────┤
        └──────────────reopen (before close)────────┘

Every move is applied by the store as a conditional write on the version read, so two racing moves cannot both win;
``transition`` decides legality from the status the caller read and raises ``IllegalTransition`` (409 with the current
status) otherwise. A reopen starts a new *generation*: the lifecycle execution of the old one ends, a new one
(``<id>-<generation>``) starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from oncall.domain.errors import Conflict, InvalidInput
from oncall.domain.names import check_text
from oncall.domain.page_content import AlertSummary


class Status(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Source(StrEnum):
    OPERATOR = "operator"
    MONITORING = "monitoring"
    PARTNER = "partner"
    API = "api"
    EVENTBRIDGE = "eventbridge"
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    PAGERDUTY_EVENTS = "pagerduty-events"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    UNACKNOWLEDGE = "unacknowledge"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    #: the lifecycle's ack timeout: the same move as an un-ack, made by the system
    ACK_TIMEOUT = "ack_timeout"
    #: the lifecycle's auto-close after the configured period
    AUTO_CLOSE = "auto_close"


#: (from, action) → to. Nothing else is legal.
MOVES: dict[tuple[Status, Action], Status] = {
    (Status.TRIGGERED, Action.ACKNOWLEDGE): Status.ACKNOWLEDGED,
    (Status.ACKNOWLEDGED, Action.UNACKNOWLEDGE): Status.TRIGGERED,
    (Status.ACKNOWLEDGED, Action.ACK_TIMEOUT): Status.TRIGGERED,
    (Status.TRIGGERED, Action.RESOLVE): Status.RESOLVED,
    (Status.ACKNOWLEDGED, Action.RESOLVE): Status.RESOLVED,
    (Status.RESOLVED, Action.CLOSE): Status.CLOSED,
    (Status.RESOLVED, Action.AUTO_CLOSE): Status.CLOSED,
    (Status.RESOLVED, Action.REOPEN): Status.TRIGGERED,
}

#: the bus event each move announces (docs/architecture.md, "How an event flows")
EVENT_OF: dict[Action, str] = {
    Action.ACKNOWLEDGE: "incident.acknowledged",
    # back to triggered without a new generation: the running execution resumes paging; ``trigger_reason`` says why
    Action.UNACKNOWLEDGE: "incident.triggered",
    Action.ACK_TIMEOUT: "incident.triggered",
    Action.RESOLVE: "incident.resolved",
    Action.CLOSE: "incident.closed",
    Action.AUTO_CLOSE: "incident.closed",
    Action.REOPEN: "incident.reopened",
}

#: statuses in which an incident is "open" (alerts attach, the lifecycle pages or waits)
OPEN: frozenset[Status] = frozenset({Status.TRIGGERED, Status.ACKNOWLEDGED})

TITLE_MIN = 5
TITLE_MAX = 1000
DESCRIPTION_MAX = 10_000
NOTE_MAX = 4000
PLACEHOLDER_TITLES: frozenset[str] = frozenset({"test", "none", "null", "n/a", "na", "tbd", "todo", "untitled"})


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, action: str, current: Status) -> None:
        super().__init__(
            f"cannot {action} an incident that is {current.value}",
            current_status=current.value,
            action=action,
            allowed=sorted(a.value for (s, a) in MOVES if s is current and a in PUBLIC_ACTIONS),
        )
        self.current = current


PUBLIC_ACTIONS: frozenset[Action] = frozenset(
    {Action.ACKNOWLEDGE, Action.UNACKNOWLEDGE, Action.RESOLVE, Action.CLOSE, Action.REOPEN}
)


def check_title(raw: str, field_name: str = "title") -> str:
    """A manual title: 5–1,000 characters after trimming, and not a placeholder (``test``, ``none``, ``null``)."""
    title = " ".join(raw.split())
    if title.lower().strip(" .!?-_*") in PLACEHOLDER_TITLES:
        raise InvalidInput(field_name, "is a placeholder; say what is wrong")
    if len(title) < TITLE_MIN:
        raise InvalidInput(field_name, f"must be at least {TITLE_MIN} characters")
    if len(title) > TITLE_MAX:
        raise InvalidInput(field_name, f"must be at most {TITLE_MAX} characters")
    return title


def check_description(raw: str | None) -> str | None:
    return check_text(raw, "description", max_length=DESCRIPTION_MAX)


def check_note(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise InvalidInput("text", "must not be empty")
    if len(text) > NOTE_MAX:
        raise InvalidInput("text", f"must be at most {NOTE_MAX} characters")
    return text


@dataclass(frozen=True)
class Incident:
    id: str
    title: str
    service_id: str
    severity: Severity
    source: Source
    status: Status
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    assignee_id: str | None = None
    created_by: str | None = None
    dedup_key: str | None = None
    alert_count: int = 0
    #: when the newest monitoring alert for this incident arrived (alerts attach without a new page)
    last_alert_at: datetime | None = None
    #: what pages show of the alert that opened or last joined the incident (bounded; kept so a page reads no payload)
    last_alert: AlertSummary | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    closed_at: datetime | None = None
    #: +1 on every stored change; the ``version`` of the event announcing it
    version: int = 1
    #: +1 on every reopen: the lifecycle execution is ``<id>-<generation>``
    generation: int = 1
    #: escalation progress of the current generation: the step last paged (-1: none yet) and whether all ran out
    escalation_step: int = -1
    escalation_level: int = 0
    exhausted: bool = False
    #: +1 each time paging starts over within a generation (un-ack, ack timeout): part of page dedup keys
    cycle: int = 0
    trigger_reason: str | None = None
    #: the callback token the lifecycle waits on (never shown to clients)
    task_token: str | None = field(default=None, repr=False)
    #: the team of its service when it opened (``oncall.domain.teams``): whose members see and act on it; None:
    #: opened before teams, the default team's
    team_id: str | None = None
    #: ``high`` pages through the escalation policy; ``low`` notifies the current on-call once and never escalates
    #: (``oncall.domain.routing``)
    urgency: str = "high"
    #: a low-urgency incident still open then is raised to high (support hours start); None: never
    raise_at: datetime | None = None

    @property
    def execution_name(self) -> str:
        return execution_name(self.id, self.generation)

    def snapshot(self) -> dict[str, Any]:
        """What clients and bus consumers see (no task token)."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "service_id": self.service_id,
            "team_id": self.team_id or "default",
            "severity": self.severity.value,
            "urgency": self.urgency,
            "source": self.source.value,
            "status": self.status.value,
            "assignee_id": self.assignee_id,
            "created_by": self.created_by,
            "dedup_key": self.dedup_key,
            "alert_count": self.alert_count,
            "last_alert_at": iso(self.last_alert_at),
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "closed_at": iso(self.closed_at),
            "generation": self.generation,
            "escalation_level": self.escalation_level,
            "exhausted": self.exhausted,
            "trigger_reason": self.trigger_reason,
            "mtta_seconds": mtta_seconds(self),
            "mttr_seconds": mttr_seconds(self),
            "version": self.version,
        }


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def execution_name(incident_id: str, generation: int) -> str:
    return f"{incident_id}-{generation}"


def transition(incident: Incident, action: Action, actor_id: str | None, now: datetime) -> Incident:
    """The incident after ``action``; ``IllegalTransition`` if the move is not legal from its status."""
    target = MOVES.get((incident.status, action))
    if target is None:
        raise IllegalTransition(action.value, incident.status)
    changes: dict[str, Any] = {"status": target, "updated_at": now, "version": incident.version + 1}
    if action is Action.ACKNOWLEDGE:
        # the first acknowledgement defines MTTA; a re-ack after an un-ack does not move it
        if incident.acknowledged_at is None:
            changes["acknowledged_at"] = now
        changes["acknowledged_by"] = actor_id
        changes["trigger_reason"] = None
    elif action in (Action.UNACKNOWLEDGE, Action.ACK_TIMEOUT):
        changes["acknowledged_by"] = None
        changes["trigger_reason"] = "unacknowledged" if action is Action.UNACKNOWLEDGE else "ack_timeout"
        changes["cycle"] = incident.cycle + 1
        # paging starts over from the first level
        changes["escalation_step"] = -1
        changes["escalation_level"] = 0
        changes["exhausted"] = False
    elif action is Action.RESOLVE:
        changes["resolved_at"] = now
        changes["resolved_by"] = actor_id
    elif action in (Action.CLOSE, Action.AUTO_CLOSE):
        changes["closed_at"] = now
    elif action is Action.REOPEN:
        changes.update(
            generation=incident.generation + 1,
            resolved_at=None,
            resolved_by=None,
            acknowledged_at=None,
            acknowledged_by=None,
            escalation_step=-1,
            escalation_level=0,
            exhausted=False,
            trigger_reason="reopened",
        )
    # every move away from a wait hands the waiting token to the caller (who sends it): the new state has none
    changes["task_token"] = None
    return replace(incident, **changes)


def mtta_seconds(incident: Incident) -> int | None:
    """Mean-time-to-acknowledge contribution: acknowledged_at − created_at, whole seconds (None if never acked)."""
    if incident.acknowledged_at is None:
        return None
    return int((incident.acknowledged_at - incident.created_at).total_seconds())


def mttr_seconds(incident: Incident) -> int | None:
    if incident.resolved_at is None:
        return None
    return int((incident.resolved_at - incident.created_at).total_seconds())


@dataclass(frozen=True)
class TimelineEntry:
    """One line of an incident's history: a transition, a page, an escalation, a note."""

    incident_id: str
    id: str
    at: datetime
    kind: str
    text: str
    actor_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "incident_id": self.incident_id,
            "at": iso(self.at),
            "kind": self.kind,
            "text": self.text,
            "actor_id": self.actor_id,
            "data": self.data,
        }


#: MTTR histogram edges in seconds: <5 min, 5-15 min, 15-60 min, 1-4 h, 4-24 h, ≥ 24 h
MTTR_EDGES: tuple[int, ...] = (300, 900, 3600, 4 * 3600, 24 * 3600)


def parse_span(raw: str, field_name: str, *, maximum_seconds: int) -> int:
    """``15m`` / ``1h`` / ``7d`` (also ``30s``, ``2w``) → seconds, bounded."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    text = raw.strip().lower()
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise InvalidInput(field_name, "a number and a unit: s, m, h, d or w (e.g. 1h, 7d)")
    seconds = int(text[:-1]) * units[text[-1]]
    if not 0 < seconds <= maximum_seconds:
        raise InvalidInput(field_name, f"must be between 1s and {maximum_seconds}s")
    return seconds
