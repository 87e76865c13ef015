"""Services (with integration keys) and escalation policies, each owned by a team: managed by its managers (and
admins), read by its members (and admins and viewers); ``oncall.domain.teams`` decides."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from ulid import ULID

from oncall.domain.errors import Conflict, InvalidInput, NotFound
from oncall.domain.escalation import Level, Policy, TargetType, check_policy
from oncall.domain.services_catalog import (
    ROTATION_OVERLAP,
    Service,
    check_name,
    check_runbook_url,
    key_hash,
    key_valid,
    looks_like_key,
    new_integration_key,
)
from oncall.domain.slack import check_channel_id
from oncall.domain.teams import Access, Power
from oncall.domain.users import User
from oncall.services.audit_ports import NO_AUDIT, Recorder
from oncall.services.identity_ports import UserLookup
from oncall.services.incident_ports import CatalogStore
from oncall.services.teams import Teams, owning_team


def new_id() -> str:
    return str(ULID()).lower()


#: how many integration keys a warm function remembers the service of (one alert per key then costs one read less)
KEY_OWNERS_KEPT = 4096


class CatalogService:
    def __init__(
        self,
        store: CatalogStore,
        people: UserLookup,
        clock: Callable[[], datetime],
        teams: Teams | None = None,
        audit: Recorder = NO_AUDIT,
    ) -> None:
        self.audit = audit
        self.store = store
        self.people = people
        self.clock = clock
        self.teams = teams
        #: key hash → service id, as stored: a key is random and belongs to one service for ever, so what this warm
        #: function learnt stays true; whether the key still opens the service is read from the service every time
        self._key_owner: dict[str, str] = {}

    # -- escalation policies ------------------------------------------------------------------------------------------
    def _check_targets(self, actor: User, levels: list[Level]) -> None:
        """Users must be active; a team target must be a team the caller may see (an unknown one otherwise)."""
        for i, level in enumerate(levels):
            for j, target in enumerate(level.targets):
                field = f"levels[{i}].targets[{j}].id"
                if target.type is TargetType.USER:
                    user = self.people.get(target.id)
                    if user is None or not user.active:
                        raise InvalidInput(field, f"no active user {target.id!r}")
                elif target.type is TargetType.TEAM and not self._known_team(actor, target.id):
                    raise InvalidInput(field, f"no team {target.id!r}")

    def _known_team(self, actor: User, team_id: str) -> bool:
        if not Access.of(actor).can(team_id, Power.READ):
            return False
        return self.teams is None or self.teams.get(team_id) is not None

    def create_policy(
        self,
        actor: User,
        *,
        name: str,
        levels: list[Level],
        repeat: int = 0,
        ack_timeout_seconds: int | None = None,
        auto_close_seconds: int = 24 * 3600,
        description: str | None = None,
        team_id: str | None = None,
    ) -> Policy:
        team = owning_team(self.teams, actor, team_id, self.clock)
        check_policy(name, levels, repeat, ack_timeout_seconds, auto_close_seconds)
        self._check_targets(actor, levels)
        now = self.clock()
        policy = Policy(
            id=new_id(),
            name=name.strip(),
            levels=tuple(levels),
            repeat=repeat,
            ack_timeout_seconds=ack_timeout_seconds,
            auto_close_seconds=auto_close_seconds,
            created_at=now,
            updated_at=now,
            description=description,
            team_id=team,
        )
        with self.audit(actor.id, "policy.created", policy.id, None, policy.to_dict()):
            self.store.put_policy(policy)
        return policy

    def get_policy(self, policy_id: str, actor: User | None = None, power: Power = Power.READ) -> Policy:
        """The policy; with ``actor``, only if they hold ``power`` on its team (404 / 403 otherwise)."""
        policy = self.store.get_policy(policy_id)
        if policy is None:
            raise NotFound("escalation policy", policy_id)
        if actor is not None:
            Access.of(actor).require(policy.team_id, power, "escalation policy", policy_id)
        return policy

    def list_policies(
        self, actor: User, limit: int, cursor: dict[str, Any] | None, team_id: str | None = None
    ) -> tuple[list[Policy], dict[str, Any] | None]:
        scope = Access.of(actor).scope(team_id)
        return ([], None) if scope == frozenset() else self.store.list_policies(limit, cursor, scope)

    def update_policy(self, actor: User, policy_id: str, changes: dict[str, Any]) -> Policy:
        before = self.get_policy(policy_id, actor, Power.MANAGE)
        if changes.get("team_id") is not None and changes["team_id"] != before.team_id:
            changes["team_id"] = owning_team(self.teams, actor, changes["team_id"], self.clock)
        after = replace(before, **changes, version=before.version + 1, updated_at=self.clock())
        check_policy(after.name, list(after.levels), after.repeat, after.ack_timeout_seconds, after.auto_close_seconds)
        if "levels" in changes:
            self._check_targets(actor, list(after.levels))
        with self.audit(actor.id, "policy.updated", policy_id, before.to_dict(), after.to_dict()):
            self.store.update_policy(before, after)
        return after

    def delete_policy(self, actor: User, policy_id: str) -> None:
        policy = self.get_policy(policy_id, actor, Power.MANAGE)
        users = self.store.services_using(policy_id)
        if users:
            raise Conflict(
                "the policy is used by services; point them elsewhere first",
                services=[s.id for s in users],
            )
        with self.audit(actor.id, "policy.deleted", policy_id, policy.to_dict(), None):
            self.store.delete_policy(policy)

    # -- services -----------------------------------------------------------------------------------------------------
    def create_service(
        self,
        actor: User,
        *,
        name: str,
        escalation_policy_id: str,
        description: str | None = None,
        runbook_url: str | None = None,
        team_id: str | None = None,
        slack_channel: str | None = None,
    ) -> tuple[Service, str]:
        """The new service and its integration key (shown this once; only its hash is stored)."""
        team = owning_team(self.teams, actor, team_id, self.clock)
        self._usable_policy(actor, escalation_policy_id)
        now = self.clock()
        key = new_integration_key()
        service = Service(
            id=new_id(),
            name=check_name(name),
            escalation_policy_id=escalation_policy_id,
            created_at=now,
            updated_at=now,
            description=description,
            key_hash=key_hash(key),
            key_rotated_at=now,
            runbook_url=check_runbook_url(runbook_url),
            team_id=team,
            slack_channel=check_channel_id(slack_channel),
        )
        with self.audit(actor.id, "service.created", service.id, None, service.to_dict()):
            self.store.put_service(service)
        return service, key

    def _usable_policy(self, actor: User, policy_id: str) -> None:
        """A service may use a policy its manager can read (another team's shared policy included)."""
        policy = self.store.get_policy(policy_id)
        if policy is None or not Access.of(actor).can(policy.team_id, Power.READ):
            raise InvalidInput("escalation_policy_id", f"no escalation policy {policy_id!r}")

    def get_service(self, service_id: str, actor: User | None = None, power: Power = Power.READ) -> Service:
        """The service; with ``actor``, only if they hold ``power`` on its team (404 / 403 otherwise)."""
        service = self.store.get_service(service_id)
        if service is None:
            raise NotFound("service", service_id)
        if actor is not None:
            Access.of(actor).require(service.team_id, power, "service", service_id)
        return service

    def list_services(
        self, actor: User, limit: int, cursor: dict[str, Any] | None, team_id: str | None = None
    ) -> tuple[list[Service], dict[str, Any] | None]:
        scope = Access.of(actor).scope(team_id)
        return ([], None) if scope == frozenset() else self.store.list_services(limit, cursor, scope)

    def all_services(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[Service], dict[str, Any] | None]:
        """Every team's services: for the system (alert routing by a configured name), never for a person."""
        return self.store.list_services(limit, cursor)

    def team_services(self, teams: frozenset[str]) -> list[str]:
        """The ids of every service of ``teams`` (what an incident list of those teams reads, service by service)."""
        ids: list[str] = []
        cursor: dict[str, Any] | None = None
        while True:
            found, cursor = self.store.list_services(200, cursor, teams)
            ids += [s.id for s in found]
            if cursor is None:
                return ids

    def update_service(self, actor: User, service_id: str, changes: dict[str, Any]) -> Service:
        before = self.get_service(service_id, actor, Power.MANAGE)
        if changes.get("team_id") is not None and changes["team_id"] != before.team_id:
            changes["team_id"] = owning_team(self.teams, actor, changes["team_id"], self.clock)
        if "name" in changes:
            changes["name"] = check_name(changes["name"])
        if "runbook_url" in changes:
            changes["runbook_url"] = check_runbook_url(changes["runbook_url"])
        if "slack_channel" in changes:
            changes["slack_channel"] = check_channel_id(changes["slack_channel"])
        if "escalation_policy_id" in changes:
            self._usable_policy(actor, changes["escalation_policy_id"])
        after = replace(before, **changes, version=before.version + 1, updated_at=self.clock())
        with self.audit(actor.id, "service.updated", service_id, before.to_dict(), after.to_dict()):
            self.store.update_service(before, after)
        return after

    def delete_service(self, actor: User, service_id: str) -> None:
        service = self.get_service(service_id, actor, Power.MANAGE)
        with self.audit(actor.id, "service.deleted", service_id, service.to_dict(), None):
            self.store.delete_service(service)

    def rotate_key(self, actor: User, service_id: str) -> tuple[Service, str]:
        """A new key; the old one keeps working for ``ROTATION_OVERLAP`` (a key older than that stops at once)."""
        before = self.get_service(service_id, actor, Power.MANAGE)
        now = self.clock()
        key = new_integration_key()
        after = replace(
            before,
            key_hash=key_hash(key),
            previous_key_hash=before.key_hash,
            previous_key_expires_at=now + ROTATION_OVERLAP,
            key_rotated_at=now,
            updated_at=now,
            version=before.version + 1,
        )
        with self.audit(
            actor.id, "service.key_rotated", service_id, {"key_hash": before.key_hash}, {"key_hash": after.key_hash}
        ):
            self.store.rotate_key(before, after)
        return after, key

    def service_for_key(self, key: str) -> Service | None:
        """The service ``key`` opens now, or None (unknown, malformed, or a previous key past its overlap)."""
        if not looks_like_key(key):
            return None
        presented = key_hash(key)
        service_id = self._key_owner.get(presented) or self.store.service_id_for_key(presented)
        if service_id is None:
            return None
        service = self.store.get_service(service_id)
        if service is None or not key_valid(service, presented, self.clock()):
            # deleted, rotated past its overlap: forgotten, so a warm function keeps nothing it cannot use
            self._key_owner.pop(presented, None)
            return None
        if len(self._key_owner) >= KEY_OWNERS_KEPT:
            self._key_owner.clear()
        self._key_owner[presented] = service_id
        return service

    def policy_for_service(self, service_id: str) -> Policy | None:
        service = self.store.get_service(service_id)
        return self.store.get_policy(service.escalation_policy_id) if service else None
