"""JWT encode/verify with pyjwt, HS256 only.

Verification pins the algorithm before pyjwt looks at the signature (``alg: none``, RS256, or an HS256 token whose
HMAC key is someone's public key all fail), requires every claim we rely on, and checks ``typ`` so an access token
cannot stand in for a refresh token or the reverse. Time claims are checked against the caller's ``now`` (not the
process clock), so expiry is testable without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import jwt

from oncall.domain.errors import Unauthenticated
from oncall.domain.tokens import Claims, TokenKind, is_expired, issued_in_future
from oncall.security.keys import KeySet

ALGORITHM = "HS256"
_REQUIRED = ("iss", "aud", "sub", "iat", "exp", "jti", "typ", "sid", "ver")


class TokenCodec:
    def __init__(self, keys: Callable[[], KeySet], issuer: str, audience: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience

    def encode(self, kind: TokenKind, *, sub: str, sid: str, ver: int, jti: str, iat: int, ttl: int) -> str:
        kid, key = self._keys().signing_key()
        payload: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": sub,
            "iat": iat,
            "exp": iat + ttl,
            "jti": jti,
            "typ": kind.value,
            "sid": sid,
            "ver": ver,
        }
        return jwt.encode(payload, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})

    def decode(self, token: str, kind: TokenKind, now: datetime) -> Claims:
        """Verified claims, or ``Unauthenticated`` with one generic message (details never help an attacker)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("malformed") from None
        if header.get("alg") != ALGORITHM:
            raise _invalid("algorithm")
        kid = header.get("kid")
        key = self._keys().verification_key(kid) if isinstance(kid, str) else None
        if key is None:
            raise _invalid("unknown key")
        try:
            payload = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": list(_REQUIRED), "verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
        except jwt.PyJWTError:
            raise _invalid("signature or claims") from None
        if payload.get("typ") != kind.value:
            raise _invalid("token type")
        exp, iat, ver = payload.get("exp"), payload.get("iat"), payload.get("ver")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, iat, ver)):
            raise _invalid("claim types")
        assert isinstance(exp, int) and isinstance(iat, int) and isinstance(ver, int)
        if is_expired(exp, now):
            raise Unauthenticated("token expired", reason="expired")
        if issued_in_future(iat, now):
            raise _invalid("issued in the future")
        sub, sid, jti = payload.get("sub"), payload.get("sid"), payload.get("jti")
        if not (isinstance(sub, str) and isinstance(sid, str) and isinstance(jti, str)):
            raise _invalid("claim types")
        return Claims(kind=kind, sub=sub, sid=sid, ver=ver, jti=jti, iat=iat, exp=exp)


def _invalid(why: str) -> Unauthenticated:
    del why  # which check failed is not the client's business; the message stays the same for all
    return Unauthenticated("invalid token", reason="invalid")
