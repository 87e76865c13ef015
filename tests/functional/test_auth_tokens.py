"""Login, refresh rotation, reuse detection, logout and token rejection, through the real API handler on moto."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from oncall.domain.users import Role
from tests.support.identity import PASSWORD, CountingHasher, login_as, make_user
from tests.support.lambdas import call_api


def login(username: str, password: str = PASSWORD, ip: str = "198.51.100.7"):
    return call_api("POST", "/auth/login", body={"username": username, "password": password}, source_ip=ip)


def refresh(token: str):
    return call_api("POST", "/auth/refresh", body={"refresh_token": token})


def me(access: str):
    return call_api("GET", "/me", headers={"authorization": f"Bearer {access}"})


def assert_401(result) -> dict:
    assert result.status == 401, (result.status, result.raw)
    assert result.json["error"]["code"] == "unauthenticated"
    assert result.header("WWW-Authenticate") is not None or result.json["error"]["details"]
    return result.json["error"]


def test_login_returns_the_contract_shape(clock):
    make_user(Role.RESPONDER, "alice")
    result = login("alice")
    assert result.status == 200
    body = result.json
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert result.header("Cache-Control") == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["typ"] == "access" and claims["exp"] - claims["iat"] == 900
    refresh_claims = jwt.decode(body["refresh_token"], options={"verify_signature": False})
    assert refresh_claims["typ"] == "refresh" and refresh_claims["exp"] - refresh_claims["iat"] == 30 * 24 * 3600
    assert me(body["access_token"]).json["username"] == "alice"


def test_rotation_grace_and_reuse_revokes_the_family(clock):
    make_user(Role.RESPONDER, "alice")
    first = login("alice").json

    clock.advance(60)
    second = refresh(first["refresh_token"])
    assert second.status == 200
    successor = second.json
    assert successor["refresh_token"] != first["refresh_token"]

    # a second tab refreshes the same token 2 s later: the very same successor, nobody is logged out
    clock.advance(2)
    duplicate = refresh(first["refresh_token"])
    assert duplicate.status == 200
    assert duplicate.json == successor

    # after the grace the old token is a replay: 401, and the whole family is dead
    clock.advance(2)
    err = assert_401(refresh(first["refresh_token"]))
    assert err["details"]["reason"] == "token_reused"
    assert_401(refresh(successor["refresh_token"]))
    assert_401(me(successor["access_token"]))  # its access token dies at once too
    assert_401(me(first["access_token"]))

    # another login of the same user (another device) is unaffected
    other = login("alice").json
    assert me(other["access_token"]).status == 200


def test_successor_keeps_rotating_and_family_lifetime_is_absolute(clock):
    make_user(Role.RESPONDER, "alice")
    tokens = login("alice").json
    exp0 = jwt.decode(tokens["refresh_token"], options={"verify_signature": False})["exp"]
    for _ in range(3):
        clock.advance(600)
        result = refresh(tokens["refresh_token"])
        assert result.status == 200
        tokens = result.json
        assert jwt.decode(tokens["refresh_token"], options={"verify_signature": False})["exp"] == exp0
    assert me(tokens["access_token"]).status == 200


def test_logout_revokes_refresh_and_access(clock):
    session = login_as(Role.VIEWER)
    headers = {"authorization": f"Bearer {session.access_token}"}
    assert call_api("POST", "/auth/logout", headers=headers).status == 204
    assert_401(me(session.access_token))
    assert_401(refresh(session.refresh_token))


def test_expired_access_token(clock):
    session = login_as(Role.RESPONDER)
    clock.advance(899)
    assert me(session.access_token).status == 200
    clock.advance(1)
    assert assert_401(me(session.access_token))["details"]["reason"] == "expired"
    fresh = refresh(session.refresh_token)
    assert fresh.status == 200 and me(fresh.json["access_token"]).status == 200


def test_expired_refresh_token(clock):
    session = login_as(Role.RESPONDER)
    clock.advance(30 * 24 * 3600)
    assert_401(refresh(session.refresh_token))


def _b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_forged_tokens_are_401(clock):
    from cryptography.hazmat.primitives.asymmetric import rsa

    session = login_as(Role.ADMIN)
    header, payload, sig = session.access_token.split(".")
    claims = jwt.decode(session.access_token, options={"verify_signature": False})
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {
        "tampered": f"{header}.{_b64({**claims, 'sub': 'someone-else'})}.{sig}",
        "alg none": f"{_b64({'alg': 'none', 'kid': 'test1', 'typ': 'JWT'})}.{payload}.",
        "rs256": jwt.encode(claims, private, algorithm="RS256", headers={"kid": "test1"}),
        "wrong key": jwt.encode(claims, "another-key-" * 4, algorithm="HS256", headers={"kid": "test1"}),
        "wrong aud": jwt.encode({**claims, "aud": "x"}, _test_key(), algorithm="HS256", headers={"kid": "test1"}),
        "wrong iss": jwt.encode({**claims, "iss": "x"}, _test_key(), algorithm="HS256", headers={"kid": "test1"}),
        "refresh as access": session.refresh_token,
        "garbage": "abc.def.ghi",
    }
    for name, token in forged.items():
        result = me(token)
        assert result.status == 401, name
        assert result.json["error"]["code"] == "unauthenticated", name
    # the control: the same claims, correctly signed, pass, so each rejection above is about its one defect
    good = jwt.encode(claims, _test_key(), algorithm="HS256", headers={"kid": "test1"})
    assert me(good).status == 200


def test_access_token_cannot_refresh(clock):
    session = login_as(Role.RESPONDER)
    assert_401(refresh(session.access_token))


def _test_key() -> bytes:
    import os

    keys = json.loads(os.environ["ONCALL_JWT_KEYS"])
    return keys[keys["current"]].encode()


@pytest.mark.parametrize("header", ["", "Bearer", "Basic dXNlcjpwYXNz", "Bearer  ", "Token abc"])
def test_missing_or_malformed_authorization_is_401(clock, header):
    result = call_api("GET", "/me", headers={"authorization": header} if header else None)
    assert_401(result)
    assert (
        result.header(
            "WWW-Authenticate",
        )
        == 'Bearer realm="oncall"'
    )


def test_unknown_user_and_wrong_password_look_and_cost_the_same(clock):
    from oncall import wiring

    make_user(Role.RESPONDER, "alice")
    counter = CountingHasher(wiring.core.hasher())
    wiring.override(clock=clock, hasher=counter)

    outcomes = []
    for username, password in (("alice", "wrong password!!"), ("nobody", "wrong password!!"), ("al ice", "x")):
        before = counter.verifications
        result = login(username, password, ip=f"203.0.113.{len(outcomes)}")
        outcomes.append((result.status, result.raw, counter.verifications - before))
    assert {o[0] for o in outcomes} == {401}
    assert len({o[1] for o in outcomes}) == 1, outcomes  # byte-identical answers
    assert [o[2] for o in outcomes] == [1, 1, 1]  # one KDF verification each
    before = counter.verifications
    assert login("alice").status == 200
    assert counter.verifications - before == 1


def test_deleted_user_is_treated_as_unknown(clock):
    admin = login_as(Role.ADMIN)
    victim = make_user(Role.RESPONDER, "bob")
    victim_tokens = login("bob").json
    result = call_api("DELETE", f"/users/{victim.id}", headers=admin.headers)
    assert result.status == 204
    assert_401(me(victim_tokens["access_token"]))
    assert_401(refresh(victim_tokens["refresh_token"]))
    assert login("bob").json == login("nobody-at-all").json


def test_failed_logins_are_rate_limited_per_username(clock):
    from oncall import wiring

    make_user(Role.RESPONDER, "alice")
    limit = wiring.core.auth_service()._settings.login_failures_per_user
    for i in range(limit):
        assert login("alice", "wrong password!!", ip=f"203.0.113.{i}").status == 401
    blocked = login("alice", ip="198.51.100.99")  # even the right password, from elsewhere
    assert blocked.status == 429
    assert blocked.json["error"]["code"] == "rate_limited"
    retry_after = int(blocked.header("Retry-After"))
    assert 1 <= retry_after <= 15 * 60
    clock.advance(retry_after)
    assert login("alice").status == 200


def test_failed_logins_are_rate_limited_per_source_ip(clock):
    from oncall import wiring

    limit = wiring.core.auth_service()._settings.login_failures_per_ip
    for i in range(limit):
        assert login(f"guess{i}", "wrong password!!", ip="192.0.2.1").status == 401
    make_user(Role.RESPONDER, "carol")
    assert login("carol", ip="192.0.2.1").status == 429
    assert login("carol", ip="192.0.2.2").status == 200


def test_login_rehashes_when_kdf_parameters_change(clock, monkeypatch):
    from oncall import wiring
    from oncall.security.passwords import Argon2Hasher

    user = make_user(Role.RESPONDER, "alice")
    old_hash = wiring.core.user_service()._users.get(user.id).password_hash
    assert "m=64,t=1" in old_hash
    wiring.override(clock=clock, hasher=Argon2Hasher(time_cost=2, memory_kib=128, parallelism=1))
    assert login("alice").status == 200
    new_hash = wiring.core.user_service()._users.get(user.id).password_hash
    assert "m=128,t=2" in new_hash and new_hash != old_hash
    assert login("alice").status == 200


def test_password_change_requires_current_and_ends_other_sessions(clock):
    make_user(Role.VIEWER, "vic")
    laptop = login("vic").json
    phone = login("vic").json
    headers = {"authorization": f"Bearer {laptop['access_token']}"}

    wrong = call_api(
        "POST", "/me/password", headers=headers, body={"current_password": "nope nope nope", "new_password": "x" * 16}
    )
    assert wrong.status == 422
    assert wrong.json["error"]["details"]["fields"][0]["field"] == "current_password"
    short = call_api("POST", "/me/password", headers=headers, body={"current_password": PASSWORD, "new_password": "s"})
    assert short.status == 422

    changed = call_api(
        "POST",
        "/me/password",
        headers=headers,
        body={"current_password": PASSWORD, "new_password": "a whole new passphrase"},
    )
    assert changed.status == 200
    fresh = changed.json
    assert me(fresh["access_token"]).status == 200
    assert refresh(fresh["refresh_token"]).status == 200
    for old in (laptop, phone):
        assert_401(me(old["access_token"]))
        assert_401(refresh(old["refresh_token"]))
    assert login("vic").status == 401
    assert login("vic", "a whole new passphrase").status == 200


def test_demotion_takes_effect_on_the_next_request(clock):
    admin = login_as(Role.ADMIN)
    other = login_as(Role.ADMIN)
    body = {"username": "newbie", "password": PASSWORD}
    assert call_api("POST", "/users", headers=other.headers, body=body).status == 201
    demote = call_api("PATCH", f"/users/{other.user.id}", headers=admin.headers, body={"role": "viewer"})
    assert demote.status == 200 and demote.json["role"] == "viewer"
    body = {"username": "newbie2", "password": PASSWORD}
    result = call_api("POST", "/users", headers=other.headers, body=body)
    assert result.status == 403


def test_authenticated_request_reads_at_most_one_item(clock):
    """The per-request cost of auth: one GetItem of the user item, nothing else."""
    from botocore.handlers import BUILTIN_HANDLERS  # noqa: F401  (imported for the side effect of loading botocore)

    from oncall import wiring

    session = login_as(Role.RESPONDER)
    calls: list[str] = []

    def count(event_name: str, **_: object) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    events = wiring.core.user_store().client.meta.events
    events.register("before-call.dynamodb", count)
    try:
        assert me(session.access_token).status == 200
    finally:
        events.unregister("before-call.dynamodb", count)
    assert calls == ["GetItem"]


def test_no_token_is_401_before_body_validation(clock):
    """A caller without a token learns nothing about a route, not even that its body would fail validation."""
    for method, target, body in (
        ("POST", "/users", {}),
        ("POST", "/users", {"username": 1}),
        ("PATCH", "/me", {"role": "admin"}),
        ("GET", "/users?limit=-5", None),
    ):
        assert_401(call_api(method, target, body=body))
    # public routes still validate as usual
    result = call_api("POST", "/auth/login", body={"username": "x"})
    assert result.status == 422
