"""``UserService.ensure_admin``, the one way the operator's CLI and the runner's bootstrap make an admin, over an
in-memory user store (the DynamoDB store's own behaviour is covered by tests/functional/test_auth_first_admin.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from oncall.domain.errors import InvalidInput
from oncall.domain.users import Role, User, UsernameTaken
from oncall.services.users import UserService
from oncall.settings import AuthSettings

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class PlainHasher:
    """Reversible on purpose: the test reads what was stored; verify calls are counted (they are Argon2 in life)."""

    parameters = "plain"

    def __init__(self) -> None:
        self.verified = 0

    def hash(self, password: str) -> str:
        return "plain:" + password

    def verify(self, encoded: str, password: str) -> bool:
        self.verified += 1
        return encoded == "plain:" + password

    def needs_rehash(self, encoded: str) -> bool:
        return False

    def dummy_hash(self) -> str:
        return "plain:"


class Users:
    """The parts of ``UserStore`` that ensure_admin and provision use."""

    def __init__(self) -> None:
        self.by_id: dict[str, User] = {}
        self.writes: list[str] = []

    def get(self, user_id: str) -> User | None:
        return self.by_id.get(user_id)

    def id_for_username(self, username: str) -> str | None:
        return next((u.id for u in self.by_id.values() if u.username == username), None)

    def create(self, user: User) -> None:
        if self.id_for_username(user.username):
            raise UsernameTaken(user.username)
        self.by_id[user.id] = user
        self.writes.append("create")

    def set_password(self, user_id: str, password_hash: str, now: datetime, *, bump_token_version: bool) -> int:
        user = self.by_id[user_id]
        version = user.token_version + (1 if bump_token_version else 0)
        self.by_id[user_id] = replace(user, password_hash=password_hash, token_version=version, updated_at=now)
        self.writes.append("password")
        return version

    def update_profile(self, user: User, fields: Iterable[str]) -> None:
        current = self.by_id[user.id]
        self.by_id[user.id] = replace(current, **{f: getattr(user, f) for f in fields})
        self.writes.append("profile:" + ",".join(sorted(fields)))

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"ensure_admin should not call UserStore.{name}")


@pytest.fixture
def users() -> Users:
    return Users()


@pytest.fixture
def service(users: Users) -> UserService:
    ids = iter(f"u{n}" for n in range(100))
    return UserService(users, PlainHasher(), AuthSettings(), lambda: NOW, ids=lambda: next(ids))


def test_a_missing_account_is_created_with_the_role_asked_for(service: UserService, users: Users) -> None:
    done = service.ensure_admin("Root", "a long passphrase", existing="align")
    assert done.created and not done.password_set and done.user.role is Role.ADMIN
    assert users.by_id[done.user.id].username == "root"
    viewer = service.ensure_admin("watcher", "another long passphrase", existing="refuse", role=Role.VIEWER)
    assert viewer.created and viewer.user.role is Role.VIEWER


def test_align_sets_a_password_only_when_it_does_not_work_and_raises_the_role(
    service: UserService, users: Users
) -> None:
    first = service.ensure_admin("ops", "first passphrase!", existing="refuse", role=Role.RESPONDER).user
    users.writes.clear()

    same = service.ensure_admin("ops", "first passphrase!", existing="align")
    assert users.writes == ["profile:role"]  # the password already works: no session ends
    assert same.promoted and not same.password_set and same.user.role is Role.ADMIN
    assert users.by_id[first.id].token_version == first.token_version

    users.writes.clear()
    changed = service.ensure_admin("ops", "second passphrase", existing="align")
    assert users.writes == ["password"] and changed.password_set and not changed.promoted
    assert users.by_id[first.id].password_hash == "plain:second passphrase"
    assert users.by_id[first.id].token_version == first.token_version + 1


def test_reset_always_sets_the_password_and_never_touches_the_role(service: UserService, users: Users) -> None:
    first = service.ensure_admin("bob", "bob's passphrase", existing="refuse", role=Role.RESPONDER).user
    users.writes.clear()
    done = service.ensure_admin("bob", "bob's passphrase", existing="reset")
    assert users.writes == ["password"] and done.password_set and not done.created and not done.promoted
    assert users.by_id[first.id].role is Role.RESPONDER
    assert users.by_id[first.id].token_version == first.token_version + 1


def test_refuse_leaves_an_existing_account_alone(service: UserService, users: Users) -> None:
    service.ensure_admin("carol", "carol's passphrase", existing="refuse")
    users.writes.clear()
    with pytest.raises(UsernameTaken):
        service.ensure_admin("Carol", "something else entirely", existing="refuse")
    assert users.writes == []


def test_an_operator_password_meets_the_policy_before_anything_is_read(service: UserService, users: Users) -> None:
    service.ensure_admin("dave", "dave's passphrase", existing="refuse")
    for existing in ("refuse", "reset"):
        with pytest.raises(InvalidInput) as err:
            service.ensure_admin("dave", "short", existing=existing)
        assert err.value.field == "password"
