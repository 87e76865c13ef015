"""Single sign-on: begin a sign-in at the identity provider, and finish it into the product's own token pair
(docs/architecture.md, "Single sign-on"; the decisions are ``oncall.domain.oidc``).

After the provider, a person is the one linked to the provider's subject; at a first sign-in, the one invited under
the same email (an admin created them), or, with just-in-time provisioning, a new person with the role and teams the
groups claim maps to. A person the provider no longer puts in any mapped group (when groups are required) is disabled
on the spot: their sessions and API tokens end, as offboarding does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from oncall.domain.errors import DomainError
from oncall.domain.oidc import (
    Identity,
    Policy,
    Provisioning,
    SignInRefused,
    Started,
    begin,
    check_domain,
    expires,
    identity_of,
    in_a_mapped_group,
    mapped_role,
    mapped_teams,
    nonce_matches,
    username_candidates,
)
from oncall.domain.tokens import TokenPair
from oncall.domain.users import User, UserKind, UsernameTaken, UserStatus
from oncall.observability import log
from oncall.services.auth import AuthService
from oncall.services.users import NewUser, UserService

Clock = Callable[[], datetime]


class Provider(Protocol):
    def authorization_url(self, *, redirect_uri: str, scope: str, state: str, nonce: str, challenge: str) -> str: ...
    def exchange(self, *, code: str, redirect_uri: str, verifier: str) -> str: ...
    def verify(self, id_token: str) -> dict[str, object]: ...


class SignInStore(Protocol):
    def put_state(self, started: Started, expires_at: datetime) -> None: ...
    def take_state(self, state: str, now: datetime) -> Started | None: ...
    def linked(self, identity_key: str) -> User | None: ...
    def by_email(self, email: str) -> list[User]: ...
    def link(self, user: User, identity_key: str, subject: str, now: datetime) -> bool: ...


@dataclass(frozen=True)
class SignedIn:
    pair: TokenPair
    user: User
    return_to: str


class SignInService:
    def __init__(
        self,
        provider: Provider,
        store: SignInStore,
        users: UserService,
        auth: AuthService,
        clock: Clock,
        *,
        policy: Policy,
        redirect_uri: str,
        scope: str,
        groups_claim: str,
    ) -> None:
        self._provider = provider
        self._store = store
        self._users = users
        self._auth = auth
        self._clock = clock
        self._policy = policy
        self._redirect_uri = redirect_uri
        self._scope = scope
        self._groups_claim = groups_claim

    def begin(self, return_to: str | None) -> str:
        """The provider's URL to send the browser to; the sign-in's secrets are kept here, by the state's hash."""
        started = begin(return_to)
        url = self._provider.authorization_url(
            redirect_uri=self._redirect_uri,
            scope=self._scope,
            state=started.state,
            nonce=started.nonce,
            challenge=started.challenge,
        )
        self._store.put_state(started, expires(self._clock()))
        return url

    def complete(self, *, code: str | None, state: str | None, error: str | None) -> SignedIn:
        now = self._clock()
        started = self._store.take_state(state, now) if state else None
        if started is None:
            # an unknown, used or expired state: a forged callback, a replay, or a sign-in left too long
            raise SignInRefused("state", "this sign-in link is not valid any more; start again")
        if error:
            raise SignInRefused("provider_error", f"the identity provider did not sign you in ({error[:100]})")
        if not code:
            raise SignInRefused("no_code", "the identity provider sent no authorization code; start again")
        id_token = self._provider.exchange(code=code, redirect_uri=self._redirect_uri, verifier=started.verifier)
        claims = self._provider.verify(id_token)
        if not nonce_matches(claims, started.nonce):
            raise SignInRefused("nonce", "the sign-in could not be verified (nonce); start again")
        identity = identity_of(claims, self._groups_claim)
        check_domain(identity, self._policy)
        user = self._person(identity, now)
        return SignedIn(self._auth.start_session(user), user, started.return_to)

    def _person(self, identity: Identity, now: datetime) -> User:
        user = self._store.linked(identity.key) or self._first_sign_in(identity, now)
        if user.status is UserStatus.DELETED:
            # deleting a person is final: signing in again does not bring them back, even with provisioning on
            raise SignInRefused("deleted", "your account here was deleted; ask an administrator")
        if user.status is UserStatus.DISABLED:
            raise SignInRefused("disabled", "your account here is disabled; ask an administrator")
        role = mapped_role(identity, self._policy)
        if role is not None and role is not user.role:
            # the groups decide the role at every sign-in, as the provider's administrators expect
            try:
                user = self._users.sync_role(user, role)
            except DomainError as exc:  # the last admin stays one
                log.warning("kept a person's role against their groups: %s", exc.message)
        if not in_a_mapped_group(identity, self._policy):
            # the provider no longer vouches for this person here: offboard them, as an admin would
            try:
                self._users.offboard(user.id)
            except DomainError as exc:  # the last admin stays; the sign-in is refused all the same
                log.warning("could not disable a person the identity provider dropped: %s", exc.message)
            raise SignInRefused("not_in_group", "your identity provider account is not in a group allowed here")
        return user

    def _first_sign_in(self, identity: Identity, now: datetime) -> User:
        if not in_a_mapped_group(identity, self._policy):
            raise SignInRefused("not_in_group", "your identity provider account is not in a group allowed here")
        invited = [
            u for u in self._store.by_email(identity.email) if u.kind is UserKind.PERSON and u.external_subject is None
        ]
        if len(invited) > 1:
            raise SignInRefused("ambiguous", "several accounts here have your email; ask an administrator")
        if invited:
            person = invited[0]
        elif self._policy.provisioning is Provisioning.JIT:
            person = self._provision(identity)
        else:
            raise SignInRefused("not_invited", "you have no account here yet; ask an administrator to invite you")
        if not self._store.link(person, identity.key, f"{identity.issuer} {identity.subject}", now):
            # a racing first sign-in (two tabs) linked first: the link is the truth, and a person provisioned for
            # this attempt is nobody's, unless the racer found them by email and linked them itself
            linked = self._store.linked(identity.key)
            if not invited and (linked is None or linked.id != person.id):
                try:
                    self._users.discard(person)
                except DomainError as exc:  # left for an admin to delete; the sign-in itself goes on
                    log.warning("could not delete a person provisioned by a lost race: %s", exc.message)
            if linked is None:
                raise SignInRefused("link", "this account is linked to another sign-in; ask an administrator")
            return linked
        log.info("linked a person to the identity provider", extra={"user_id": person.id})
        return person

    def _provision(self, identity: Identity) -> User:
        role = mapped_role(identity, self._policy) or self._policy.default_role
        teams = mapped_teams(identity, self._policy)
        for username in username_candidates(identity.email):
            new = NewUser(
                username=username,
                password=None,
                role=role,
                display_name=identity.name,
                email=identity.email,
                teams=teams,
            )
            try:
                return self._users.provision(new)
            except UsernameTaken:
                continue
            except DomainError as exc:
                log.warning("could not provision a person from the identity provider: %s", exc.message)
                raise SignInRefused("provisioning", "your account could not be created; ask an administrator") from None
        raise SignInRefused("provisioning", "your account could not be created; ask an administrator")
