"""Teams: create, rename, delete, membership; who sees and changes what is ``oncall.domain.teams.Access``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from ulid import ULID

from oncall.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from oncall.domain.names import check_text
from oncall.domain.slack import check_channel_id
from oncall.domain.teams import (
    DEFAULT_TEAM_ID,
    DESCRIPTION_MAX,
    Access,
    Person,
    Power,
    Team,
    TeamRole,
    check_team_name,
    default_team,
)
from oncall.domain.users import Role, User
from oncall.services.audit_ports import NO_AUDIT, Recorder
from oncall.services.identity_ports import UserLookup


class TeamStore(Protocol):
    def create(self, team: Team) -> bool: ...

    def get(self, team_id: str) -> Team | None: ...

    def get_many(self, team_ids: list[str]) -> list[Team]: ...

    def list_all(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[Team], dict[str, Any] | None]: ...

    def ids(self) -> list[str]: ...

    def update(self, before: Team, after: Team) -> None: ...

    def mark_deleting(self, team: Team) -> None: ...

    def unmark_deleting(self, team_id: str) -> None: ...

    def delete(self, team_id: str, members: list[str]) -> None: ...

    def put_member(self, team_id: str, user_id: str, role: TeamRole, now: datetime) -> None: ...

    def remove_member(self, team_id: str, user_id: str) -> None: ...

    def members(self, team_id: str) -> dict[str, TeamRole]: ...


class Owned(Protocol):
    """Whether a team still owns anything (services, policies, schedules): a team is deleted empty."""

    def team_owns_anything(self, team_id: str) -> bool: ...


class Teams(Protocol):
    def get(self, team_id: str) -> Team | None: ...

    def create(self, team: Team) -> bool: ...


def owning_team(teams: Teams | None, actor: Person, team_id: str | None, clock: Callable[[], datetime]) -> str:
    """The team a new (or moved) object goes to: ``team_id``, or the default team when none is named, which the
    caller must manage there; a team they may not see is unknown to them. None when teams are not wired (a function
    that only reads)."""
    chosen = team_id or DEFAULT_TEAM_ID
    Access.of(actor).require_team(chosen, Power.MANAGE)
    if teams is None:
        return chosen
    if teams.get(chosen) is None:
        if chosen != DEFAULT_TEAM_ID:
            raise InvalidInput("team_id", f"no team {chosen!r}")
        teams.create(default_team(clock()))
    return chosen


class TeamNotEmpty(Conflict):
    code = "team_not_empty"


class TeamService:
    def __init__(
        self,
        store: TeamStore,
        people: UserLookup,
        owners: list[Owned],
        clock: Callable[[], datetime],
        audit: Recorder = NO_AUDIT,
    ) -> None:
        self.audit = audit
        self.store = store
        self.people = people
        self.owners = owners
        self.clock = clock

    def create(self, actor: User, *, name: str, description: str | None, slack_channel: str | None = None) -> Team:
        if actor.role is not Role.ADMIN:
            raise Forbidden("only an admin creates teams", required=["admin"], role=actor.role.value)
        now = self.clock()
        team = Team(
            str(ULID()).lower(),
            check_team_name(name),
            now,
            now,
            _description(description),
            slack_channel=check_channel_id(slack_channel),
        )
        with self.audit(actor.id, "team.created", team.id, None, team.to_dict(), publish=True):
            self.store.create(team)
        return team

    def get(self, actor: User, team_id: str) -> Team:
        team = self.store.get(team_id)
        if team is None or not Access.of(actor).can(team_id, Power.READ):
            raise NotFound("team", team_id)
        return team

    def listed(
        self, actor: User, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Team], dict[str, Any] | None]:
        """Every team for admins and viewers; the caller's own teams (by name) for everyone else."""
        visible = Access.of(actor).visible_teams()
        if visible is None:
            return self.store.list_all(limit, cursor)
        teams = sorted(self.store.get_many(sorted(visible)), key=lambda t: (t.name.lower(), t.id))
        after = str(cursor.get("after", "")) if cursor else ""
        page = [t for t in teams if f"{t.name.lower()}#{t.id}" > after][:limit]
        more = len(page) == limit and page[-1] is not teams[-1]
        return page, ({"after": f"{page[-1].name.lower()}#{page[-1].id}"} if more else None)

    def update(self, actor: User, team_id: str, changes: dict[str, Any]) -> Team:
        Access.of(actor).require(team_id, Power.MANAGE, "team", team_id)
        before = self.get(actor, team_id)
        after = replace(
            before,
            name=check_team_name(changes["name"]) if changes.get("name") is not None else before.name,
            description=_description(changes["description"]) if "description" in changes else before.description,
            slack_channel=(
                check_channel_id(changes["slack_channel"]) if "slack_channel" in changes else before.slack_channel
            ),
            updated_at=self.clock(),
            version=before.version + 1,
        )
        with self.audit(actor.id, "team.updated", team_id, before.to_dict(), after.to_dict(), publish=True):
            self.store.update(before, after)
        return after

    def delete(self, actor: User, team_id: str) -> None:
        """An admin's; only an empty team (it owns no service, policy or schedule), whose members are removed with
        it. The team is first marked so nothing can be put into it while it is checked."""
        if actor.role is not Role.ADMIN:
            Access.of(actor).require(team_id, Power.READ, "team", team_id)
            raise Forbidden("only an admin deletes teams", required=["admin"], role=actor.role.value)
        if team_id == DEFAULT_TEAM_ID:
            raise Conflict("the default team is where everything made before teams lives; it stays", id=team_id)
        team = self.get(actor, team_id)
        self.store.mark_deleting(team)
        if any(o.team_owns_anything(team_id) for o in self.owners):
            self.store.unmark_deleting(team_id)
            raise TeamNotEmpty("the team still owns services, policies or schedules; move or delete them first")
        members = self.store.members(team_id)
        snapshot = {**team.to_dict(), "members": {u: r.value for u, r in members.items()}}
        with self.audit(actor.id, "team.deleted", team_id, snapshot, None, publish=True):
            self.store.delete(team_id, sorted(members))

    # -- members ----------------------------------------------------------------------------------------------------
    def members(self, actor: User, team_id: str) -> list[tuple[User, TeamRole]]:
        self.get(actor, team_id)
        out = []
        for user_id, role in sorted(self.store.members(team_id).items()):
            user = self.people.get(user_id)
            if user is not None and user.active:
                out.append((user, role))
        return out

    def put_member(self, actor: User, team_id: str, user_id: str, role: TeamRole) -> tuple[User, TeamRole]:
        Access.of(actor).require(team_id, Power.MANAGE, "team", team_id)
        person = self.people.get(user_id)
        if person is None or not person.active:
            raise NotFound("user", user_id)
        change = {"member": user_id, "role": role.value}
        with self.audit(actor.id, "team.member_set", team_id, None, change, publish=True):
            self.store.put_member(team_id, user_id, role, self.clock())
        return person, role

    def remove_member(self, actor: User, team_id: str, user_id: str) -> None:
        Access.of(actor).require(team_id, Power.MANAGE, "team", team_id)
        with self.audit(actor.id, "team.member_removed", team_id, {"member": user_id}, None, publish=True):
            self.store.remove_member(team_id, user_id)


def _description(raw: str | None) -> str | None:
    return check_text(raw, "description", max_length=DESCRIPTION_MAX)
