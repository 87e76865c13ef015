"""People: roles, profile rules, and who may do what to whom. Pure; no I/O, no clock."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import cache
from typing import Any

from oncall.domain.errors import Conflict, Forbidden, InvalidInput
from oncall.domain.names import check_name


class Role(StrEnum):
    ADMIN = "admin"
    RESPONDER = "responder"
    VIEWER = "viewer"


class UserStatus(StrEnum):
    ACTIVE = "active"
    #: offboarded: cannot sign in, every session and API token is refused, nobody is paged; an admin may enable
    #: them again (``DELETED`` is for good)
    DISABLED = "disabled"
    DELETED = "deleted"


class UserKind(StrEnum):
    PERSON = "person"
    #: a team's account for an integration: no password, no sign-in, only the API tokens its team's managers mint
    SERVICE = "service"


DEFAULT_REMINDER_OFFSETS_MINUTES: tuple[int, ...] = (24 * 60, 120, 10)
MAX_REMINDER_OFFSETS = 10
DISPLAY_NAME_MAX = 128
MAX_REMINDER_OFFSET_MINUTES = 14 * 24 * 60

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
# deliberately loose: one @, something on each side, a dot in the domain; deliverability is the mailer's question
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


class UsernameTaken(Conflict):
    code = "username_taken"

    def __init__(self, username: str) -> None:
        super().__init__(f"username {username!r} is taken", field="username")


class LastAdmin(Conflict):
    """The change would leave no active admin (docs/architecture.md, "Invariants")."""

    code = "last_admin"

    def __init__(self) -> None:
        super().__init__("at least one active admin must remain; promote someone else first")


class LinkCodeInvalid(Conflict):
    """Unknown, expired or already used Telegram link code (one answer for all three)."""

    code = "link_code_invalid"


@dataclass(frozen=True)
class User:
    id: str
    username: str
    role: Role
    display_name: str
    created_at: datetime
    updated_at: datetime
    email: str | None = None
    timezone: str = "UTC"
    reminder_offsets_minutes: tuple[int, ...] = DEFAULT_REMINDER_OFFSETS_MINUTES
    status: UserStatus = UserStatus.ACTIVE
    #: bumped on password change / admin reset: every token minted before stops verifying
    token_version: int = 0
    #: raised when the person is disabled: every API token minted before names an older epoch and is dead for good,
    #: even if the person is enabled again (a password change, unlike this, leaves automation running)
    api_token_epoch: int = 0
    telegram_chat_id: str | None = None
    password_hash: str | None = field(default=None, repr=False)
    #: family ids revoked recently, with when (epoch s): their access tokens die at once instead of at expiry
    revoked_sessions: dict[str, int] = field(default_factory=dict, repr=False)
    #: team id → team role (``oncall.domain.teams``): carried on the user so the one read per request knows them
    teams: dict[str, str] = field(default_factory=dict)
    kind: UserKind = UserKind.PERSON
    #: the identity provider's ``iss`` and ``sub`` this person signs in as, once linked
    external_subject: str | None = None

    @property
    def active(self) -> bool:
        return self.status is UserStatus.ACTIVE


def normalize_username(raw: str) -> str:
    """Case- and compatibility-folded; the folded form is what is unique."""
    name = unicodedata.normalize("NFKC", raw).strip().lower()
    if not _USERNAME.match(name):
        raise InvalidInput(
            "username", "3-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def check_display_name(raw: str) -> str:
    """The rule every name follows (``oncall.domain.names``), at most 128 characters."""
    return check_name(raw, "display_name", max_length=DISPLAY_NAME_MAX)


def check_email(raw: str | None) -> str | None:
    if raw is None:
        return None
    email = raw.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput("email", "not an email address")
    return email


@cache
def _known_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def check_timezone(raw: str) -> str:
    """An IANA zone name, spelled exactly as the database spells it."""
    import zoneinfo

    zones = _known_zones()
    if zones and raw not in zones and raw != "UTC":
        raise InvalidInput("timezone", "not an IANA time zone name (e.g. Europe/Berlin)")
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("timezone", "not an IANA time zone name (e.g. Europe/Berlin)") from None
    return raw


def check_reminder_offsets(raw: list[int] | tuple[int, ...]) -> tuple[int, ...]:
    if len(raw) > MAX_REMINDER_OFFSETS:
        raise InvalidInput("reminder_offsets_minutes", f"at most {MAX_REMINDER_OFFSETS} offsets")
    for value in raw:
        if not 1 <= value <= MAX_REMINDER_OFFSET_MINUTES:
            raise InvalidInput(
                "reminder_offsets_minutes", f"each offset must be 1-{MAX_REMINDER_OFFSET_MINUTES} minutes"
            )
    return tuple(sorted(set(raw), reverse=True))


# Fields a user may change on their own profile; everything else (role, status, username) is an admin's call.
SELF_EDITABLE = frozenset({"display_name", "email", "timezone", "reminder_offsets_minutes"})
ADMIN_EDITABLE = SELF_EDITABLE | {"role"}


def authorize_read(actor: User, target_id: str) -> None:
    if actor.role is not Role.ADMIN and actor.id != target_id:
        raise Forbidden("you may only read your own profile")


def authorize_patch(actor: User, target_id: str, fields: set[str], resets_password: bool = False) -> None:
    """Self may edit their profile; admins may edit anyone's, but nobody changes their own role."""
    if "role" in fields and actor.id == target_id:
        raise Forbidden("nobody changes their own role", field="role")
    if actor.role is Role.ADMIN:
        if resets_password and actor.id == target_id:
            raise Forbidden("change your own password with your current one (POST /me/password)", field="password")
        return
    if actor.id != target_id:
        raise Forbidden("you may only change your own profile")
    forbidden = sorted(fields - SELF_EDITABLE)
    if forbidden or resets_password:
        raise Forbidden("these fields are not yours to change", fields=forbidden or ["password"])


def authorize_delete(actor: User, target_id: str) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("only an admin deletes users")
    if actor.id == target_id:
        # an admin can neither delete nor demote themselves, so at least one admin always remains
        raise Forbidden("you cannot delete yourself")


def authorize_link(actor: User, target_id: str) -> None:
    if actor.role is not Role.ADMIN and actor.id != target_id:
        raise Forbidden("you may only link your own Telegram chat")


def apply_patch(user: User, changes: dict[str, Any], now: datetime) -> User:
    """Validated copy of ``user`` with ``changes``; unknown keys are a programming error upstream (models forbid)."""
    updates: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "display_name":
            updates[key] = check_display_name(value)
        elif key == "email":
            updates[key] = check_email(value)
        elif key == "timezone":
            updates[key] = check_timezone(value)
        elif key == "reminder_offsets_minutes":
            updates[key] = check_reminder_offsets(value)
        elif key == "role":
            updates[key] = Role(value)
        else:
            raise InvalidInput(key, "unknown field")
    return replace(user, **updates, updated_at=now)


def prune_revoked(revoked: dict[str, int], now: datetime, access_ttl_seconds: int) -> dict[str, int]:
    """A revoked family only matters while an access token of it can still be alive."""
    horizon = now.timestamp() - access_ttl_seconds
    return {sid: at for sid, at in revoked.items() if at >= horizon}
