"""Services (with integration keys) and escalation policies: admin-managed, read by everyone else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from ulid import ULID

from oncall.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from oncall.domain.escalation import Level, Policy, check_policy
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
from oncall.domain.users import Role, User
from oncall.services.identity_ports import UserLookup
from oncall.services.incident_ports import CatalogStore


def new_id() -> str:
    return str(ULID()).lower()


def _admin(actor: User) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("requires role admin", required=["admin"], role=actor.role.value)


class CatalogService:
    def __init__(self, store: CatalogStore, people: UserLookup, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.people = people
        self.clock = clock

    # -- escalation policies ------------------------------------------------------------------------------------------
    def _check_targets(self, levels: list[Level]) -> None:
        for i, level in enumerate(levels):
            for j, target in enumerate(level.targets):
                if target.type.value == "user":
                    user = self.people.get(target.id)
                    if user is None or not user.active:
                        raise InvalidInput(f"levels[{i}].targets[{j}].id", f"no active user {target.id!r}")

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
    ) -> Policy:
        _admin(actor)
        check_policy(name, levels, repeat, ack_timeout_seconds, auto_close_seconds)
        self._check_targets(levels)
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
        )
        self.store.put_policy(policy)
        return policy

    def get_policy(self, policy_id: str) -> Policy:
        policy = self.store.get_policy(policy_id)
        if policy is None:
            raise NotFound("escalation policy", policy_id)
        return policy

    def list_policies(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[Policy], dict[str, Any] | None]:
        return self.store.list_policies(limit, cursor)

    def update_policy(self, actor: User, policy_id: str, changes: dict[str, Any]) -> Policy:
        _admin(actor)
        before = self.get_policy(policy_id)
        after = replace(before, **changes, version=before.version + 1, updated_at=self.clock())
        check_policy(after.name, list(after.levels), after.repeat, after.ack_timeout_seconds, after.auto_close_seconds)
        if "levels" in changes:
            self._check_targets(list(after.levels))
        self.store.update_policy(before, after)
        return after

    def delete_policy(self, actor: User, policy_id: str) -> None:
        _admin(actor)
        policy = self.get_policy(policy_id)
        users = self.store.services_using(policy_id)
        if users:
            raise Conflict(
                "the policy is used by services; point them elsewhere first",
                services=[s.id for s in users],
            )
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
    ) -> tuple[Service, str]:
        """The new service and its integration key (shown this once; only its hash is stored)."""
        _admin(actor)
        if self.store.get_policy(escalation_policy_id) is None:
            raise InvalidInput("escalation_policy_id", f"no escalation policy {escalation_policy_id!r}")
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
        )
        self.store.put_service(service)
        return service, key

    def get_service(self, service_id: str) -> Service:
        service = self.store.get_service(service_id)
        if service is None:
            raise NotFound("service", service_id)
        return service

    def list_services(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[Service], dict[str, Any] | None]:
        return self.store.list_services(limit, cursor)

    def update_service(self, actor: User, service_id: str, changes: dict[str, Any]) -> Service:
        _admin(actor)
        before = self.get_service(service_id)
        if "name" in changes:
            changes["name"] = check_name(changes["name"])
        if "runbook_url" in changes:
            changes["runbook_url"] = check_runbook_url(changes["runbook_url"])
        if "escalation_policy_id" in changes and self.store.get_policy(changes["escalation_policy_id"]) is None:
            raise InvalidInput("escalation_policy_id", f"no escalation policy {changes['escalation_policy_id']!r}")
        after = replace(before, **changes, version=before.version + 1, updated_at=self.clock())
        self.store.update_service(before, after)
        return after

    def delete_service(self, actor: User, service_id: str) -> None:
        _admin(actor)
        self.store.delete_service(self.get_service(service_id))

    def rotate_key(self, actor: User, service_id: str) -> tuple[Service, str]:
        """A new key; the old one keeps working for ``ROTATION_OVERLAP`` (a key older than that stops at once)."""
        _admin(actor)
        before = self.get_service(service_id)
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
        self.store.rotate_key(before, after)
        return after, key

    def service_for_key(self, key: str) -> Service | None:
        """The service ``key`` opens now, or None (unknown, malformed, or a previous key past its overlap)."""
        if not looks_like_key(key):
            return None
        presented = key_hash(key)
        service_id = self.store.service_id_for_key(presented)
        if service_id is None:
            return None
        service = self.store.get_service(service_id)
        if service is None or not key_valid(service, presented, self.clock()):
            return None
        return service

    def policy_for_service(self, service_id: str) -> Policy | None:
        service = self.store.get_service(service_id)
        return self.store.get_policy(service.escalation_policy_id) if service else None
