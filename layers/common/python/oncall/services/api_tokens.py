"""API tokens and service accounts: minting, listing, revoking, and authenticating a request that carries a token
(docs/architecture.md, "API tokens").

A warm worker remembers a token it has verified for ``api_token_cache_seconds`` (10 s by default): automation calling
many times a second then costs no read at all, and a revocation, a disabled owner or a deleted service account is
honoured within that bound. With the cache at 0 every request reads, once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from oncall.domain.api_tokens import (
    ApiToken,
    check_expiry,
    check_scopes,
    check_token_name,
    compose,
    hash_secret,
    parse,
    secret_matches,
)
from oncall.domain.errors import NotFound, Unauthenticated
from oncall.domain.teams import Access, Power, TeamRole
from oncall.domain.users import Role, User, UserKind, check_display_name
from oncall.observability import log
from oncall.services.audit_ports import NO_AUDIT, Recorder
from oncall.services.auth import Principal
from oncall.services.identity_ports import ApiTokenStore, UserStore
from oncall.services.users import new_user_id

Clock = Callable[[], datetime]
#: tokens a warm worker remembers at once
CACHE_ENTRIES = 1024


@dataclass(frozen=True)
class Minted:
    token: ApiToken
    #: the whole bearer string: shown once, never stored
    secret: str


@dataclass(frozen=True)
class _Verified:
    read_at: datetime
    user: User
    token: ApiToken


def _invalid() -> Unauthenticated:
    return Unauthenticated("invalid token", reason="invalid")


class ApiTokenService:
    def __init__(
        self,
        tokens: ApiTokenStore,
        users: UserStore,
        clock: Clock,
        *,
        cache_seconds: float = 10.0,
        audit: Recorder = NO_AUDIT,
        ids: Callable[[], str] = new_user_id,
    ) -> None:
        self._tokens = tokens
        self._users = users
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._audit = audit
        self._ids = ids
        self._cache: OrderedDict[str, _Verified] = OrderedDict()

    # -- whose tokens may the actor manage --------------------------------------------------------------------------

    def _owner(self, actor: User, owner_id: str) -> User:
        """The owner whose tokens ``actor`` manages: themself; a service account of a team they manage; anyone, for
        an admin. Someone else's personal tokens are not the actor's to see (404, like a missing person)."""
        owner = self._users.get(owner_id)
        if owner is None or not owner.active:
            raise NotFound("user", owner_id)
        if actor.id == owner.id or actor.role is Role.ADMIN:
            return owner
        if owner.kind is UserKind.SERVICE:
            team = next(iter(owner.teams), None)
            Access.of(actor).require(team, Power.MANAGE, "service account", owner.id)
            return owner
        raise NotFound("user", owner_id)

    def create(
        self, actor: User, owner_id: str, name: str, scopes: list[str], expires_at: datetime | None = None
    ) -> Minted:
        now = self._clock()
        owner = self._owner(actor, owner_id)
        token = ApiToken(
            id=self._ids(),
            owner_id=owner.id,
            name=check_token_name(name),
            scopes=check_scopes(scopes),
            created_at=now,
            created_by=actor.id,
            expires_at=check_expiry(expires_at, now),
            owner_epoch=owner.api_token_epoch,
        )
        secret = secrets.token_urlsafe(32)
        with self._audit(actor.id, "api_token.created", token.id, None, _audited(token)):
            self._tokens.create(token, hash_secret(secret))
        return Minted(token, compose(owner.id, token.id, secret))

    def tokens(self, actor: User, owner_id: str) -> list[ApiToken]:
        owner = self._owner(actor, owner_id)
        return sorted(self._tokens.of_owner(owner.id), key=lambda t: t.created_at)

    def revoke(self, actor: User, owner_id: str, token_id: str) -> None:
        owner = self._owner(actor, owner_id)
        token = next((t for t in self._tokens.of_owner(owner.id) if t.id == token_id), None)
        if token is None:
            raise NotFound("api_token", token_id)
        with self._audit(actor.id, "api_token.revoked", token_id, _audited(token), None):
            self._tokens.revoke(owner.id, token_id)

    # -- authentication ----------------------------------------------------------------------------------------------

    def authenticate(self, bearer: str) -> Principal:
        """The owner and the token a request's bearer string names: one read, or none within the cache bound."""
        now = self._clock()
        presented = parse(bearer)
        if presented is None:
            raise _invalid()
        key = hashlib.sha256(bearer.encode()).hexdigest()  # the cache never holds a secret in the clear
        verified = self._cache.get(key)
        if verified is None or not 0 <= (now - verified.read_at).total_seconds() < self._cache_seconds:
            self._cache.pop(key, None)
            user, token, stored_hash = self._tokens.read(presented.owner_id, presented.token_id)
            matches = secret_matches(presented.secret, stored_hash or "0" * 64)
            if token is None or not matches or user is None or not user.active:
                raise _invalid()
            if token.owner_epoch != user.api_token_epoch:
                raise _invalid()
            verified = _Verified(now, user, token)
            if self._cache_seconds > 0:
                self._cache[key] = verified
                while len(self._cache) > CACHE_ENTRIES:
                    self._cache.popitem(last=False)
            if token.touch_due(now):
                self._touch(token, now)
        if verified.token.expired(now):
            raise Unauthenticated("this API token has expired", reason="expired")
        return Principal(user=verified.user, claims=None, token=verified.token)

    def _touch(self, token: ApiToken, now: datetime) -> None:
        try:
            self._tokens.touch(token.owner_id, token.id, now)
        except Exception:
            # last use is for people; a request is never refused because it could not be written down
            log.warning("could not record the use of API token %s", token.id, exc_info=True)

    # -- service accounts --------------------------------------------------------------------------------------------

    def create_service_account(self, actor: User, team_id: str, name: str, team_role: TeamRole) -> User:
        Access.of(actor).require_team(team_id, Power.MANAGE)
        now = self._clock()
        account_id = self._ids()
        account = User(
            id=account_id,
            username=f"sa-{account_id}"[:64].lower(),
            role=Role.RESPONDER,
            display_name=check_display_name(name),
            created_at=now,
            updated_at=now,
            reminder_offsets_minutes=(),
            teams={team_id: team_role.value},
            kind=UserKind.SERVICE,
        )
        with self._audit(actor.id, "service_account.created", account.id, None, _audited_account(account)):
            self._users.create(account)
        return account

    def service_accounts(self, actor: User, team_id: str | None = None) -> list[User]:
        scope = Access.of(actor).scope(team_id)
        accounts = self._tokens.service_accounts()
        return [a for a in accounts if scope is None or set(a.teams) & scope]

    def service_account(self, actor: User, account_id: str) -> User:
        account = self._users.get(account_id)
        if account is None or not account.active or account.kind is not UserKind.SERVICE:
            raise NotFound("service account", account_id)
        Access.of(actor).require(next(iter(account.teams), None), Power.READ, "service account", account_id)
        return account

    def delete_service_account(self, actor: User, account_id: str) -> None:
        """The account and every token of it stop at once (the tokens name an owner that is gone)."""
        account = self.service_account(actor, account_id)
        Access.of(actor).require(next(iter(account.teams), None), Power.MANAGE, "service account", account_id)
        with self._audit(actor.id, "service_account.deleted", account_id, _audited_account(account), None):
            self._users.delete(account, self._clock())


def _audited(token: ApiToken) -> dict[str, object]:
    return {
        "owner_id": token.owner_id,
        "name": token.name,
        "scopes": list(token.scopes),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def _audited_account(account: User) -> dict[str, object]:
    return {"name": account.display_name, "teams": dict(account.teams)}
