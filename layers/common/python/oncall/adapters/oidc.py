"""The identity provider over HTTP: discovery, the token endpoint, and ID-token verification with the provider's
published keys (docs/architecture.md, "Single sign-on").

Signatures are PyJWT's (``PyJWKClient`` fetches the JWKS, keeps it 5 minutes and fetches again when a token names a
key it does not know, which is how a provider's key rotation is followed); nothing here is hand-written crypto. The
algorithms accepted are the asymmetric ones the discovery document lists, never ``none`` or a shared-secret HMAC a
public key could be confused with. ``iss``, ``aud`` (and ``azp`` when several audiences), ``exp`` and ``iat`` are
required and checked with a minute of leeway for clocks.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from oncall.domain.oidc import SignInRefused
from oncall.observability import log

#: asymmetric algorithms only: a provider's public key must never double as an HMAC secret
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
DISCOVERY_TTL_S = 3600
LEEWAY_S = 60
TIMEOUT_S = 5.0


def _provider_down(what: str) -> SignInRefused:
    return SignInRefused("provider_unavailable", f"the identity provider could not be reached ({what}); try again")


def check_url(url: str, what: str) -> str:
    """https, or http on the loopback interface (a provider on this machine: tests, a local Keycloak)."""
    parts = urllib.parse.urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise _provider_down(f"{what} is not https")
    return url


class OidcProvider:
    def __init__(
        self, issuer: str, client_id: str, client_secret: str, *, timeout: float = TIMEOUT_S, key_cooldown: float = 30
    ) -> None:
        self.issuer = issuer.rstrip("/")
        #: the least time between two JWKS fetches caused by unknown key ids (a flood of made-up kids is not a flood
        #: of requests to the provider)
        self._key_cooldown = key_cooldown
        self.client_id = client_id
        self._secret = client_secret
        self._timeout = timeout
        self._lock = threading.Lock()
        self._discovered: tuple[float, dict[str, Any]] | None = None
        self._jwks: Any = None

    # -- discovery -------------------------------------------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            with urllib.request.urlopen(check_url(url, what), timeout=self._timeout) as response:  # noqa: S310
                body = json.loads(response.read(1 << 20))
        except (OSError, ValueError) as exc:
            log.warning("identity provider %s: %s", what, exc)
            raise _provider_down(what) from None
        if not isinstance(body, dict):
            raise _provider_down(what)
        return body

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._discovered is not None and time.monotonic() - self._discovered[0] < DISCOVERY_TTL_S:
                return self._discovered[1]
        found = self._get_json(f"{self.issuer}/.well-known/openid-configuration", "discovery")
        # the document must be the issuer's own (OpenID Connect Discovery §4.3)
        if str(found.get("issuer", "")).rstrip("/") != self.issuer:
            raise _provider_down("discovery names another issuer")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(found.get(key), str):
                raise _provider_down(f"discovery lacks {key}")
            check_url(found[key], key)
        with self._lock:
            self._discovered = (time.monotonic(), found)
            self._jwks = None
        return found

    def algorithms(self) -> list[str]:
        listed = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        return sorted(ALGORITHMS & {str(a) for a in listed}) or ["RS256"]

    # -- the flow --------------------------------------------------------------------------------------------------

    def authorization_url(self, *, redirect_uri: str, scope: str, state: str, nonce: str, challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        endpoint = str(self.metadata()["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urllib.parse.urlencode(query)}"

    def exchange(self, *, code: str, redirect_uri: str, verifier: str) -> str:
        """The ID token for ``code`` (client_secret_basic, the PKCE verifier). A code used before, expired or made
        for another client is the provider's ``invalid_grant``: refused, never retried."""
        form = urllib.parse.urlencode(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
        ).encode()
        basic = base64.b64encode(
            f"{urllib.parse.quote(self.client_id, safe='')}:{urllib.parse.quote(self._secret, safe='')}".encode()
        ).decode()
        request = urllib.request.Request(  # noqa: S310 - checked by check_url
            check_url(str(self.metadata()["token_endpoint"]), "token endpoint"),
            data=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
                "Authorization": f"Basic {basic}",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                body = json.loads(response.read(1 << 20))
        except urllib.error.HTTPError as exc:
            error = _oauth_error(exc)
            log.info("identity provider refused the code: %s", error)
            message = f"the identity provider refused this sign-in ({error}); start again"
            raise SignInRefused("code_refused", message) from None
        except (OSError, ValueError) as exc:
            log.warning("identity provider token endpoint: %s", exc)
            raise _provider_down("token endpoint") from None
        token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise SignInRefused("no_id_token", "the identity provider returned no ID token (scope 'openid')")
        return token

    def verify(self, id_token: str) -> dict[str, Any]:
        """The ID token's claims, once its signature, issuer, audience and times check out."""
        import jwt

        try:
            key = self._keys().get_signing_key_from_jwt(id_token)
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=self.algorithms(),
                audience=self.client_id,
                issuer=self.issuer,
                leeway=LEEWAY_S,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.PyJWKClientConnectionError:
            raise _provider_down("keys") from None
        except (jwt.PyJWKClientError, jwt.InvalidTokenError) as exc:
            log.info("ID token refused: %s", exc)
            raise SignInRefused("id_token_invalid", f"the sign-in could not be verified ({exc}); start again") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise SignInRefused("id_token_invalid", "the sign-in could not be verified (azp); start again")
        return claims

    def _keys(self) -> Any:
        from jwt import PyJWKClient

        jwks_uri = str(self.metadata()["jwks_uri"])
        with self._lock:
            if self._jwks is None:
                self._jwks = PyJWKClient(
                    jwks_uri, lifespan=300, timeout=self._timeout, cooldown_duration=self._key_cooldown
                )
            return self._jwks


def _oauth_error(exc: urllib.error.HTTPError) -> str:
    try:
        body: Mapping[str, Any] = json.loads(exc.read(1 << 16))
        return str(body.get("error") or exc.code)
    except (OSError, ValueError):
        return str(exc.code)
