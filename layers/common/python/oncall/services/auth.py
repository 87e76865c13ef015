"""Login, token refresh with rotation and reuse detection, logout, password change, per-request authentication.

Timing and answers must not reveal which usernames exist: an unknown user, a deleted one and a wrong password all
run one KDF verification (against a dummy hash when there is no real one) and get the same ``invalid_credentials``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from oncall.domain.api_tokens import ApiToken
from oncall.domain.errors import Forbidden, InvalidInput, RateLimited, Unauthenticated
from oncall.domain.passwords import check_password
from oncall.domain.tokens import (
    Claims,
    ReplaySuccessor,
    Rotate,
    TokenKind,
    TokenPair,
    decide_refresh,
)
from oncall.domain.users import User, normalize_username, prune_revoked
from oncall.services.identity_ports import LoginCounters, PasswordHasher, SessionStore, TokenCodec, UserStore
from oncall.settings import AuthSettings

Clock = Callable[[], datetime]

#: clock difference tolerated between the Lambda that minted a token and the one verifying it
LIFETIME_SKEW_SECONDS = 60


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request: the stored user as read for this request, and what authenticated
    them: a session's access-token claims, or an API token (``oncall.domain.api_tokens``)."""

    user: User
    claims: Claims | None
    token: ApiToken | None = None

    @property
    def session(self) -> Claims:
        """The session's claims; routes that need one are refused to API tokens before they run."""
        if self.claims is None:
            raise Forbidden("API tokens cannot call this route; sign in as a person", reason="session_required")
        return self.claims


def new_id() -> str:
    return secrets.token_urlsafe(16)


def _invalid_credentials() -> Unauthenticated:
    return Unauthenticated("invalid username or password", reason="invalid_credentials")


def _session_ended() -> Unauthenticated:
    return Unauthenticated("session is no longer valid; log in again", reason="invalid")


def _within_lifetime(claims: Claims, ttl_seconds: int) -> None:
    """A token lives at most ``ttl_seconds`` (plus skew) from its ``iat``, whatever its ``exp`` says: one signed with
    the right key but a far ``exp`` (a leaked key's forgery, a bug in some minting path) is not honoured. The codec
    has already refused an expired token or one issued in the future, so bounding ``exp - iat`` bounds its age."""
    if claims.exp - claims.iat > ttl_seconds + LIFETIME_SKEW_SECONDS:
        raise Unauthenticated("invalid token", reason="invalid")


class AuthService:
    def __init__(
        self,
        users: UserStore,
        sessions: SessionStore,
        counters: LoginCounters,
        hasher: PasswordHasher,
        codec: TokenCodec,
        settings: AuthSettings,
        clock: Clock,
        ids: Callable[[], str] = new_id,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._counters = counters
        self._hasher = hasher
        self._codec = codec
        self._settings = settings
        self._clock = clock
        self._ids = ids

    # -- login -----------------------------------------------------------------------------------------------------

    def login(self, username: str, password: str, source_ip: str) -> TokenPair:
        now = self._clock()
        try:
            name = normalize_username(username)
        except InvalidInput:
            name = username.strip().lower()[:64]  # cannot exist; still counted, still verified against the dummy
        allowed = {u.strip().lower() for u in self._settings.password_login_users.split(",") if u.strip()}
        if allowed and name not in allowed:
            # the same answer for every name not on the break-glass list: it says nothing about who exists
            raise Forbidden("password sign-in is off here; sign in with your identity provider", reason="sso_only")
        keys, window = self._limit_keys(name, source_ip, now)
        self._enforce_limits(keys, window, now)

        dummy = self._hasher.dummy_hash()
        user_id = self._users.id_for_username(name) if name else None
        # an unknown name still costs the user-item read a known one costs: same calls, same timing shape
        user = self._users.get(user_id or "-")
        encoded = user.password_hash if user is not None and user.active and user.password_hash else dummy
        ok = self._hasher.verify(encoded, password[:1024])
        if user is None or not user.active or encoded is dummy or not ok:
            self._counters.record_failure(keys, window, self._window_end(window))
            raise _invalid_credentials()
        if self._hasher.needs_rehash(encoded):
            self._users.rehash(user.id, encoded, self._hasher.hash(password))
        self._counters.clear(keys[0], window)
        return self._start_session(user, now)

    def _limit_keys(self, name: str, source_ip: str, now: datetime) -> tuple[list[str], int]:
        window = int(now.timestamp()) // self._settings.login_window_seconds
        return [f"LOGINFAIL#user#{name}", f"LOGINFAIL#ip#{source_ip}"], window

    def _window_end(self, window: int) -> int:
        return (window + 1) * self._settings.login_window_seconds

    def _enforce_limits(self, keys: list[str], window: int, now: datetime) -> None:
        counts = self._counters.counts(keys, window)
        limits = (self._settings.login_failures_per_user, self._settings.login_failures_per_ip)
        # keys may be the username key alone (password change), hence not strict
        if any(counts.get(key, 0) >= limit for key, limit in zip(keys, limits, strict=False)):
            retry_after = max(1, self._window_end(window) - int(now.timestamp()))
            raise RateLimited("too many failed logins; try again later", retry_after=retry_after)

    # -- tokens ----------------------------------------------------------------------------------------------------

    def start_session(self, user: User) -> TokenPair:
        """A session for a person someone else vouched for (the identity provider, ``oncall.services.sso``)."""
        return self._start_session(user, self._clock())

    def _start_session(self, user: User, now: datetime) -> TokenPair:
        sid, jti, iat = self._ids(), self._ids(), int(now.timestamp())
        family_exp = iat + self._settings.refresh_ttl_seconds
        self._sessions.start_family(sid, user.id, jti, now, family_exp)
        return self._pair(user.id, sid, user.token_version, jti, iat, family_exp)

    def _pair(self, sub: str, sid: str, ver: int, refresh_jti: str, iat: int, family_exp: int) -> TokenPair:
        """Deterministic in its inputs: re-minting a successor within the grace yields the same strings."""
        access_ttl = self._settings.access_ttl_seconds
        access = self._codec.encode(
            TokenKind.ACCESS, sub=sub, sid=sid, ver=ver, jti=refresh_jti + ".a", iat=iat, ttl=access_ttl
        )
        refresh = self._codec.encode(
            TokenKind.REFRESH, sub=sub, sid=sid, ver=ver, jti=refresh_jti, iat=iat, ttl=max(1, family_exp - iat)
        )
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=access_ttl)

    def refresh(self, refresh_token: str) -> TokenPair:
        now = self._clock()
        claims = self._codec.decode(refresh_token, TokenKind.REFRESH, now)
        _within_lifetime(claims, self._settings.refresh_ttl_seconds)
        record = self._sessions.get_token(claims.jti)
        if record is None or record.family_id != claims.sid or record.user_id != claims.sub:
            raise _session_ended()
        user = self._users.get(claims.sub)
        if (
            user is None
            or not user.active
            or user.token_version != claims.ver
            or claims.sid in user.revoked_sessions
            or self._sessions.family_revoked(claims.sid)
        ):
            raise _session_ended()
        for _ in range(3):
            decision = decide_refresh(record, now, self._settings.refresh_grace_seconds)
            if isinstance(decision, Rotate):
                new_jti, iat = self._ids(), int(now.timestamp())
                if self._sessions.rotate(record, new_jti, iat, now, claims.exp):
                    return self._pair(user.id, claims.sid, user.token_version, new_jti, iat, claims.exp)
                # a condition failed: another request rotated it just now, or the family died meanwhile
                reread = self._sessions.get_token(claims.jti)
                if reread is None or self._sessions.family_revoked(claims.sid):
                    raise _session_ended()
                record = reread
                continue
            if isinstance(decision, ReplaySuccessor):
                return self._pair(user.id, claims.sid, user.token_version, decision.jti, decision.iat, claims.exp)
            self._revoke(user, claims.sid, now)
            raise Unauthenticated("refresh token was already used; the session is revoked", reason="token_reused")
        raise _session_ended()

    def logout(self, principal: Principal) -> None:
        self._revoke(principal.user, principal.session.sid, self._clock())

    def _revoke(self, user: User, sid: str, now: datetime) -> None:
        self._sessions.revoke_family(sid, now)
        stale = set(user.revoked_sessions) - set(
            prune_revoked(user.revoked_sessions, now, self._settings.access_ttl_seconds)
        )
        self._users.revoke_session(user.id, sid, int(now.timestamp()), stale)

    def authenticate(self, access_token: str) -> Principal:
        """Verify an access token and read the user once: deleted, demoted or logged-out takes effect at once."""
        now = self._clock()
        claims = self._codec.decode(access_token, TokenKind.ACCESS, now)
        _within_lifetime(claims, self._settings.access_ttl_seconds)
        user = self._users.get(claims.sub)
        if user is None or not user.active or user.token_version != claims.ver or claims.sid in user.revoked_sessions:
            raise _session_ended()
        return Principal(user=user, claims=claims)

    # -- password --------------------------------------------------------------------------------------------------

    def change_password(self, principal: Principal, current_password: str, new_password: str) -> TokenPair:
        """Requires the current password; every other session dies (token version bump), this one gets new tokens."""
        now = self._clock()
        user = principal.user
        keys, window = self._limit_keys(user.username, f"user:{user.id}", now)
        self._enforce_limits(keys[:1], window, now)
        check_password(new_password, "new_password")
        if not user.password_hash or not self._hasher.verify(user.password_hash, current_password[:1024]):
            self._counters.record_failure(keys[:1], window, self._window_end(window))
            raise InvalidInput("current_password", "does not match your current password")
        version = self._users.set_password(user.id, self._hasher.hash(new_password), now, bump_token_version=True)
        self._sessions.revoke_family(principal.session.sid, now)
        refreshed = replace(user, token_version=version)
        return self._start_session(refreshed, now)
