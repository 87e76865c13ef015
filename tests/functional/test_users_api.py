"""/users and /me through the real handler: roles on every route, mass assignment, validation, idempotency,
Telegram link codes (deep link from a real getMe server on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from oncall.domain.users import Role
from tests.support.fake_telegram import FakeTelegram
from tests.support.identity import PASSWORD, login_as
from tests.support.lambdas import call_api


def err(result, status: int, code: str | None = None) -> dict:
    assert result.status == status, (result.status, result.raw)
    error = result.json["error"]
    if code:
        assert error["code"] == code
    return error


def test_admin_creates_lists_reads_updates_deletes(clock):
    admin = login_as(Role.ADMIN)
    body = {
        "username": "Dana",
        "password": PASSWORD,
        "role": "responder",
        "display_name": "Dana Scully",
        "email": "dana@example.com",
        "timezone": "America/New_York",
        "reminder_offsets_minutes": [30, 1440],
    }
    created = call_api("POST", "/users", headers=admin.headers, body=body)
    assert created.status == 201, created.raw
    user = created.json
    assert user["username"] == "dana" and user["role"] == "responder" and user["reminder_offsets_minutes"] == [1440, 30]
    assert "password" not in json.dumps(user) and "hash" not in json.dumps(user)
    assert user["created_at"].endswith("Z") or "+" in user["created_at"]

    assert call_api("GET", f"/users/{user['id']}", headers=admin.headers).json == user
    listed = call_api("GET", "/users", headers=admin.headers)
    assert [u["username"] for u in listed.json["items"]] == sorted([admin.user.username, "dana"])
    assert listed.header("ETag")

    clock.advance(5)
    patched = call_api("PATCH", f"/users/{user['id']}", headers=admin.headers, body={"role": "viewer", "email": None})
    assert patched.status == 200
    assert patched.json["role"] == "viewer" and patched.json["email"] is None
    assert patched.json["updated_at"] != user["updated_at"]

    assert call_api("DELETE", f"/users/{user['id']}", headers=admin.headers).status == 204
    err(call_api("GET", f"/users/{user['id']}", headers=admin.headers), 404, "not_found")
    err(call_api("DELETE", f"/users/{user['id']}", headers=admin.headers), 404)
    assert [u["username"] for u in call_api("GET", "/users", headers=admin.headers).json["items"]] == [
        admin.user.username
    ]
    # the name is free again
    assert call_api("POST", "/users", headers=admin.headers, body=body).status == 201


def test_list_paginates_with_a_cursor(clock):
    admin = login_as(Role.ADMIN)
    for i in range(5):
        body = {"username": f"user{i}", "password": PASSWORD}
        assert call_api("POST", "/users", headers=admin.headers, body=body).status == 201
    seen, cursor = [], None
    while True:
        target = "/users?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = call_api("GET", target, headers=admin.headers).json
        assert len(page["items"]) <= 2
        seen += [u["username"] for u in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted([admin.user.username] + [f"user{i}" for i in range(5)])
    err(call_api("GET", "/users?cursor=%%%", headers=admin.headers), 422)


def test_duplicate_username_is_409_case_insensitively(clock):
    admin = login_as(Role.ADMIN)
    assert (
        call_api("POST", "/users", headers=admin.headers, body={"username": "erin", "password": PASSWORD}).status == 201
    )
    error = err(
        call_api("POST", "/users", headers=admin.headers, body={"username": "ERIN", "password": PASSWORD}),
        409,
        "username_taken",
    )
    assert error["details"]["field"] == "username"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ok-name", "password": "short"}, "password"),
        ({"username": "no", "password": PASSWORD}, "username"),
        ({"username": "ok-name", "password": PASSWORD, "timezone": "Mars/Base"}, "timezone"),
        ({"username": "ok-name", "password": PASSWORD, "role": "superuser"}, "role"),
        ({"username": "ok-name", "password": PASSWORD, "email": "nope"}, "email"),
        ({"username": "ok-name", "password": PASSWORD, "reminder_offsets_minutes": [0]}, "reminder_offsets_minutes"),
        ({"username": "ok-name", "password": PASSWORD, "is_admin": True}, "is_admin"),
        ({"password": PASSWORD}, "username"),
    ],
)
def test_bad_input_is_422_naming_the_field(clock, body, field):
    admin = login_as(Role.ADMIN)
    error = err(call_api("POST", "/users", headers=admin.headers, body=body), 422, "validation_error")
    assert field in [f["field"] for f in error["details"]["fields"]], error


def test_roles_on_user_routes(clock):
    admin = login_as(Role.ADMIN)
    responder = login_as(Role.RESPONDER)
    viewer = login_as(Role.VIEWER)
    new = {"username": "frank", "password": PASSWORD}
    err(call_api("POST", "/users", headers=viewer.headers, body=new), 403, "forbidden")
    err(call_api("POST", "/users", headers=responder.headers, body=new), 403, "forbidden")
    err(call_api("GET", "/users", headers=responder.headers), 403)
    err(call_api("GET", "/users", headers=viewer.headers), 403)
    err(call_api("GET", f"/users/{admin.user.id}", headers=responder.headers), 403)
    err(call_api("DELETE", f"/users/{viewer.user.id}", headers=responder.headers), 403)
    err(call_api("DELETE", f"/users/{responder.user.id}", headers=viewer.headers), 403)
    err(call_api("PATCH", f"/users/{viewer.user.id}", headers=responder.headers, body={"display_name": "x"}), 403)
    assert call_api("GET", f"/users/{viewer.user.id}", headers=viewer.headers).status == 200
    err(call_api("DELETE", f"/users/{admin.user.id}", headers=admin.headers), 403)
    for route in ("/users", f"/users/{admin.user.id}", "/me"):
        err(call_api("GET", route), 401, "unauthenticated")


def test_viewers_cannot_mutate_by_default(clock):
    viewer = login_as(Role.VIEWER)
    result = call_api("POST", "/users", headers=viewer.headers, body={"username": "gina", "password": PASSWORD})
    error = err(result, 403, "forbidden")
    assert error["details"]["role"] == "viewer"
    # but their own things they may change
    assert call_api("PATCH", "/me", headers=viewer.headers, body={"display_name": "V"}).status == 200
    assert call_api("POST", f"/users/{viewer.user.id}/telegram-link", headers=viewer.headers).status == 201


def test_nobody_changes_their_own_role(clock):
    admin = login_as(Role.ADMIN)
    responder = login_as(Role.RESPONDER)
    err(call_api("PATCH", "/me", headers=responder.headers, body={"role": "admin"}), 422, "validation_error")
    err(call_api("PATCH", f"/users/{responder.user.id}", headers=responder.headers, body={"role": "admin"}), 403)
    err(call_api("PATCH", f"/users/{admin.user.id}", headers=admin.headers, body={"role": "viewer"}), 403)
    err(call_api("PATCH", f"/users/{responder.user.id}", headers=responder.headers, body={"password": "x" * 20}), 403)
    assert call_api("GET", "/me", headers=responder.headers).json["role"] == "responder"
    assert call_api("GET", "/me", headers=admin.headers).json["role"] == "admin"


def test_me_profile_update(clock):
    session = login_as(Role.RESPONDER)
    body = {
        "display_name": "Hank",
        "email": "hank@example.com",
        "timezone": "Europe/Berlin",
        "reminder_offsets_minutes": [15, 60],
    }
    result = call_api("PATCH", "/me", headers=session.headers, body=body)
    assert result.status == 200
    got = result.json
    assert (got["display_name"], got["email"], got["timezone"], got["reminder_offsets_minutes"]) == (
        "Hank",
        "hank@example.com",
        "Europe/Berlin",
        [60, 15],
    )
    assert call_api("GET", "/me", headers=session.headers).json == got
    err(call_api("PATCH", "/me", headers=session.headers, body={"timezone": "Berlin"}), 422)
    err(call_api("PATCH", "/me", headers=session.headers, body={"display_name": None}), 422)
    err(call_api("PATCH", "/me", headers=session.headers, body={"username": "hacker"}), 422)
    err(call_api("PATCH", "/me", headers=session.headers, body={"token_version": 0}), 422)


def test_admin_password_reset_ends_the_users_sessions(clock):
    admin = login_as(Role.ADMIN)
    user = login_as(Role.RESPONDER)
    reset = call_api(
        "PATCH", f"/users/{user.user.id}", headers=admin.headers, body={"password": "brand new passphrase"}
    )
    assert reset.status == 200
    err(call_api("GET", "/me", headers=user.headers), 401)
    login = call_api("POST", "/auth/login", body={"username": user.user.username, "password": "brand new passphrase"})
    assert login.status == 200


def test_post_users_honours_idempotency_key(clock):
    admin = login_as(Role.ADMIN)
    headers = {**admin.headers, "Idempotency-Key": "create-ivan-1"}
    body = {"username": "ivan", "password": PASSWORD}
    first = call_api("POST", "/users", headers=headers, body=body)
    assert first.status == 201
    again = call_api("POST", "/users", headers=headers, body=body)
    assert again.status == 201
    assert again.json == first.json
    assert again.header("Idempotent-Replayed") == "true"
    names = [u["username"] for u in call_api("GET", "/users", headers=admin.headers).json["items"]]
    assert names.count("ivan") == 1
    other = call_api("POST", "/users", headers=headers, body={"username": "ivan2", "password": PASSWORD})
    err(other, 422, "idempotency_key_reused")
    # keys are per caller: another admin reusing the string gets their own request executed
    admin2 = login_as(Role.ADMIN)
    headers2 = {**admin2.headers, "Idempotency-Key": "create-ivan-1"}
    err(call_api("POST", "/users", headers=headers2, body=body), 409, "username_taken")


@pytest.fixture
def bot_api(monkeypatch) -> Iterator[FakeTelegram]:
    with FakeTelegram("123:abc") as api:
        monkeypatch.setenv("TELEGRAM_API_URL", api.url)
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", api.token)
        monkeypatch.delenv("TELEGRAM_BOT_USERNAME", raising=False)
        yield api


def test_telegram_link_code_deep_link_and_single_use(clock, bot_api):
    from oncall import wiring

    admin = login_as(Role.ADMIN)
    user = login_as(Role.RESPONDER)
    other = login_as(Role.RESPONDER)
    err(call_api("POST", f"/users/{other.user.id}/telegram-link", headers=user.headers), 403)

    result = call_api("POST", f"/users/{user.user.id}/telegram-link", headers=user.headers)
    assert result.status == 201
    link = result.json
    assert link["deep_link"] == f"https://t.me/oncall_test_bot?start={link['code']}"
    assert len(link["code"]) <= 64 and link["code"].replace("-", "").replace("_", "").isalnum()
    assert [(c.method, c.status) for c in bot_api.calls] == [("getMe", 200)]  # once, with the right token

    service = wiring.core.user_service()
    linked = service.consume_link_code(link["code"], "555", clock())
    assert linked.id == user.user.id and linked.telegram_chat_id == "555"
    assert call_api("GET", "/me", headers=user.headers).json["telegram_linked"] is True
    assert service.find_by_telegram_chat("555").id == user.user.id

    from oncall.domain.users import LinkCodeInvalid

    with pytest.raises(LinkCodeInvalid):
        service.consume_link_code(link["code"], "666", clock())  # single use

    # an admin makes a code for someone else; it expires after 10 minutes
    code = call_api("POST", f"/users/{other.user.id}/telegram-link", headers=admin.headers).json["code"]
    with pytest.raises(LinkCodeInvalid):
        service.consume_link_code(code, "777", clock() + timedelta(minutes=10))
    with pytest.raises(LinkCodeInvalid):
        service.consume_link_code("made-up-code", "777", clock())

    # the same chat linked by another person moves to them (one chat, one person)
    code = call_api("POST", f"/users/{other.user.id}/telegram-link", headers=other.headers).json["code"]
    assert service.consume_link_code(code, "555", clock()).id == other.user.id
    assert service.find_by_telegram_chat("555").id == other.user.id
    assert call_api("GET", "/me", headers=user.headers).json["telegram_linked"] is False


def test_telegram_link_without_bot_has_no_deep_link(clock, monkeypatch):
    for var in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_USERNAME"):
        monkeypatch.delenv(var, raising=False)
    user = login_as(Role.RESPONDER)
    link = call_api("POST", f"/users/{user.user.id}/telegram-link", headers=user.headers).json
    assert link["deep_link"] is None and link["code"]


def test_openapi_documents_the_identity_routes(clock):
    spec = call_api("GET", "/openapi.json").json
    for path in ("/auth/login", "/auth/refresh", "/auth/logout", "/me", "/me/password", "/users", "/users/{user_id}"):
        assert path in spec["paths"], path


def test_profile_write_never_restores_a_role_it_read_before_a_demotion(clock):
    """The interleaving PATCH /me (read) → admin demotes → PATCH /me (write): only the patched field is written."""
    from dataclasses import replace

    from oncall import wiring
    from oncall.adapters.dynamodb.identity import DynamoUserStore

    admin = login_as(Role.ADMIN)
    target = login_as(Role.RESPONDER)
    store = DynamoUserStore("oncall-users")
    stale = store.get(target.user.id)
    assert call_api("PATCH", f"/users/{target.user.id}", headers=admin.headers, body={"role": "viewer"}).status == 200
    store.update_profile(replace(stale, timezone="Asia/Tokyo", updated_at=clock()), {"timezone"})
    stored = wiring.core.user_service().get(admin.user, target.user.id)
    assert (stored.role, stored.timezone) == (Role.VIEWER, "Asia/Tokyo")
