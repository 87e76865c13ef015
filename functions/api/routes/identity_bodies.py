"""Request and response bodies for auth, users and me. ``extra="forbid"``: an unknown field (``role`` on /me, say)
is a 422 naming it, never silently accepted (mass assignment)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from oncall.domain.errors import InvalidInput
from oncall.domain.teams import TeamRole
from oncall.domain.tokens import TokenPair
from oncall.domain.users import Role, User, UserKind, UserStatus
from oncall.services.users import LinkCode

TeamId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(Strict):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=4096)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_in: int

    @classmethod
    def of(cls, pair: TokenPair) -> TokenOut:
        return cls(access_token=pair.access_token, refresh_token=pair.refresh_token, expires_in=pair.expires_in)


Offsets = list[int]


class ProfileIn(Strict):
    display_name: str | None = Field(default=None, min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=254)
    timezone: str | None = Field(default=None, min_length=1, max_length=64, examples=["Europe/Berlin"])
    reminder_offsets_minutes: Offsets | None = Field(default=None, max_length=10, examples=[[1440, 120, 10]])


class UserCreateIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    role: Role = Role.RESPONDER
    display_name: str | None = Field(default=None, min_length=1, max_length=128)
    email: str | None = Field(default=None, max_length=254)
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    reminder_offsets_minutes: Offsets | None = Field(default=None, max_length=10)
    teams: dict[TeamId, TeamRole] | None = Field(
        default=None,
        max_length=50,
        description="team id → team role; omitted: the default team, with the powers of the global role",
    )


class UserPatchIn(ProfileIn):
    role: Role | None = None
    #: admin reset of another user's password; their sessions end
    password: str | None = Field(default=None, min_length=1, max_length=1024)


class PasswordChangeIn(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    id: str
    username: str
    display_name: str
    email: str | None
    role: Role
    timezone: str
    reminder_offsets_minutes: list[int]
    telegram_linked: bool
    #: team id → team role
    teams: dict[str, str]
    status: UserStatus
    kind: UserKind
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            role=user.role,
            timezone=user.timezone,
            reminder_offsets_minutes=list(user.reminder_offsets_minutes),
            telegram_linked=user.telegram_chat_id is not None,
            teams=dict(user.teams),
            status=user.status,
            kind=user.kind,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


class LinkCodeOut(BaseModel):
    code: str
    deep_link: str | None = Field(description="https://t.me/<bot>?start=<code>; null when no bot is configured")
    expires_at: datetime

    @classmethod
    def of(cls, link: LinkCode) -> LinkCodeOut:
        return cls(code=link.code, deep_link=link.deep_link, expires_at=link.expires_at)


def changes_of(body: ProfileIn, *, allow: frozenset[str]) -> dict[str, object]:
    """Only the fields the client sent: PATCH semantics (``email: null`` clears it, an absent field is untouched)."""
    fields = body.model_fields_set & allow
    changes = {name: getattr(body, name) for name in fields}
    for name in ("display_name", "timezone", "reminder_offsets_minutes", "role"):
        if name in changes and changes[name] is None:
            raise InvalidInput(name, "must not be null")
    return changes
