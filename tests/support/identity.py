"""Users and tokens for handler-level tests: real services, real tables (inside the ``aws`` fixture)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from oncall.domain.users import Role, User

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


@dataclass
class Session:
    user: User
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.access_token}"}


def make_user(
    role: Role | str = Role.RESPONDER,
    username: str | None = None,
    password: str = PASSWORD,
    email: str | None = None,
    teams: dict[str, str] | None = None,
) -> User:
    """A new user, in the default team with the powers of ``role`` unless ``teams`` (team id → team role) says."""
    from oncall import wiring
    from oncall.services.users import NewUser

    name = username or f"{Role(role).value}{next(_seq)}"
    new = NewUser(username=name, password=password, role=Role(role), email=email, teams=teams)
    return wiring.core.user_service().provision(new)


def login_as(
    role: Role | str = Role.RESPONDER, username: str | None = None, teams: dict[str, str] | None = None
) -> Session:
    """A fresh user of ``role`` (in ``teams``, default: the default team) and a logged-in session for it:
    ``call_api(..., headers=session.headers)``."""
    from oncall import wiring

    user = make_user(role, username, teams=teams)
    pair = wiring.core.auth_service().login(user.username, PASSWORD, "127.0.0.1")
    return Session(user=user, access_token=pair.access_token, refresh_token=pair.refresh_token)


class FakeClock:
    """A clock the test moves by hand (``wiring.override(clock=clock)``): expiry and grace without sleeping."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingHasher:
    """Wraps the real hasher and counts KDF verifications (proof of equal work, without timing)."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.verifications = 0
        self.hashes = 0

    @property
    def parameters(self) -> str:
        return self._inner.parameters  # type: ignore[attr-defined]

    def hash(self, password: str) -> str:
        self.hashes += 1
        return self._inner.hash(password)  # type: ignore[attr-defined]

    def verify(self, encoded: str, password: str) -> bool:
        self.verifications += 1
        return self._inner.verify(encoded, password)  # type: ignore[attr-defined]

    def needs_rehash(self, encoded: str) -> bool:
        return self._inner.needs_rehash(encoded)  # type: ignore[attr-defined]

    def dummy_hash(self) -> str:
        return self._inner.dummy_hash()  # type: ignore[attr-defined]
