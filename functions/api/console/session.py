"""The console's session: the API's own token pair, carried in cookies, and a CSRF token beside it.

The browser never sees a token it could leak to script: the access and refresh tokens travel in ``HttpOnly`` cookies
with the ``__Host-`` prefix (``Secure``, ``Path=/``, no ``Domain``: no subdomain can set or read them), ``SameSite=Lax``
so a link from Telegram or mail opens the console signed in while a cross-site form post arrives without them. An
expired access token is traded for a new pair with the refresh token on the next request (rotation and reuse detection
are the API's own; two tabs refreshing at once meet the refresh grace, not a revoked session).

Every state-changing form carries the CSRF token, compared in constant time with the ``__Host-och_csrf`` cookie (a
double-submit token: a cross-site page can neither read the cookie nor set a ``__Host-`` one). ``SameSite`` alone is
not relied on: it does not cover same-site subdomains or old browsers.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.shared.cookies import Cookie, SameSite

ACCESS = "__Host-och_session"
REFRESH = "__Host-och_refresh"
CSRF = "__Host-och_csrf"
#: the CSRF cookie outlives sessions: the sign-in form needs one before there is a session
CSRF_MAX_AGE = 7 * 24 * 3600


def cookies(event: dict[str, Any]) -> dict[str, str]:
    """The request's cookies (API Gateway payload 2.0 hands them over as ``cookies``; a header is read too)."""
    raw: list[str] = list(event.get("cookies") or [])
    for name, value in (event.get("headers") or {}).items():
        if str(name).lower() == "cookie":
            raw.extend(str(value).split(";"))
    out: dict[str, str] = {}
    for item in raw:
        name, sep, value = item.strip().partition("=")
        if sep and name and name not in out:
            out[name] = value.strip()
    return out


def cookie_object(name: str, value: str, max_age: int) -> Cookie:
    """Every console cookie: ``__Host-`` named, ``Path=/``, no ``Domain``, ``Secure``, ``HttpOnly``, ``Lax``."""
    return Cookie(name, value, path="/", secure=True, http_only=True, max_age=max_age, same_site=SameSite.LAX_MODE)


def cookie(name: str, value: str, max_age: int) -> str:
    return str(cookie_object(name, value, max_age))


def expired(name: str) -> str:
    return cookie(name, "", 0)


def signed_in(access: str, refresh: str, access_ttl: int, refresh_ttl: int) -> list[Cookie]:
    """What a new session sets: the token pair, and a fresh CSRF token (one planted before sign-in is worth nothing)."""
    return [
        cookie_object(ACCESS, access, access_ttl),
        cookie_object(REFRESH, refresh, refresh_ttl),
        cookie_object(CSRF, new_csrf(), CSRF_MAX_AGE),
    ]


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(cookie_value: str | None, form_value: str | None) -> bool:
    if not cookie_value or not form_value:
        return False
    return hmac.compare_digest(cookie_value.encode(), form_value.encode())


@dataclass
class Outgoing:
    """Cookies a response must set: a refreshed pair, a first CSRF token, or the session's end."""

    set_cookies: list[str] = field(default_factory=list)

    def pair(self, access: str, refresh: str, access_ttl: int, refresh_ttl: int) -> None:
        self.set_cookies += [cookie(ACCESS, access, access_ttl), cookie(REFRESH, refresh, refresh_ttl)]

    def new_session(self, access: str, refresh: str, access_ttl: int, refresh_ttl: int) -> None:
        self.set_cookies += [str(c) for c in signed_in(access, refresh, access_ttl, refresh_ttl)]

    def end(self) -> None:
        self.set_cookies += [expired(ACCESS), expired(REFRESH)]
