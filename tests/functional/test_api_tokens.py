"""API tokens and service accounts through the real API handler on moto: scopes enforced beside roles, one read per
request (none while a warm worker remembers the token), revocation and offboarding honoured within the stated bound,
the secret shown once and found nowhere afterwards, the per-owner cap kept by threads racing the emulator."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from oncall.domain.api_tokens import MAX_PER_OWNER
from oncall.domain.users import Role
from tests.support.identity import FakeClock, Session, login_as
from tests.support.lambdas import HttpResult, call_as


class Bearer:
    """A caller presenting an API token (``call_as`` takes anything with ``headers``)."""

    def __init__(self, token: str) -> None:
        self.headers = {"authorization": f"Bearer {token}"}


def mint(who: Session, scopes: list[str], **extra: Any) -> dict[str, Any]:
    made = call_as(who, "POST", "/me/api-tokens", {"name": "ci", "scopes": scopes, **extra})
    assert made.status == 201, made.raw
    assert made.header("cache-control") == "no-store"
    return dict(made.json)


def error(result: HttpResult) -> dict[str, Any]:
    return dict(result.json["error"])


def test_a_schedules_read_token_reads_and_cannot_write(admin: Session) -> None:
    made = mint(admin, ["schedules:read"])
    assert made["token"].startswith(f"och_{admin.user.id}.{made['id']}.")
    bot = Bearer(made["token"])

    assert call_as(bot, "GET", "/schedules").status == 200
    assert call_as(bot, "GET", "/me").json["id"] == admin.user.id  # any token may ask whose it is

    refused = call_as(bot, "POST", "/schedules", {"name": "Nightly", "timezone": "UTC"})
    assert refused.status == 403
    assert error(refused)["details"] == {"reason": "insufficient_scope", "required": "schedules:write"}
    refused = call_as(bot, "GET", "/incidents")
    assert refused.status == 403 and error(refused)["details"]["required"] == "incidents:read"


def test_a_token_never_exceeds_its_owners_role(clock: FakeClock) -> None:
    viewer = login_as(Role.VIEWER)
    bot = Bearer(mint(viewer, ["schedules:read", "schedules:write"])["token"])
    assert call_as(bot, "GET", "/schedules").status == 200
    assert call_as(bot, "POST", "/schedules", {"name": "Mine", "timezone": "UTC"}).status == 403


def test_routes_that_need_a_person_refuse_every_token(admin: Session) -> None:
    every_scope = [f"{r}:{a}" for r in ("users", "schedules", "teams") for a in ("read", "write")]
    bot = Bearer(mint(admin, every_scope)["token"])
    for method, path, body in (
        ("POST", "/me/api-tokens", {"name": "more", "scopes": ["users:read"]}),
        ("GET", "/me/api-tokens", None),
        ("POST", "/me/password", {"current_password": "x" * 12, "new_password": "y" * 16}),
        ("POST", "/auth/logout", None),
        ("POST", f"/users/{admin.user.id}/telegram-link", None),
        ("POST", "/me/calendar-token", None),
        ("POST", "/schedules/any/calendar-token", None),
    ):
        refused = call_as(bot, method, path, body)
        assert refused.status == 403, (method, path, refused.raw)
        assert error(refused)["details"]["reason"] == "session_required"


def test_a_revoked_token_is_refused_within_the_cache_bound(admin: Session, clock: FakeClock) -> None:
    made = mint(admin, ["incidents:read"])
    bot = Bearer(made["token"])
    assert call_as(bot, "GET", "/incidents").status == 200
    assert call_as(admin, "DELETE", f"/me/api-tokens/{made['id']}").status == 204
    assert call_as(admin, "DELETE", f"/me/api-tokens/{made['id']}").status == 404

    clock.advance(10)  # ONCALL_AUTH_API_TOKEN_CACHE_SECONDS, the stated bound
    refused = call_as(bot, "GET", "/incidents")
    assert refused.status == 401 and error(refused)["details"]["reason"] == "invalid"
    assert call_as(admin, "GET", "/me/api-tokens").json["items"] == []
    history = call_as(admin, "GET", f"/audit?kind=api_token&object_id={made['id']}").json["items"]
    assert [(h["action"], h["actor_id"]) for h in history] == [
        ("api_token.revoked", admin.user.id),
        ("api_token.created", admin.user.id),
    ]


def test_with_the_cache_off_a_revocation_holds_at_once(
    admin: Session, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_AUTH_API_TOKEN_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    wiring.override(clock=clock)
    made = mint(admin, ["incidents:read"])
    assert call_as(Bearer(made["token"]), "GET", "/incidents").status == 200
    assert call_as(admin, "DELETE", f"/me/api-tokens/{made['id']}").status == 204
    assert call_as(Bearer(made["token"]), "GET", "/incidents").status == 401


def test_offboarding_ends_sessions_and_tokens_for_good(admin: Session, clock: FakeClock) -> None:
    leaver = login_as(Role.RESPONDER)
    bot = Bearer(mint(leaver, ["incidents:read"])["token"])
    assert call_as(bot, "GET", "/incidents").status == 200

    disabled = call_as(admin, "POST", f"/users/{leaver.user.id}/disable")
    assert disabled.status == 200 and disabled.json["status"] == "disabled"
    assert call_as(leaver, "GET", "/me").status == 401  # the session: at once
    clock.advance(10)
    assert call_as(bot, "GET", "/incidents").status == 401  # the token: within the bound
    login = call_as(None, "POST", "/auth/login", {"username": leaver.user.username, "password": "whatever it was"})
    assert login.status == 401
    assert call_as(admin, "GET", f"/users/{leaver.user.id}").json["status"] == "disabled"
    assert call_as(admin, "POST", f"/users/{leaver.user.id}/disable").status == 404

    assert call_as(admin, "POST", f"/users/{leaver.user.id}/enable").json["status"] == "active"
    # back, but what they minted before stays dead: a returning person mints anew
    assert call_as(bot, "GET", "/incidents").status == 401
    again = login_as_existing(leaver)
    assert call_as(Bearer(mint(again, ["incidents:read"])["token"]), "GET", "/incidents").status == 200


def login_as_existing(person: Session) -> Session:
    from oncall import wiring
    from tests.support.identity import PASSWORD

    pair = wiring.core.auth_service().login(person.user.username, PASSWORD, "127.0.0.1")
    return Session(person.user, pair.access_token, pair.refresh_token)


def test_an_admin_disables_another_admin_never_themself(admin: Session) -> None:
    other = login_as(Role.ADMIN)
    assert call_as(admin, "POST", f"/users/{other.user.id}/disable").status == 200
    refused = call_as(other, "POST", f"/users/{admin.user.id}/disable")
    assert refused.status == 401  # the disabled admin's session is over
    assert call_as(admin, "POST", f"/users/{admin.user.id}/disable").status == 403  # not oneself


def test_a_team_service_account_acts_for_its_team_only(admin: Session, clock: FakeClock) -> None:
    team = call_as(admin, "POST", "/teams", {"name": "Payments"}).json["id"]
    other_team = call_as(admin, "POST", "/teams", {"name": "Search"}).json["id"]
    manager = login_as(Role.RESPONDER, teams={team: "manager"})
    level = {"targets": [{"type": "user", "id": manager.user.id}], "timeout_seconds": 60}

    def service(team_id: str) -> str:
        policy = call_as(admin, "POST", "/escalation-policies", {"name": "P", "levels": [level], "team_id": team_id})
        body = {"name": "S", "escalation_policy_id": policy.json["id"], "team_id": team_id}
        return str(call_as(admin, "POST", "/services", body).json["id"])

    ours, theirs = service(team), service(other_team)
    account = call_as(manager, "POST", "/service-accounts", {"name": "deploy bot", "team_id": team})
    assert account.status == 201 and account.json["team_role"] == "responder", account.raw
    aid = account.json["id"]
    scopes = {"name": "ci", "scopes": ["incidents:write", "services:read"]}
    made = call_as(manager, "POST", f"/service-accounts/{aid}/api-tokens", scopes)
    assert made.status == 201 and made.json["owner_id"] == aid
    bot = Bearer(made.json["token"])

    assert [s["id"] for s in call_as(bot, "GET", "/services").json["items"]] == [ours]
    opened = call_as(bot, "POST", "/incidents", {"title": "Deploy failed", "service_id": ours, "severity": "high"})
    assert opened.status == 201, opened.raw
    refused = call_as(bot, "POST", "/incidents", {"title": "Deploy failed", "service_id": theirs, "severity": "high"})
    assert refused.status == 422 and "service_id" in refused.raw.decode(), refused.raw

    # nobody signs in as a service account
    login = call_as(None, "POST", "/auth/login", {"username": f"sa-{aid}", "password": "x" * 12})
    assert login.status == 401
    listed = call_as(manager, "GET", f"/service-accounts/{aid}/api-tokens").json["items"]
    assert [t["id"] for t in listed] == [made.json["id"]] and listed[0]["last_used_at"] is not None
    assert "token" not in listed[0] and "secret_hash" not in listed[0]

    assert call_as(manager, "DELETE", f"/service-accounts/{aid}").status == 204
    clock.advance(10)
    assert call_as(bot, "GET", "/services").status == 401


def test_malformed_wrong_and_expired_tokens_are_refused(admin: Session, clock: FakeClock) -> None:
    made = mint(admin, ["incidents:read"], expires_at=(clock.now + timedelta(hours=1)).isoformat())
    owner, tid, secret = made["token"].removeprefix("och_").split(".")
    other = login_as(Role.ADMIN)
    for bearer in (
        "och_",
        "och_x.y",
        f"och_{owner}.{tid}.{'A' * len(secret)}",  # a wrong secret
        f"och_{other.user.id}.{tid}.{secret}",  # the right secret under another owner
        f"och_{owner}.{tid}.{secret}x",
    ):
        refused = call_as(Bearer(bearer), "GET", "/incidents")
        assert refused.status == 401, bearer
    assert call_as(Bearer(made["token"]), "GET", "/incidents").status == 200
    clock.advance(3600)
    expired = call_as(Bearer(made["token"]), "GET", "/incidents")
    assert expired.status == 401 and error(expired)["details"]["reason"] == "expired"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": ["alerts:admin"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["incidents:read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "", "scopes": ["incidents:read"]}, "name"),
        ({"name": "x", "scopes": ["incidents:read"], "owner_id": "someone"}, "owner_id"),
    ],
)
def test_a_bad_token_request_names_the_field(admin: Session, body: dict[str, Any], field: str) -> None:
    refused = call_as(admin, "POST", "/me/api-tokens", body)
    assert refused.status == 422, refused.raw
    assert field in refused.raw.decode()


def test_one_read_per_request_and_none_while_remembered(admin: Session) -> None:
    from oncall import wiring

    token = mint(admin, ["incidents:read"])["token"]
    calls: list[str] = []

    def count(event_name: str, **_: object) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])

    clients = {id(c): c for c in (wiring.core.user_store().client, wiring.core.api_token_service()._tokens.client)}
    for client in clients.values():
        client.meta.events.register("before-call.dynamodb", count)
    try:
        assert call_as(Bearer(token), "GET", "/me").status == 200
        first = list(calls)
        calls.clear()
        assert call_as(Bearer(token), "GET", "/me").status == 200
    finally:
        for client in clients.values():
            client.meta.events.unregister("before-call.dynamodb", count)
    assert first == ["BatchGetItem", "UpdateItem"]  # the read, and the first use written down
    assert calls == []  # remembered by this warm worker


def test_the_secret_is_shown_once_and_stored_and_logged_nowhere(
    admin: Session, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    from tests.support.logs import product_logs

    with product_logs() as logs:
        made = mint(admin, ["incidents:read"])
        secret = made["token"].rsplit(".", 1)[1]
        assert call_as(Bearer(made["token"]), "GET", "/incidents").status == 200
        assert call_as(Bearer(made["token"] + "x"), "GET", "/incidents").status == 401
        assert "token" not in call_as(admin, "GET", "/me/api-tokens").json["items"][0]

    client = boto3.client("dynamodb", region_name="us-east-1")
    stored = []
    for table in client.list_tables()["TableNames"]:
        stored += [str(item) for item in client.scan(TableName=table)["Items"]]
    assert any(made["id"] in item for item in stored)
    assert not any(secret in item for item in stored)
    out = capsys.readouterr()
    assert secret not in logs.getvalue() + out.out + out.err


def test_the_cap_holds_under_racing_mints(locked_aws: dict[str, str], admin: Session) -> None:
    """Threads race the emulator minting for one owner: exactly the cap succeeds, the counter agrees."""
    from oncall import wiring
    from oncall.adapters.dynamodb.api_tokens import TokenLimit

    service = wiring.core.api_token_service()
    outcomes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def minter() -> None:
        barrier.wait()
        for _ in range(6):
            try:
                service.create(admin.user, admin.user.id, "race", ["incidents:read"])
                outcome = "minted"
            except TokenLimit:
                outcome = "limit"
            except Exception as exc:  # anything else is a finding, not a lost thread
                outcome = repr(exc)
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=minter) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("minted") == MAX_PER_OWNER, outcomes
    assert outcomes.count("limit") == 72 - MAX_PER_OWNER, outcomes
    assert len(service.tokens(admin.user, admin.user.id)) == MAX_PER_OWNER
    refused = call_as(admin, "POST", "/me/api-tokens", {"name": "one more", "scopes": ["incidents:read"]})
    assert refused.status == 409 and error(refused)["code"] == "api_token_limit"
    first = service.tokens(admin.user, admin.user.id)[0]
    assert call_as(admin, "DELETE", f"/me/api-tokens/{first.id}").status == 204
    assert call_as(admin, "POST", "/me/api-tokens", {"name": "room again", "scopes": ["incidents:read"]}).status == 201


def test_every_route_is_scoped_session_only_or_public() -> None:
    """A route the API gains is either callable with a named scope or refused to tokens, deliberately: the table in
    ``oncall.domain.api_tokens`` must know its first path segment."""
    from oncall.api.auth import MONITORING, PUBLIC
    from oncall.domain.api_tokens import ANY_TOKEN, SCOPES, SESSION_ONLY, required_scope
    from tests.functional.test_authz_matrix import registered_routes

    unscoped = []
    # monitoring routes take the metrics token or an admin's session; no token scope names them, on purpose
    for method, route in sorted(registered_routes() - PUBLIC - ANY_TOKEN - MONITORING):
        needed = required_scope(method, route)
        if needed is None and (method, route) not in SESSION_ONLY:
            unscoped.append(f"{method} {route}")
        assert needed is None or needed in SCOPES, (method, route, needed)
    assert unscoped == []
    assert required_scope("GET", "/me/shifts") == "schedules:read"
    assert required_scope("PUT", "/me/notification-rules") == "users:write"
    assert required_scope("POST", "/escalation-policies") == "policies:write"
    assert required_scope("DELETE", "/service-accounts/<account_id>") == "teams:write"
