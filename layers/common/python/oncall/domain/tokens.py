"""Tokens as values, and the refresh-rotation rule (RFC 9700 §4.14), pure: every decision takes ``now``.

A refresh token belongs to a *family* (one login). Each refresh retires the presented token and issues a successor.
A duplicate refresh of the same token inside a short grace gets the very same successor back (two browser tabs
refreshing at once must not log the user out); a retired token presented after the grace means it leaked or was
replayed, so the whole family dies, the successor with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TokenKind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True)
class Claims:
    """What a verified token says. ``sid`` is the refresh family (session); ``ver`` the user's token version."""

    kind: TokenKind
    sub: str
    sid: str
    ver: int
    jti: str
    iat: int
    exp: int


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


class RefreshState(StrEnum):
    ACTIVE = "active"
    ROTATED = "rotated"


@dataclass(frozen=True)
class RefreshRecord:
    """The stored fate of one refresh token."""

    jti: str
    family_id: str
    user_id: str
    state: RefreshState
    #: set once rotated: when, and the successor's identity so a duplicate within the grace can get it again
    rotated_at: datetime | None = None
    successor_jti: str | None = None
    successor_iat: int | None = None


@dataclass(frozen=True)
class Rotate:
    """First presentation: retire this token and mint a successor."""


@dataclass(frozen=True)
class ReplaySuccessor:
    """Duplicate within the grace: hand back the successor already minted."""

    jti: str
    iat: int


@dataclass(frozen=True)
class ReuseDetected:
    """A retired token after the grace: revoke the family."""


RefreshDecision = Rotate | ReplaySuccessor | ReuseDetected


def decide_refresh(record: RefreshRecord, now: datetime, grace_seconds: float) -> RefreshDecision:
    if record.state is RefreshState.ACTIVE:
        return Rotate()
    if (
        record.rotated_at is not None
        and record.successor_jti is not None
        and record.successor_iat is not None
        # no lower bound: a rotation stamped after our ``now`` is a concurrent request (or another Lambda's clock)
        and (now - record.rotated_at).total_seconds() <= grace_seconds
    ):
        return ReplaySuccessor(jti=record.successor_jti, iat=record.successor_iat)
    return ReuseDetected()


def is_expired(exp: int, now: datetime) -> bool:
    return now.timestamp() >= exp


def issued_in_future(iat: int, now: datetime, skew_seconds: int = 60) -> bool:
    """A token minted noticeably "later" than now was not minted by a clock we trust."""
    return iat > now.timestamp() + skew_seconds
