"""User administration, self-service profile and Telegram link codes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from oncall.domain.errors import Forbidden, InvalidInput, NotFound
from oncall.domain.passwords import check_password
from oncall.domain.teams import DEFAULT_TEAM_ID, DEFAULT_TEAM_ROLE, Team, TeamRole, default_team
from oncall.domain.users import (
    DEFAULT_REMINDER_OFFSETS_MINUTES,
    Role,
    User,
    UsernameTaken,
    UserStatus,
    apply_patch,
    authorize_delete,
    authorize_link,
    authorize_patch,
    authorize_read,
    check_display_name,
    check_email,
    check_reminder_offsets,
    check_timezone,
    normalize_username,
)
from oncall.services.audit_ports import NO_AUDIT, Recorder
from oncall.services.identity_ports import BotDirectory, PasswordHasher, UserStore
from oncall.settings import AuthSettings

Clock = Callable[[], datetime]

#: what ``ensure_admin`` does with an account that already holds the username
Existing = Literal["refuse", "reset", "align"]


@dataclass(frozen=True)
class NewUser:
    username: str
    #: None: a person who signs in only through the identity provider
    password: str | None
    role: Role = Role.RESPONDER
    display_name: str | None = None
    email: str | None = None
    timezone: str = "UTC"
    reminder_offsets_minutes: tuple[int, ...] = DEFAULT_REMINDER_OFFSETS_MINUTES
    #: team id → team role; None puts the person in the default team with the powers of their role (a deployment
    #: that never made a second team needs no thought about teams)
    teams: dict[str, str] | None = None


@dataclass(frozen=True)
class LinkCode:
    code: str
    deep_link: str | None
    expires_at: datetime


@dataclass(frozen=True)
class EnsuredAdmin:
    """What ``ensure_admin`` found or did."""

    user: User
    created: bool = False
    #: the password was (re)set: every session of the account has ended
    password_set: bool = False
    #: an existing account was raised to admin
    promoted: bool = False


def hash_link_code(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def new_user_id() -> str:
    from ulid import ULID

    return str(ULID()).lower()


class DefaultTeam(Protocol):
    def create(self, team: Team) -> bool: ...


class UserService:
    def __init__(
        self,
        users: UserStore,
        hasher: PasswordHasher,
        settings: AuthSettings,
        clock: Clock,
        bot: BotDirectory | None = None,
        ids: Callable[[], str] = new_user_id,
        teams: DefaultTeam | None = None,
        audit: Recorder = NO_AUDIT,
    ) -> None:
        self._audit = audit
        self._teams = teams
        self._users = users
        self._hasher = hasher
        self._settings = settings
        self._clock = clock
        self._bot = bot
        self._ids = ids

    def create(self, actor: User, new: NewUser) -> User:
        if actor.role is not Role.ADMIN:
            raise Forbidden("only an admin creates users")
        return self.provision(new, actor)

    def provision(self, new: NewUser, actor: User | None = None) -> User:
        """Create a user with no acting principal (``ensure_admin``, and the local runner's generated first admin)."""
        now = self._clock()
        username = normalize_username(new.username)
        if new.password is not None:
            check_password(new.password)
        user = User(
            id=self._ids(),
            username=username,
            role=new.role,
            display_name=check_display_name(new.display_name or username),
            email=check_email(new.email),
            timezone=check_timezone(new.timezone),
            reminder_offsets_minutes=check_reminder_offsets(new.reminder_offsets_minutes),
            created_at=now,
            updated_at=now,
            password_hash=self._hasher.hash(new.password) if new.password is not None else None,
            teams=self._teams_of(new, now),
        )
        with self._audit(actor.id if actor else None, "user.created", user.id, None, _audited(user)):
            self._users.create(user)
        return user

    def _teams_of(self, new: NewUser, now: datetime) -> dict[str, str]:
        if self._teams is None:
            return {}
        if new.teams is not None:
            return {team: TeamRole(role).value for team, role in new.teams.items()}
        self._teams.create(default_team(now))  # the first user of a deployment meets no default team yet
        return {DEFAULT_TEAM_ID: DEFAULT_TEAM_ROLE[new.role].value}

    def ensure_admin(
        self, username: str, password: str, *, existing: Existing, role: Role = Role.ADMIN
    ) -> EnsuredAdmin:
        """Make sure ``username`` logs in with ``password``, with no acting principal: the operator's CLI
        (``make admin``) and the local runner's configured first admin. A missing account is created with ``role``.
        One that exists is, by ``existing``:

        - ``refuse``: left alone, ``UsernameTaken`` (the CLI without ``--reset``);
        - ``reset``: given the password and its sessions ended, even when the password is the same (the CLI's
          ``--reset``: an operator resetting means every session must go);
        - ``align``: the configured credentials are the truth, so the password is set only when it does not already
          work (a runner restart ends nobody's session) and the account is raised to admin.
        """
        name = normalize_username(username)
        if existing != "align":
            # an operator's password meets the policy before anything is looked up; a configured one is checked
            # when it creates the account, and otherwise taken as the runner's configuration says
            check_password(password)
        user_id = self._users.id_for_username(name)
        current = self._users.get(user_id) if user_id else None
        if current is None:
            return EnsuredAdmin(self.provision(NewUser(username=name, password=password, role=role)), created=True)
        if existing == "refuse":
            raise UsernameTaken(name)
        user, password_set, promoted = current, False, False
        if existing == "reset" or not (current.password_hash and self._hasher.verify(current.password_hash, password)):
            version = self._users.set_password(
                current.id, self._hasher.hash(password), self._clock(), bump_token_version=True
            )
            user, password_set = replace(user, token_version=version), True
        if existing == "align" and current.role is not Role.ADMIN:
            self._users.update_profile(replace(current, role=Role.ADMIN, updated_at=self._clock()), {"role"})
            user, promoted = replace(user, role=Role.ADMIN), True
        return EnsuredAdmin(user, password_set=password_set, promoted=promoted)

    def list(self, actor: User, limit: int, cursor: dict[str, Any] | None) -> tuple[list[User], dict[str, Any] | None]:
        if actor.role is not Role.ADMIN:
            raise Forbidden("only an admin lists users")
        return self._users.paginate(limit, cursor)

    def get(self, actor: User, user_id: str) -> User:
        authorize_read(actor, user_id)
        return self._present(user_id)

    def update(self, actor: User, user_id: str, changes: dict[str, Any], password: str | None = None) -> User:
        """Profile fields (self or admin), ``role`` (admin, never one's own), ``password`` (admin reset of another
        user: their sessions end). Everything is validated before anything is written, then ONE write stores it
        all: a refused field leaves the user as they were. A role change away from admin keeps an admin."""
        authorize_patch(actor, user_id, set(changes), resets_password=password is not None)
        target = self._active(user_id)
        now = self._clock()
        updated = apply_patch(target, changes, now) if changes else replace(target, updated_at=now)
        if password is not None:
            check_password(password)
        if not changes and password is None:
            return target
        password_hash = self._hasher.hash(password) if password is not None else None
        before, after = _audited(target), _audited(updated)
        if password_hash is not None:
            before["password"], after["password"] = target.password_hash, password_hash
        with self._audit(actor.id, "user.updated", user_id, before, after):
            version = self._users.update_profile(
                updated,
                changes.keys(),
                password_hash=password_hash,
                keep_an_admin="role" in changes and updated.role is not Role.ADMIN,
            )
        return replace(updated, token_version=version)

    def delete(self, actor: User, user_id: str) -> None:
        authorize_delete(actor, user_id)
        target = self._present(user_id)
        with self._audit(actor.id, "user.deleted", user_id, _audited(target), None):
            self._users.delete(target, self._clock())

    def disable(self, actor: User, user_id: str) -> User:
        """Offboarding: every session and API token of the person is refused from the next request on (the
        version bump, and the status the one read per request sees); they are paged no more. Reversible."""
        authorize_delete(actor, user_id)
        target = self._active(user_id)
        now = self._clock()
        with self._audit(actor.id, "user.disabled", user_id, {"status": target.status.value}, {"status": "disabled"}):
            self._users.set_status(target, UserStatus.DISABLED, now)
        return replace(target, status=UserStatus.DISABLED, token_version=target.token_version + 1, updated_at=now)

    def sync_role(self, user: User, role: Role) -> User:
        """Set ``user``'s global role with no person acting: the identity provider's groups say so. The last admin
        stays one (``LastAdmin``)."""
        if user.role is role:
            return user
        updated = apply_patch(user, {"role": role.value}, self._clock())
        with self._audit(None, "user.updated", user.id, _audited(user), _audited(updated)):
            version = self._users.update_profile(
                updated, ("role",), password_hash=None, keep_an_admin=role is not Role.ADMIN
            )
        return replace(updated, token_version=version)

    def discard(self, user: User) -> None:
        """Delete a person nobody acted to create (provisioned for a sign-in that lost its race)."""
        with self._audit(None, "user.deleted", user.id, _audited(user), None):
            self._users.delete(user, self._clock())

    def offboard(self, user_id: str) -> None:
        """``disable`` with no person acting: the identity provider no longer vouches for them."""
        target = self._users.get(user_id)
        if target is None or not target.active:
            return
        with self._audit(None, "user.disabled", user_id, {"status": target.status.value}, {"status": "disabled"}):
            self._users.set_status(target, UserStatus.DISABLED, self._clock())

    def enable(self, actor: User, user_id: str) -> User:
        authorize_delete(actor, user_id)
        target = self._users.get(user_id)
        if target is None or target.status is not UserStatus.DISABLED:
            raise NotFound("disabled user", user_id)
        now = self._clock()
        with self._audit(actor.id, "user.enabled", user_id, {"status": "disabled"}, {"status": "active"}):
            self._users.set_status(target, UserStatus.ACTIVE, now)
        return replace(target, status=UserStatus.ACTIVE, updated_at=now)

    def create_link_code(self, actor: User, user_id: str) -> LinkCode:
        authorize_link(actor, user_id)
        self._active(user_id)
        now = self._clock()
        code = secrets.token_urlsafe(24)  # 192 bits, [A-Za-z0-9_-]: fits Telegram's 64-char start parameter
        expires_at = now + timedelta(seconds=self._settings.link_code_ttl_seconds)
        self._users.put_link_code(hash_link_code(code), user_id, int(expires_at.timestamp()))
        bot = self._bot.bot_username() if self._bot is not None else None
        deep_link = f"https://t.me/{bot}?start={code}" if bot else None
        return LinkCode(code=code, deep_link=deep_link, expires_at=expires_at)

    def consume_link_code(self, code: str, chat_id: str, now: datetime) -> User:
        """For the bot's ``/start <code>``: link ``chat_id`` to the code's user, once."""
        if not code or len(code) > 64:
            raise InvalidInput("code", "not a link code")
        return self._users.consume_link_code(hash_link_code(code), str(chat_id), now)

    def find_by_telegram_chat(self, chat_id: str) -> User | None:
        return self._users.find_by_telegram_chat(str(chat_id))

    def any_active_admin(self) -> bool:
        return self._users.any_active_admin()

    def _present(self, user_id: str) -> User:
        """Active or disabled: an admin still sees, and may delete, a person who was offboarded."""
        user = self._users.get(user_id)
        if user is None or user.status is UserStatus.DELETED:
            raise NotFound("user", user_id)
        return user

    def _active(self, user_id: str) -> User:
        user = self._users.get(user_id)
        if user is None or not user.active:
            raise NotFound("user", user_id)
        return user


def _audited(user: User) -> dict[str, Any]:
    """What the audit log keeps of a person (no hashes, no sessions)."""
    return {
        "username": user.username,
        "role": user.role.value,
        "display_name": user.display_name,
        "email": user.email,
        "timezone": user.timezone,
        "teams": dict(user.teams),
        "status": user.status.value,
    }
