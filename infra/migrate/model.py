"""The neutral account every source produces and the planner reads: what a team had in the tool it is leaving,
with the source's own ids, before anything is matched against OnCall Hub (docs/architecture.md, "Importing")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class SourceUser:
    id: str
    name: str
    email: str
    #: the source's role, already mapped to ours: "responder" or "viewer" (never admin: that is promoted by hand)
    role: str = "responder"
    timezone: str = "UTC"
    #: contact methods we cannot carry over (phone, push, ...), as "type: address" for the report
    unmapped_contacts: tuple[str, ...] = ()
    #: our username, when the source names people by it (a configuration file): matched after the email
    username: str | None = None


@dataclass(frozen=True)
class SourceTeam:
    id: str
    name: str
    description: str | None = None
    #: source user id → team role (manager, responder, observer)
    members: dict[str, str] = field(default_factory=dict)
    #: as ``SourceService.slack_channel``: set only by a source that says it
    slack_channel: str | None = None
    says_slack_channel: bool = False


@dataclass(frozen=True)
class SourceRotation:
    """One rotation rule of a schedule, already in our terms: ``start`` is a handoff of slot 0 held by
    ``participants[0]``; ``period`` daily/weekly (wall clock in ``timezone``) or hours (elapsed)."""

    id: str
    name: str
    participants: tuple[str, ...]
    start: datetime
    period: str
    hours: int | None
    timezone: str
    end: datetime | None = None


@dataclass(frozen=True)
class SourceOverride:
    id: str
    user: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class SourceSchedule:
    id: str
    name: str
    timezone: str
    team: str | None
    rotations: tuple[SourceRotation, ...]
    overrides: tuple[SourceOverride, ...] = ()
    #: what of the source schedule our model cannot express (a restriction, a shadowed layer, ...), one line each
    unexpressed: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceTarget:
    type: str  # "user", "schedule" or "team" (whoever is on call on any of its schedules)
    id: str


@dataclass(frozen=True)
class SourceLevel:
    delay_seconds: int
    targets: tuple[SourceTarget, ...]


@dataclass(frozen=True)
class SourcePolicy:
    id: str
    name: str
    levels: tuple[SourceLevel, ...]
    repeat: int
    team: str | None
    description: str | None = None
    unexpressed: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceService:
    id: str
    name: str
    policy: str
    team: str | None
    description: str | None = None
    #: the source's integrations by name and kind, for the "paste this URL there" table
    integrations: tuple[tuple[str, str], ...] = ()
    #: the Slack channel incidents are posted to; only a source that says it (``says_slack_channel``: the setup file,
    #: where null means none) sets it, so importing from a vendor never clears a channel set here
    slack_channel: str | None = None
    says_slack_channel: bool = False


@dataclass(frozen=True)
class Account:
    source: str
    users: tuple[SourceUser, ...]
    teams: tuple[SourceTeam, ...]
    schedules: tuple[SourceSchedule, ...]
    policies: tuple[SourcePolicy, ...]
    services: tuple[SourceService, ...]


@dataclass(frozen=True)
class OnCallSpan:
    """The source's answer to "who is on call on this schedule" for ``[start, end)``."""

    schedule: str
    user: str
    start: datetime
    end: datetime


class SourceError(Exception):
    """The source could not be read completely; nothing has been written. The message says what to do."""
