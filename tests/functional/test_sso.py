"""Single sign-on end to end against a real OpenID Connect provider on 127.0.0.1 (``oidc-provider-mock``: Authlib
behind Flask, RS256 keys, discovery, JWKS): the API handler sends the browser there, the test signs in at the
provider's form like a person would, and the provider's redirect comes back to the API's callback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from oncall.domain.users import Role
from tests.support.identity import FakeClock, Session, login_as
from tests.support.lambdas import HttpResult, call_api, call_as

CLIENT_ID = "oncall-hub"
REDIRECT = "https://oncall.example.com/auth/oidc/callback"


@pytest.fixture(scope="module")
def idp() -> Iterator[str]:
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://127.0.0.1:{server.server_port}"


def person(idp: str, sub: str, **claims: Any) -> None:
    made = requests.put(f"{idp}/users/{sub}", json=claims, timeout=5)
    assert made.status_code == 204, made.text


@pytest.fixture
def sso(idp: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from oncall import wiring
    from oncall.settings import get_settings

    env = {
        "ONCALL_OIDC_ISSUER": idp,
        "ONCALL_OIDC_CLIENT_ID": CLIENT_ID,
        "ONCALL_OIDC_CLIENT_SECRET": "client secret at the provider",
        "ONCALL_OIDC_REDIRECT_URL": REDIRECT,
        "ONCALL_OIDC_ALLOWED_DOMAINS": "example.com",
        "ONCALL_OIDC_PROVISIONING": "jit",
        "ONCALL_OIDC_GROUP_ROLES": '{"oncall-admins": "admin", "sre": "responder"}',
    }

    def apply(**changes: str) -> None:
        for name, value in {**env, **changes}.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        wiring.reset()
        wiring.override(clock=clock)

    apply()
    yield env
    wiring.reset()


def start(return_to: str = "/schedules") -> tuple[str, dict[str, str]]:
    begun = call_api("GET", f"/auth/oidc/login?{urlencode({'return_to': return_to})}")
    assert begun.status == 302, begun.raw
    location = begun.header("location") or ""
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def at_provider(location: str, sub: str) -> dict[str, str]:
    """The person signs in at the provider's form; what the provider sends the browser back with."""
    answered = requests.post(location, data={"sub": sub}, allow_redirects=False, timeout=5)
    assert answered.status_code == 302, answered.text
    back = urlsplit(answered.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT
    return {k: v[0] for k, v in parse_qs(back.query).items()}


def callback(params: dict[str, str], accept: str = "application/json") -> HttpResult:
    return call_api("GET", f"/auth/oidc/callback?{urlencode(params)}", headers={"accept": accept})


def sign_in(sub: str) -> HttpResult:
    location, _ = start()
    return callback(at_provider(location, sub))


def test_the_login_redirect_carries_state_nonce_and_pkce(sso: dict[str, str], idp: str) -> None:
    location, query = start()
    assert location.startswith(f"{idp}/")
    assert query["client_id"] == CLIENT_ID and query["redirect_uri"] == REDIRECT
    assert query["response_type"] == "code" and query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43 and query["state"] != query["nonce"]
    again = start()[1]
    assert again["state"] != query["state"] and again["code_challenge"] != query["code_challenge"]


def test_a_new_person_is_provisioned_and_gets_a_working_token_pair(sso: dict[str, str], idp: str) -> None:
    person(idp, "okta|dana", email="Dana.Smith@example.com", email_verified=True, name="Dana Smith", groups=["sre"])
    signed = sign_in("okta|dana")
    assert signed.status == 200, signed.raw
    assert signed.header("cache-control") == "no-store"
    body = signed.json
    assert body["return_to"] == "/schedules" and body["token_type"] == "Bearer"
    me = call_api("GET", "/me", headers={"authorization": f"Bearer {body['access_token']}"}).json
    assert (me["username"], me["email"], me["display_name"], me["role"]) == (
        "dana.smith",
        "dana.smith@example.com",
        "Dana Smith",
        "responder",
    )
    # the next sign-in is the same person, found by the provider's subject, whatever the email says now
    person(idp, "okta|dana", email="dana@example.com", email_verified=True, name="Dana", groups=["sre"])
    again = sign_in("okta|dana")
    assert again.status == 200 and again.json["user_id"] == body["user_id"]
    # nobody signs in as them with a password: they have none
    refused = call_api("POST", "/auth/login", body={"username": "dana.smith", "password": "x" * 12})
    assert refused.status == 401


def test_groups_decide_the_role_at_every_sign_in(sso: dict[str, str], idp: str) -> None:
    login_as(Role.ADMIN)  # a deployment has its admin
    person(idp, "okta|root", email="root@example.com", groups=["sre", "oncall-admins"])
    signed = sign_in("okta|root")
    me = call_api("GET", "/me", headers={"authorization": f"Bearer {signed.json['access_token']}"}).json
    assert me["role"] == "admin"
    person(idp, "okta|root", email="root@example.com", groups=["sre"])  # moved out of the admins' group
    again = sign_in("okta|root")
    me = call_api("GET", "/me", headers={"authorization": f"Bearer {again.json['access_token']}"}).json
    assert me["role"] == "responder"
    # the earlier session acts with the role as it is now (each request reads the person once)
    earlier = call_api("GET", "/me", headers={"authorization": f"Bearer {signed.json['access_token']}"}).json
    assert earlier["role"] == "responder"


def test_invited_only_links_the_invited_person_and_refuses_others(
    sso: dict[str, str], idp: str, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    from oncall import wiring
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_OIDC_PROVISIONING", "invited")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    admin = login_as(Role.ADMIN)
    invited = call_as(
        admin, "POST", "/users", {"username": "eli", "password": "eli long passphrase", "email": "eli@example.com"}
    )
    assert invited.status == 201
    person(idp, "entra|eli", email="eli@example.com", email_verified=True)
    signed = sign_in("entra|eli")
    assert signed.status == 200 and signed.json["user_id"] == invited.json["id"]

    person(idp, "entra|stranger", email="stranger@example.com")
    refused = sign_in("entra|stranger")
    assert refused.status == 403 and refused.json["error"]["details"]["reason"] == "not_invited"


def test_a_disallowed_email_domain_gets_a_readable_page(sso: dict[str, str], idp: str) -> None:
    person(idp, "google|mallory", email="mallory@elsewhere.org")
    location, _ = start()
    page = callback(at_provider(location, "google|mallory"), accept="text/html,application/xhtml+xml")
    assert page.status == 403
    assert (page.header("content-type") or "").startswith("text/html")
    text = page.raw.decode()
    assert "accounts of elsewhere.org cannot sign in here" in text and "email_domain" in text
    assert "<script" not in text


def test_a_tampered_or_replayed_state_is_refused(sso: dict[str, str], idp: str) -> None:
    person(idp, "okta|fay", email="fay@example.com")
    location, _ = start()
    back = at_provider(location, "okta|fay")
    forged = callback({**back, "state": back["state"][:-2] + "xx"})
    assert forged.status == 403 and forged.json["error"]["details"]["reason"] == "state"
    assert callback(back).status == 200
    replayed = callback(back)  # the same state (and code) a second time
    assert replayed.status == 403 and replayed.json["error"]["details"]["reason"] == "state"
    assert callback({"code": back["code"]}).status == 403  # no state at all


def test_a_replayed_code_is_refused_by_the_provider(sso: dict[str, str], idp: str) -> None:
    person(idp, "okta|gil", email="gil@example.com")
    location, _ = start()
    back = at_provider(location, "okta|gil")
    assert callback(back).status == 200
    # the code again, under a fresh state of ours: the provider will not redeem it twice
    _, fresh = start()
    replay = callback({"code": back["code"], "state": fresh["state"]})
    assert replay.status == 403 and replay.json["error"]["details"]["reason"] == "code_refused"


def test_an_id_token_for_another_sign_in_fails_the_nonce(sso: dict[str, str], idp: str) -> None:
    """The provider's answer to sign-in B, delivered with sign-in A's state: the ID token's nonce is B's."""
    person(idp, "okta|hal", email="hal@example.com")
    _, first = start()
    second_location, _ = start()
    back = at_provider(second_location, "okta|hal")
    crossed = callback({"code": back["code"], "state": first["state"]})
    assert crossed.status == 403 and crossed.json["error"]["details"]["reason"] == "nonce"


def test_the_provider_saying_no_is_refused_with_its_reason(sso: dict[str, str], idp: str) -> None:
    location, query = start()
    denied = requests.post(location, data={"action": "deny"}, allow_redirects=False, timeout=5)
    back = {k: v[0] for k, v in parse_qs(urlsplit(denied.headers["location"]).query).items()}
    assert back["error"] == "access_denied" and back["state"] == query["state"]
    refused = callback(back)
    assert refused.status == 403 and refused.json["error"]["details"]["reason"] == "provider_error"


def test_dropped_from_every_mapped_group_the_person_is_offboarded(
    sso: dict[str, str], idp: str, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    from oncall import wiring
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_OIDC_REQUIRE_GROUP", "true")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    person(idp, "okta|ivy", email="ivy@example.com", groups=["sre"])
    signed = sign_in("okta|ivy")
    assert signed.status == 200
    session = {"authorization": f"Bearer {signed.json['access_token']}"}
    assert call_api("GET", "/me", headers=session).status == 200

    person(idp, "okta|ivy", email="ivy@example.com", groups=["marketing"])
    refused = sign_in("okta|ivy")
    assert refused.status == 403 and refused.json["error"]["details"]["reason"] == "not_in_group"
    assert call_api("GET", "/me", headers=session).status == 401  # the session they had ended with it
    admin = login_as(Role.ADMIN)
    assert call_as(admin, "GET", f"/users/{signed.json['user_id']}").json["status"] == "disabled"


def test_password_login_can_be_kept_for_a_break_glass_admin_only(
    sso: dict[str, str], monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    from oncall import wiring
    from oncall.settings import get_settings

    breakglass: Session = login_as(Role.ADMIN, username="breakglass")
    other = login_as(Role.RESPONDER, username="regular")
    monkeypatch.setenv("ONCALL_AUTH_PASSWORD_LOGIN_USERS", "breakglass")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    from tests.support.identity import PASSWORD

    ok = call_api("POST", "/auth/login", body={"username": "breakglass", "password": PASSWORD})
    assert ok.status == 200, ok.raw
    off = call_api("POST", "/auth/login", body={"username": other.user.username, "password": PASSWORD})
    assert off.status == 403 and off.json["error"]["details"]["reason"] == "sso_only"
    assert breakglass.user.username == "breakglass"


def test_without_a_provider_the_routes_say_so(clock: FakeClock) -> None:
    assert call_api("GET", "/auth/oidc/login").status == 404
    assert call_api("GET", "/auth/oidc/callback?code=x&state=y").status == 404


def test_a_deleted_person_does_not_come_back_by_signing_in(sso: dict[str, str], idp: str) -> None:
    person(idp, "okta|jo", email="jo@example.com", groups=["sre"])
    signed = sign_in("okta|jo")
    assert signed.status == 200
    admin = login_as(Role.ADMIN)
    assert call_as(admin, "DELETE", f"/users/{signed.json['user_id']}").status == 204
    refused = sign_in("okta|jo")
    assert refused.status == 403 and refused.json["error"]["details"]["reason"] == "deleted"


def test_two_tabs_racing_a_first_sign_in_make_one_person(
    locked_aws: dict[str, str], sso: dict[str, str], idp: str
) -> None:
    """Six first sign-ins of one new person at once (threads against the emulator, each with its own state and
    code): one person is provisioned and linked, every sign-in lands on them, and nobody else is left behind."""
    import threading

    import boto3

    login_as(Role.ADMIN)  # a deployment has its admin
    person(idp, "okta|kim", email="kim@example.com", groups=["sre"])
    answers = []
    for _ in range(6):
        location, _ = start()
        answers.append(at_provider(location, "okta|kim"))
    results: list[HttpResult] = []
    barrier = threading.Barrier(len(answers))
    lock = threading.Lock()

    def finish(params: dict[str, str]) -> None:
        barrier.wait()
        got = callback(params)
        with lock:
            results.append(got)

    threads = [threading.Thread(target=finish, args=(a,)) for a in answers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [r.status for r in results] == [200] * 6, [r.raw[:200] for r in results]
    assert len({r.json["user_id"] for r in results}) == 1

    client = boto3.client("dynamodb", region_name="us-east-1")
    items = client.scan(TableName=sso_users_table(), ConsistentRead=True)["Items"]
    kims = [i for i in items if i["sk"]["S"] == "PROFILE" and i.get("email", {}).get("S") == "kim@example.com"]
    alive = [i for i in kims if i["status"]["S"] == "active"]
    assert len(alive) == 1 and alive[0]["id"]["S"] == results[0].json["user_id"]
    links = [i for i in items if i["pk"]["S"].startswith("OIDC#")]
    assert len([i for i in links if i["user_id"]["S"] == alive[0]["id"]["S"]]) == 1


def sso_users_table() -> str:
    import os

    return os.environ["ONCALL_TABLE_USERS"]


def test_a_sign_in_begun_on_the_console_ends_there_with_its_session_cookies(sso: dict[str, str], idp: str) -> None:
    from tests.support.console import Browser, text

    browser = Browser()
    page = text(browser.get("/console/login?next=/console/incidents"))
    link = re.search(r'<a href="(/auth/oidc/login\?return_to=[^"]+)">Sign in with your company account</a>', page)
    assert link and link.group(1) == "/auth/oidc/login?return_to=%2Fconsole%2Fincidents"
    person(idp, "okta|erin", email="erin@example.com", email_verified=True, name="Erin Console", groups=["sre"])
    location, _ = start("/console/incidents")
    back = callback(at_provider(location, "okta|erin"), accept="text/html")
    assert back.status == 303 and back.header("location") == "/console/incidents"
    lines = [line for line in (back.header("set-cookie") or "").split("\n") if line]
    assert {line.split("=", 1)[0] for line in lines} == {"__Host-och_session", "__Host-och_refresh", "__Host-och_csrf"}
    assert all("HttpOnly" in line and "Secure" in line and "SameSite=Lax" in line for line in lines)
    browser.cookies.update({line.split("=", 1)[0]: line.split("=", 1)[1].split(";", 1)[0] for line in lines})
    signed_in = browser.get("/console/incidents")
    assert signed_in.status == 200 and "Erin Console" in text(signed_in)


def test_a_racer_that_links_the_person_another_tab_just_provisioned_keeps_them(
    sso: dict[str, str], idp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving the thread race above hits only sometimes, made certain: tab A provisions the person and,
    just before A links them, tab B finds that person by email and links them first. A's link then fails, and the
    person it provisioned is the one the provider is now linked to: A must sign in as them, not discard them."""
    from oncall.adapters.dynamodb.sso import DynamoSignInStore

    login_as(Role.ADMIN)
    person(idp, "okta|lee", email="lee@example.com", groups=["sre"])
    tab_a, tab_b = (at_provider(start()[0], "okta|lee") for _ in range(2))
    real_link = DynamoSignInStore.link
    overtaken: list[HttpResult] = []
    started = []

    def link_after_tab_b(self: DynamoSignInStore, *args: Any) -> bool:
        if not started:
            started.append(True)
            overtaken.append(callback(tab_b))  # B runs to the end inside A's first sign-in
        return real_link(self, *args)

    monkeypatch.setattr(DynamoSignInStore, "link", link_after_tab_b)
    first = callback(tab_a)
    assert overtaken[0].status == 200, overtaken[0].raw
    assert first.status == 200, first.raw
    assert first.json["user_id"] == overtaken[0].json["user_id"]
    admin = login_as(Role.ADMIN)
    listed = call_as(admin, "GET", f"/users/{first.json['user_id']}")
    assert listed.status == 200 and listed.json["status"] == "active", listed.raw
