"""JWT codec and refresh-rotation rule: no I/O, time passed in."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from oncall.domain.errors import Unauthenticated
from oncall.domain.tokens import (
    RefreshRecord,
    RefreshState,
    ReplaySuccessor,
    ReuseDetected,
    Rotate,
    TokenKind,
    decide_refresh,
)
from oncall.security.jwt import TokenCodec
from oncall.security.keys import KeyConfigError, KeySet, KeySource, parse_keyset

KEY_A = b"a" * 40
KEY_B = b"b" * 40
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0 = int(NOW.timestamp())


def codec(keys: KeySet | None = None, iss: str = "oncall-hub", aud: str = "oncall-hub-api") -> TokenCodec:
    ks = keys or KeySet("a", {"a": KEY_A})
    return TokenCodec(lambda: ks, issuer=iss, audience=aud)


def mint(kind: TokenKind = TokenKind.ACCESS, c: TokenCodec | None = None, iat: int = T0, ttl: int = 900) -> str:
    return (c or codec()).encode(kind, sub="u1", sid="s1", ver=0, jti="j1", iat=iat, ttl=ttl)


def b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def claims(**over: object) -> dict:
    base = {
        "iss": "oncall-hub",
        "aud": "oncall-hub-api",
        "sub": "u1",
        "iat": T0,
        "exp": T0 + 900,
        "jti": "j1",
        "typ": "access",
        "sid": "s1",
        "ver": 0,
    }
    base.update(over)
    return base


def test_round_trip_carries_every_claim():
    c = codec()
    got = c.decode(mint(), TokenKind.ACCESS, NOW)
    assert (got.sub, got.sid, got.ver, got.jti, got.iat, got.exp) == ("u1", "s1", 0, "j1", T0, T0 + 900)
    header = jwt.get_unverified_header(mint())
    assert header == {"alg": "HS256", "kid": "a", "typ": "JWT"}


def test_expired_is_rejected_at_exp_exactly():
    c = codec()
    token = mint(ttl=900)
    c.decode(token, TokenKind.ACCESS, NOW + timedelta(seconds=899))
    with pytest.raises(Unauthenticated) as err:
        c.decode(token, TokenKind.ACCESS, NOW + timedelta(seconds=900))
    assert err.value.details["reason"] == "expired"


def test_tampered_payload_is_rejected():
    header, _, sig = mint().split(".")
    forged = f"{header}.{b64(claims(sub='admin'))}.{sig}"
    with pytest.raises(Unauthenticated):
        codec().decode(forged, TokenKind.ACCESS, NOW)


def test_alg_none_is_rejected():
    token = f"{b64({'alg': 'none', 'kid': 'a', 'typ': 'JWT'})}.{b64(claims())}."
    with pytest.raises(Unauthenticated):
        codec().decode(token, TokenKind.ACCESS, NOW)
    token = f"{b64({'alg': 'None', 'kid': 'a'})}.{b64(claims())}."
    with pytest.raises(Unauthenticated):
        codec().decode(token, TokenKind.ACCESS, NOW)


def test_rs256_token_is_rejected_even_with_known_kid():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), private, algorithm="RS256", headers={"kid": "a"})
    with pytest.raises(Unauthenticated):
        codec().decode(token, TokenKind.ACCESS, NOW)


def test_hs256_signed_with_a_public_key_is_rejected():
    """The classic confusion: sign HS256 with the (public) RSA key as the HMAC secret."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'a', 'typ': 'JWT'})}.{b64(claims())}".encode()
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(pem, signing_input, hashlib.sha256).digest()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        codec().decode(f"{signing_input.decode()}.{sig}", TokenKind.ACCESS, NOW)


@pytest.mark.parametrize(("iss", "aud"), [("evil", "oncall-hub-api"), ("oncall-hub", "other-api")])
def test_wrong_issuer_or_audience_is_rejected(iss, aud):
    token = mint(c=codec(iss=iss, aud=aud))
    with pytest.raises(Unauthenticated):
        codec().decode(token, TokenKind.ACCESS, NOW)


def test_kinds_do_not_stand_in_for_each_other():
    c = codec()
    with pytest.raises(Unauthenticated):
        c.decode(mint(TokenKind.REFRESH), TokenKind.ACCESS, NOW)
    with pytest.raises(Unauthenticated):
        c.decode(mint(TokenKind.ACCESS), TokenKind.REFRESH, NOW)


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "iat", "exp", "jti", "typ", "sid", "ver"])
def test_every_claim_is_required(missing):
    payload = claims()
    del payload[missing]
    token = jwt.encode(payload, KEY_A, algorithm="HS256", headers={"kid": "a"})
    with pytest.raises(Unauthenticated):
        codec().decode(token, TokenKind.ACCESS, NOW)


def test_unknown_kid_and_missing_kid_are_rejected():
    for headers in ({"kid": "zzz"}, {}):
        token = jwt.encode(claims(), KEY_A, algorithm="HS256", headers=headers)
        with pytest.raises(Unauthenticated):
            codec().decode(token, TokenKind.ACCESS, NOW)


def test_token_from_the_future_is_rejected():
    with pytest.raises(Unauthenticated):
        codec().decode(mint(iat=T0 + 3600), TokenKind.ACCESS, NOW)


def test_rotation_keeps_old_tokens_valid_and_signs_with_the_new_key():
    old = codec(KeySet("a", {"a": KEY_A}))
    token = mint(c=old)
    rotated = codec(KeySet("b", {"b": KEY_B, "a": KEY_A}))
    assert rotated.decode(token, TokenKind.ACCESS, NOW).sub == "u1"
    assert jwt.get_unverified_header(mint(c=rotated))["kid"] == "b"
    retired = codec(KeySet("b", {"b": KEY_B}))
    with pytest.raises(Unauthenticated):
        retired.decode(token, TokenKind.ACCESS, NOW)


def test_error_message_is_the_same_for_every_invalid_token():
    bad = [mint(c=codec(iss="evil")), mint(TokenKind.REFRESH), "not.a.jwt", ""]
    messages = set()
    for token in bad:
        with pytest.raises(Unauthenticated) as err:
            codec().decode(token, TokenKind.ACCESS, NOW)
        messages.add((err.value.message, tuple(sorted(err.value.details.items()))))
    assert len(messages) == 1


def test_keyset_formats():
    ks = parse_keyset(json.dumps({"current": "k2", "k2": "x" * 40, "k1": "y" * 40}))
    assert ks.current_kid == "k2" and set(ks.keys) == {"k1", "k2"}
    plain = parse_keyset("z" * 64)
    assert plain.signing_key()[1] == b"z" * 64 and plain.current_kid.startswith("s")
    assert parse_keyset("q" * 64).current_kid != plain.current_kid
    for bad in ('{"current": "k1", "k1": "short"}', '{"current": "k9", "k1": "' + "x" * 40 + '"}', "short"):
        with pytest.raises(KeyConfigError):
            parse_keyset(bad)


class _Secrets:
    """An SSM client that counts reads and serves whatever value is current."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.reads: list[str] = []

    def get_parameter(self, Name: str, WithDecryption: bool) -> dict[str, dict[str, str]]:
        assert WithDecryption
        self.reads.append(Name)
        return {"Parameter": {"Value": self.value}}


def test_key_source_prefers_inline_then_the_secret_through_the_cached_reader():
    from oncall.adapters.secrets import SecretReader
    from oncall.settings import KeySettings, SettingsError

    client = _Secrets("s" * 48)
    ticks = [0.0]
    reader = SecretReader(client, max_age=60, monotonic=lambda: ticks[0])
    deployed = KeySettings.from_env({"ONCALL_SECRET_JWT_KEYS": "arn:x"}).keys
    src = KeySource(deployed, reader.value)
    first = src.get()
    assert src.get() is first
    assert client.reads == ["arn:x"]
    client.value = json.dumps({"current": "k2", "k2": "n" * 48})
    ticks[0] = 61
    assert src.get().current_kid == "k2"
    assert client.reads == ["arn:x", "arn:x"]

    both = KeySettings.from_env({"ONCALL_JWT_KEYS": "i" * 40, "ONCALL_SECRET_JWT_KEYS": "arn:x"}).keys
    KeySource(both, reader.value).get()
    assert client.reads == ["arn:x", "arn:x"]  # inline wins; nothing fetched
    with pytest.raises(SettingsError, match="ONCALL_JWT_KEYS or ONCALL_SECRET_JWT_KEYS"):
        KeySource(KeySettings.from_env({}).keys, reader.value)


# -- refresh rotation rule ---------------------------------------------------------------------------------------

ACTIVE = RefreshRecord(jti="j", family_id="f", user_id="u", state=RefreshState.ACTIVE)


def rotated(at: datetime) -> RefreshRecord:
    return RefreshRecord(
        jti="j",
        family_id="f",
        user_id="u",
        state=RefreshState.ROTATED,
        rotated_at=at,
        successor_jti="j2",
        successor_iat=T0,
    )


def test_active_token_rotates():
    assert decide_refresh(ACTIVE, NOW, 3) == Rotate()


@given(st.floats(min_value=0, max_value=3))
def test_duplicate_within_grace_replays_the_same_successor(delay):
    assert decide_refresh(rotated(NOW), NOW + timedelta(seconds=delay), 3) == ReplaySuccessor("j2", T0)


@given(st.floats(min_value=3.000001, max_value=10**7))
def test_reuse_after_grace_is_detected(delay):
    assert decide_refresh(rotated(NOW), NOW + timedelta(seconds=delay), 3) == ReuseDetected()


def test_rotated_without_successor_is_reuse():
    broken = RefreshRecord(jti="j", family_id="f", user_id="u", state=RefreshState.ROTATED, rotated_at=NOW)
    assert decide_refresh(broken, NOW, 3) == ReuseDetected()


def test_rotation_stamped_after_now_is_a_concurrent_twin_not_reuse():
    """Two requests read ``now`` then race; the winner's later stamp must not make the loser look like a replay."""
    assert decide_refresh(rotated(NOW + timedelta(seconds=1)), NOW, 3) == ReplaySuccessor("j2", T0)
