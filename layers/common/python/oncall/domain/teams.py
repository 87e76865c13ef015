"""Teams and the one policy deciding who may do what to a team's objects (docs/architecture.md, "Teams").

Schedules, escalation policies and services belong to one team each; an incident belongs to its service's team.
A person holds a team role in each team they are in; their global role stays: an ``admin`` does everything, a
global ``viewer`` reads every team and changes nothing. For everyone else, powers come from team roles:

=============  ======  ===  ======
team role      read    act  manage
=============  ======  ===  ======
``manager``    yes     yes  yes
``responder``  yes     yes  no
``observer``   yes     no   no
=============  ======  ===  ======

*act* is what an incident responder does (acknowledge, resolve, notes, their own shifts); *manage* changes the
team's schedules, policies, services and members. An object of a team the caller is not in answers 404, exactly as
one that does not exist (its existence is not disclosed); an action the caller's team role does not give on an
object they may see answers 403. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from oncall.domain.errors import Forbidden, InvalidInput, NotFound
from oncall.domain.names import check_name
from oncall.domain.users import Role

#: the team that everything made before teams existed belongs to, created by the first start that finds none
DEFAULT_TEAM_ID = "default"
NAME_MAX = 100
DESCRIPTION_MAX = 1000


class TeamRole(StrEnum):
    MANAGER = "manager"
    RESPONDER = "responder"
    OBSERVER = "observer"


class Power(StrEnum):
    READ = "read"
    ACT = "act"
    MANAGE = "manage"


_POWERS: dict[TeamRole, frozenset[Power]] = {
    TeamRole.MANAGER: frozenset(Power),
    TeamRole.RESPONDER: frozenset({Power.READ, Power.ACT}),
    TeamRole.OBSERVER: frozenset({Power.READ}),
}


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    description: str | None = None
    version: int = 1
    #: the Slack channel (its id) incidents of the team's services are posted to when the service names none
    slack_channel: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "slack_channel": self.slack_channel,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": self.version,
        }


#: the team role a person gets in the default team: their powers before teams existed
DEFAULT_TEAM_ROLE: dict[Role, TeamRole] = {
    Role.ADMIN: TeamRole.MANAGER,
    Role.RESPONDER: TeamRole.RESPONDER,
    Role.VIEWER: TeamRole.OBSERVER,
}


def default_team(now: datetime) -> Team:
    return Team(DEFAULT_TEAM_ID, "Default", now, now, "Everything made before teams, and everyone, to begin with")


def check_team_name(name: str) -> str:
    return check_name(name, "name", max_length=NAME_MAX)


def team_of(team_id: str | None) -> str:
    """The owning team of an object; one stored before teams existed belongs to the default team."""
    return team_id or DEFAULT_TEAM_ID


class Person(Protocol):
    """Whoever acts: an authenticated ``User`` (and anything shaped like one)."""

    @property
    def id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def teams(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Access:
    """What one person may do, team by team: built from their user item, which carries their memberships, so it
    costs no read beyond the one authentication already makes."""

    user_id: str
    role: Role
    teams: Mapping[str, TeamRole] = field(default_factory=dict)

    @classmethod
    def of(cls, person: Person) -> Access:
        return cls(person.id, Role(person.role), {team: TeamRole(role) for team, role in person.teams.items()})

    @property
    def sees_every_team(self) -> bool:
        return self.role in (Role.ADMIN, Role.VIEWER)

    def team_role(self, team_id: str | None) -> TeamRole | None:
        return self.teams.get(team_of(team_id))

    def can(self, team_id: str | None, power: Power) -> bool:
        if self.role is Role.ADMIN:
            return True
        if self.role is Role.VIEWER:
            return power is Power.READ
        held = self.team_role(team_id)
        return held is not None and power in _POWERS[held]

    def require(self, team_id: str | None, power: Power, kind: str, object_id: str) -> None:
        """Nothing if the caller has ``power`` on the object; 404 if they may not even see it, 403 otherwise."""
        if self.can(team_id, power):
            return
        if not self.can(team_id, Power.READ):
            raise NotFound(kind, object_id)
        held = self.team_role(team_id)
        raise Forbidden(
            f"your role in this team does not let you {power.value} its {kind}s",
            team_id=team_of(team_id),
            team_role=held.value if held else None,
            required=sorted(r.value for r, p in _POWERS.items() if power in p),
        )

    def require_team(self, team_id: str, power: Power) -> None:
        """For creating or moving something into ``team_id``: the caller must hold ``power`` there; a team they may
        not see is refused by field, as an unknown one would be."""
        if self.can(team_id, power):
            return
        if not self.can(team_id, Power.READ):
            raise InvalidInput("team_id", f"no team {team_id!r}")
        held = self.team_role(team_id)
        raise Forbidden(
            f"your role in team {team_id!r} does not let you {power.value} there",
            team_id=team_id,
            team_role=held.value if held else None,
        )

    def visible_teams(self) -> frozenset[str] | None:
        """The teams whose objects the caller reads; None for every team."""
        return None if self.sees_every_team else frozenset(self.teams)

    def scope(self, asked: str | None) -> frozenset[str] | None:
        """The teams a list reads: ``asked`` alone (``?team_id=``) when the caller sees it, their visible teams by
        default. A team they may not see gives an empty scope, not an error: a list does not disclose teams."""
        visible = self.visible_teams()
        if asked is not None:
            return frozenset({asked}) if visible is None or asked in visible else frozenset()
        return visible
