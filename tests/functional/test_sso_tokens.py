"""ID-token verification against a provider whose keys the test holds: a real HTTP server on 127.0.0.1 publishes the
discovery document and the JWKS, and the test signs tokens that are wrong in exactly one way each."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from oncall.adapters.oidc import OidcProvider
from oncall.domain.oidc import SignInRefused

AUDIENCE = "oncall-hub"


class Keys:
    def __init__(self) -> None:
        self.published: dict[str, Any] = {}
        self.fetches = 0

    def make(self, kid: str) -> Any:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
        self.published[kid] = {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}
        return private


@pytest.fixture
def provider() -> Iterator[tuple[str, Keys]]:
    keys = Keys()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/.well-known/openid-configuration":
                body: Any = {
                    "issuer": base,
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/jwks",
                    "id_token_signing_alg_values_supported": ["RS256", "HS256", "none"],
                }
            elif self.path == "/jwks":
                keys.fetches += 1
                body = {"keys": list(keys.published.values())}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", keys
    finally:
        server.shutdown()
        server.server_close()


def claims(issuer: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "sub": "u1", "aud": AUDIENCE, "iat": now, "exp": now + 300, "nonce": "n", **changes}


def refused(client: OidcProvider, token: str) -> str:
    with pytest.raises(SignInRefused) as caught:
        client.verify(token)
    return caught.value.reason


def test_a_good_token_verifies_and_each_single_fault_is_refused(provider: tuple[str, Keys]) -> None:
    issuer, keys = provider
    key = keys.make("k1")
    client = OidcProvider(issuer, AUDIENCE, "secret")

    def sign(body: dict[str, Any], kid: str = "k1", signer: Any = key, alg: str = "RS256") -> str:
        return jwt.encode(body, signer, algorithm=alg, headers={"kid": kid})

    assert client.verify(sign(claims(issuer)))["sub"] == "u1"
    assert refused(client, sign(claims(issuer, aud="someone-else"))) == "id_token_invalid"
    assert refused(client, sign(claims(issuer, iss="https://evil.example.com"))) == "id_token_invalid"
    assert refused(client, sign(claims(issuer, exp=int(time.time()) - 120))) == "id_token_invalid"
    for required in ("exp", "iat", "sub"):
        body = claims(issuer)
        del body[required]
        assert refused(client, sign(body)) == "id_token_invalid", required
    # several audiences: ours must be the authorised party
    assert refused(client, sign(claims(issuer, aud=[AUDIENCE, "other"], azp="other"))) == "id_token_invalid"
    assert client.verify(sign(claims(issuer, aud=[AUDIENCE, "other"], azp=AUDIENCE)))["sub"] == "u1"
    # signed by a key the provider never published
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert refused(client, sign(claims(issuer), kid="k1", signer=stranger)) == "id_token_invalid"
    assert refused(client, sign(claims(issuer), kid="unknown", signer=stranger)) == "id_token_invalid"
    # the public key as an HMAC secret, and no signature at all: the discovery document offers both, never accepted
    public_n = keys.published["k1"]["n"]
    assert refused(client, jwt.encode(claims(issuer), public_n, algorithm="HS256", headers={"kid": "k1"})) == (
        "id_token_invalid"
    )
    assert refused(client, jwt.encode(claims(issuer), None, algorithm="none", headers={"kid": "k1"})) == (
        "id_token_invalid"
    )


def test_a_rotated_key_is_fetched_when_a_token_names_it(provider: tuple[str, Keys]) -> None:
    issuer, keys = provider
    old = keys.make("2026-11")
    client = OidcProvider(issuer, AUDIENCE, "secret", key_cooldown=0)
    assert client.verify(jwt.encode(claims(issuer), old, algorithm="RS256", headers={"kid": "2026-11"}))
    fetched = keys.fetches
    new = keys.make("2026-12")  # the provider rotates: the new key is published, tokens start naming it
    token = jwt.encode(claims(issuer), new, algorithm="RS256", headers={"kid": "2026-12"})
    assert client.verify(token)["sub"] == "u1"
    assert keys.fetches == fetched + 1
    assert client.verify(token)["sub"] == "u1"
    assert keys.fetches == fetched + 1  # known now: no fetch per sign-in


def test_discovery_must_be_the_issuers_own(provider: tuple[str, Keys]) -> None:
    issuer, _ = provider
    client = OidcProvider(issuer + "/tenant", AUDIENCE, "secret")
    with pytest.raises(SignInRefused) as caught:
        client.metadata()
    assert caught.value.reason == "provider_unavailable"
    with pytest.raises(SignInRefused):
        OidcProvider("http://203.0.113.9", AUDIENCE, "secret").metadata()  # plain http off the loopback
