"""Authorisation and data-integrity holes found by trying the API as an attacker would, each closed and kept closed:
overrides that put someone else on call, racing demotions that leave no admin, a refused PATCH that still wrote
half of itself, secrets kept in replay records, names carrying control or bidi characters, tokens with a ten-year
``exp``, and a viewer who could be on call but not manage their own notification rules or calendar feed.

Everything runs through the real API handler on moto (``call_api``), except the races, which run real threads
against the services behind the routes with the emulator's DynamoDB lock shim (``locked_aws``), as
``test_incidents_race`` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from oncall.domain.users import Role, User
from tests.support.identity import PASSWORD, FakeClock, Session, login_as, make_user
from tests.support.lambdas import HttpResult, call_api

NOW = datetime(2031, 5, 5, 6, tzinfo=UTC)
T = NOW + timedelta(hours=3)


def at(hours: float) -> str:
    return (T + timedelta(hours=hours)).isoformat()


@pytest.fixture
def clock_start() -> datetime:
    return NOW


def api(who: Session | None, method: str, path: str, body: Any = None, **headers: str) -> HttpResult:
    sent = dict(who.headers) if who else {}
    sent.update({k.replace("_", "-"): v for k, v in headers.items()})
    if body is not None:
        sent["content-type"] = "application/json"
        return call_api(method, path, headers=sent, body=body)
    return call_api(method, path, headers=sent)


def field_of(result: HttpResult) -> str:
    return str(result.json["error"]["details"]["fields"][0]["field"])


def stored_user(user_id: str) -> dict[str, Any]:
    item: dict[str, Any] = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName="oncall-users", Key={"pk": {"S": f"USER#{user_id}"}, "sk": {"S": "PROFILE"}}, ConsistentRead=True
    )["Item"]
    return dict(item)


# -- overrides ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def schedule(clock: FakeClock, admin: Session) -> dict[str, Any]:
    ann, bob = login_as(Role.RESPONDER), login_as(Role.RESPONDER)
    sid = api(admin, "POST", "/schedules", {"name": "Platform", "timezone": "UTC"}).json["id"]
    own = api(admin, "POST", f"/schedules/{sid}/shifts", {"user_id": ann.user.id, "start": at(0), "end": at(1)})
    assert own.status == 201, own.json
    return {"sid": sid, "ann": ann, "bob": bob, "admin": admin, "own": own.json}


def shifts_of(sid: str, who: Session) -> list[tuple[str, str, str]]:
    listed = call_api(
        "GET",
        f"/schedules/{sid}/shifts?from={at(-24).replace('+', '%2B')}&to={at(24 * 20).replace('+', '%2B')}",
        headers=who.headers,
    )
    return [(s["user_id"], s["start"], s["end"]) for s in listed.json["items"]]


def test_a_responder_cannot_put_someone_else_on_call_with_an_override(schedule: dict[str, Any]) -> None:
    sid, ann, bob = schedule["sid"], schedule["ann"], schedule["bob"]
    before = shifts_of(sid, ann)
    # another person's id over a 14-day range around ann's own one-hour shift: found answering 201
    body = {"user_id": bob.user.id, "start": at(-24 * 7), "end": at(24 * 7 - 1)}
    refused = api(ann, "POST", f"/schedules/{sid}/overrides", body)
    assert refused.status == 403, refused.json
    # the same person, inside the shift, is still somebody else being put on duty
    inside = api(ann, "POST", f"/schedules/{sid}/overrides", {"user_id": bob.user.id, "start": at(0), "end": at(1)})
    assert inside.status == 403, inside.json
    assert shifts_of(sid, ann) == before


def test_a_responders_override_stays_inside_time_they_hold(schedule: dict[str, Any]) -> None:
    sid, ann = schedule["sid"], schedule["ann"]
    wider = api(ann, "POST", f"/schedules/{sid}/overrides", {"user_id": ann.user.id, "start": at(0), "end": at(30)})
    assert wider.status == 403, wider.json
    inside = api(ann, "POST", f"/schedules/{sid}/overrides", {"user_id": ann.user.id, "start": at(0.25), "end": at(1)})
    assert inside.status == 201, inside.json
    # an admin still hands any range to anyone
    admin_ov = {"user_id": schedule["bob"].user.id, "start": at(0), "end": at(24 * 7)}
    assert api(schedule["admin"], "POST", f"/schedules/{sid}/overrides", admin_ov).status == 201


# -- PATCH /users/{id}: validated whole, written once -----------------------------------------------------------------


def test_a_refused_patch_writes_nothing(clock: FakeClock, admin: Session) -> None:
    target = login_as(Role.RESPONDER)
    before = stored_user(target.user.id)
    body = {"role": "viewer", "display_name": "Renamed", "password": "short"}
    refused = api(admin, "PATCH", f"/users/{target.user.id}", body)
    assert refused.status == 422 and field_of(refused) == "password", refused.json
    after = stored_user(target.user.id)
    assert after == before  # role, name, hash, token version: all as they were
    # the target's session still works: nothing (not even a token version bump) was written
    assert api(target, "GET", "/me").json["role"] == "responder"


def test_a_patch_with_a_password_is_one_write_that_ends_the_sessions(clock: FakeClock, admin: Session) -> None:
    target = login_as(Role.RESPONDER)
    body = {"role": "viewer", "display_name": "Renamed", "password": "another long passphrase"}
    done = api(admin, "PATCH", f"/users/{target.user.id}", body)
    assert done.status == 200 and done.json["role"] == "viewer" and done.json["display_name"] == "Renamed"
    assert api(target, "GET", "/me").status == 401
    assert call_api("POST", "/auth/login", body={"username": target.user.username, "password": PASSWORD}).status == 401


# -- at least one active admin ----------------------------------------------------------------------------------------


def test_the_last_admin_cannot_be_demoted_or_deleted_by_another(clock: FakeClock, admin: Session) -> None:
    other = login_as(Role.ADMIN)
    assert api(admin, "PATCH", f"/users/{other.user.id}", {"role": "responder"}).status == 200
    # ``other`` kept a token from when they were an admin; the auth middleware reads the role per request
    assert api(other, "PATCH", f"/users/{admin.user.id}", {"role": "responder"}).status == 403
    third = login_as(Role.ADMIN)
    assert api(third, "DELETE", f"/users/{admin.user.id}").status == 204
    # now ``third`` is the only admin: a stale actor object cannot take them away either (the store refuses)
    from oncall import wiring
    from oncall.domain.users import LastAdmin

    with pytest.raises(LastAdmin):
        wiring.core.user_service().update(admin.user, third.user.id, {"role": "responder"})
    assert stored_user(third.user.id)["role"]["S"] == "admin"


def race(calls: list[Callable[[], object]]) -> list[object]:
    barrier = threading.Barrier(len(calls))
    outcomes: list[object] = []
    lock = threading.Lock()

    def run(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            result: object = call()
        except Exception as exc:
            result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return outcomes


def active_admins() -> list[str]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    items = client.scan(TableName="oncall-users", ConsistentRead=True)["Items"]
    return [
        i["id"]["S"]
        for i in items
        if i["sk"]["S"] == "PROFILE" and i["role"]["S"] == "admin" and i["status"]["S"] == "active"
    ]


@pytest.mark.parametrize("how", ["demote", "delete", "mixed"])
def test_two_admins_taking_each_other_away_at_once_leave_one(locked_aws: dict[str, str], how: str) -> None:
    from oncall import wiring
    from oncall.domain.users import LastAdmin

    service = wiring.core.user_service()

    def away(actor: User, target: User, kind: str) -> Callable[[], object]:
        if kind == "demote":
            return lambda: service.update(actor, target.id, {"role": "responder"})
        return lambda: service.delete(actor, target.id)

    for _ in range(5):
        a, b = make_user(Role.ADMIN), make_user(Role.ADMIN)
        # each round starts from exactly these two admins
        for other in active_admins():
            if other not in (a.id, b.id):
                service.update(a, other, {"role": "responder"})
        assert sorted(active_admins()) == sorted([a.id, b.id])
        kinds = {"demote": ("demote", "demote"), "delete": ("delete", "delete"), "mixed": ("demote", "delete")}[how]
        outcomes = race([away(a, b, kinds[0]), away(b, a, kinds[1])])
        refused = [o for o in outcomes if isinstance(o, LastAdmin)]
        assert len(refused) == 1, outcomes
        assert len(active_admins()) == 1


# -- replay records hold no secrets -----------------------------------------------------------------------------------


def idempotency_records() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict[str, Any]] = client.scan(TableName="oncall-idempotency", ConsistentRead=True)["Items"]
    return items


def test_a_replayable_service_create_stores_no_integration_key(clock: FakeClock, admin: Session) -> None:
    level = {"targets": [{"type": "user", "id": admin.user.id}], "timeout_seconds": 60}
    policy = api(admin, "POST", "/escalation-policies", {"name": "p", "levels": [level]}).json["id"]
    body = {"name": "Checkout", "escalation_policy_id": policy}
    first = api(admin, "POST", "/services", body, idempotency_key="svc-1")
    assert first.status == 201 and first.json["integration_key"], first.json
    records = idempotency_records()
    assert len(records) == 1
    assert first.json["integration_key"] not in repr(records)
    again = api(admin, "POST", "/services", body, idempotency_key="svc-1")
    assert again.status == 201 and again.header("Idempotent-Replayed") == "true"
    assert again.json["id"] == first.json["id"] and again.json["integration_key"] is None
    assert again.header("Idempotent-Redacted") == "integration_key"
    assert first.header("Idempotent-Redacted") is None


def test_a_replayable_webhook_create_stores_no_signing_secret(
    clock: FakeClock, admin: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWLIST", "127.0.0.1/32")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    body = {"url": "http://127.0.0.1:9/hook", "events": ["incident.*"]}
    first = api(admin, "POST", "/webhooks", body, idempotency_key="hook-1")
    assert first.status == 201 and first.json["secret"], first.json
    assert first.json["secret"] not in repr(idempotency_records())
    again = api(admin, "POST", "/webhooks", body, idempotency_key="hook-1")
    assert again.header("Idempotent-Replayed") == "true" and again.json["id"] == first.json["id"]
    assert again.json["secret"] is None and again.header("Idempotent-Redacted") == "secret"


def test_a_login_is_never_recorded_and_its_replay_after_a_password_change_is_refused(clock: FakeClock) -> None:
    person = login_as(Role.RESPONDER)
    body = {"username": person.user.username, "password": PASSWORD}
    first = api(None, "POST", "/auth/login", body, idempotency_key="login-1")
    assert first.status == 200
    assert idempotency_records() == []
    changed = api(person, "POST", "/me/password", {"current_password": PASSWORD, "new_password": "a new long phrase"})
    assert changed.status == 200
    again = api(None, "POST", "/auth/login", body, idempotency_key="login-1")
    assert again.status == 401, again.json
    assert idempotency_records() == []


# -- token lifetime ----------------------------------------------------------------------------------------------------


def test_a_token_signed_with_the_right_key_but_a_far_exp_is_refused(clock: FakeClock) -> None:
    from oncall import wiring
    from oncall.domain.tokens import TokenKind
    from oncall.settings import get_settings

    person = login_as(Role.RESPONDER)
    codec = wiring.core.token_codec()
    iat = int(clock().timestamp())
    ten_years = 10 * 365 * 24 * 3600
    forged = codec.encode(TokenKind.ACCESS, sub=person.user.id, sid="forged", ver=0, jti="j.a", iat=iat, ttl=ten_years)
    refused = call_api("GET", "/me", headers={"authorization": f"Bearer {forged}"})
    assert refused.status == 401, refused.json
    # the configured lifetime itself (and a little skew) is honoured
    ttl = get_settings().auth.access_ttl_seconds
    fair = codec.encode(TokenKind.ACCESS, sub=person.user.id, sid="fair", ver=0, jti="k.a", iat=iat, ttl=ttl + 30)
    assert call_api("GET", "/me", headers={"authorization": f"Bearer {fair}"}).status == 200
    # a real session's refresh token re-signed with a ten-year exp
    real = codec.decode(person.refresh_token, TokenKind.REFRESH, clock())
    long_refresh = codec.encode(
        TokenKind.REFRESH, sub=real.sub, sid=real.sid, ver=real.ver, jti=real.jti, iat=real.iat, ttl=ten_years
    )
    assert call_api("POST", "/auth/refresh", body={"refresh_token": long_refresh}).status == 401
    assert call_api("POST", "/auth/refresh", body={"refresh_token": person.refresh_token}).status == 200


# -- a viewer on call --------------------------------------------------------------------------------------------------


def test_a_viewer_who_can_be_on_call_manages_their_own_rules_and_feed(clock: FakeClock, admin: Session) -> None:
    viewer = login_as(Role.VIEWER)
    sid = api(admin, "POST", "/schedules", {"name": "Platform", "timezone": "UTC"}).json["id"]
    on_duty = {"user_id": viewer.user.id, "start": at(0), "end": at(8)}
    assert api(admin, "POST", f"/schedules/{sid}/shifts", on_duty).status == 201  # schedulable, so pageable
    rules = api(viewer, "PUT", "/me/notification-rules", {"rules": {"reminder": ["email"]}})
    assert rules.status == 200 and rules.json["rules"] == {"reminder": ["email"]}, rules.json
    assert api(viewer, "GET", "/me/notification-rules").json["rules"] == {"reminder": ["email"]}
    feed = api(viewer, "POST", "/me/calendar-token")
    assert feed.status == 201, feed.json
    token = feed.json["token"]
    calendar = call_api("GET", f"/users/{viewer.user.id}/calendar.ics?token={token}")
    assert calendar.status == 200 and b"BEGIN:VEVENT" in calendar.raw
    # still a viewer everywhere else
    assert api(viewer, "POST", f"/schedules/{sid}/calendar-token").status == 403
    assert api(viewer, "POST", f"/schedules/{sid}/shifts", on_duty).status == 403


# -- one rule for every name -------------------------------------------------------------------------------------------

BAD_NAMES = {
    "nul": "Plat\x00form",
    "escape": "Plat\x1b[31mform",
    "right-to-left override": "invoice\u202egpj.exe",
    "isolate": "a\u2066b\u2069",
    "line separator": "two\u2028lines",
}


def name_routes(admin: Session) -> list[tuple[str, str, Callable[[str], dict[str, Any]], str]]:
    """(method, path, body with the name, the field the 422 must name) for every route that takes a name."""
    sid = api(admin, "POST", "/schedules", {"name": "Platform", "timezone": "UTC"}).json["id"]
    level = {"targets": [{"type": "user", "id": admin.user.id}], "timeout_seconds": 60}
    policy = api(admin, "POST", "/escalation-policies", {"name": "p", "levels": [level]}).json["id"]
    service = api(admin, "POST", "/services", {"name": "svc", "escalation_policy_id": policy}).json["id"]
    rotation = {"participants": [admin.user.id], "start": at(24 * 30), "period": "weekly"}
    return [
        ("POST", "/schedules", lambda v: {"name": v, "timezone": "UTC"}, "name"),
        ("POST", "/schedules", lambda v: {"name": "ok", "timezone": "UTC", "team": v}, "team"),
        ("PATCH", f"/schedules/{sid}", lambda v: {"name": v}, "name"),
        ("PATCH", f"/schedules/{sid}", lambda v: {"team": v}, "team"),
        ("POST", f"/schedules/{sid}/rotations", lambda v: {**rotation, "name": v}, "name"),
        ("POST", "/escalation-policies", lambda v: {"name": v, "levels": [level]}, "name"),
        ("PATCH", f"/escalation-policies/{policy}", lambda v: {"name": v}, "name"),
        ("POST", "/services", lambda v: {"name": v, "escalation_policy_id": policy}, "name"),
        ("PATCH", f"/services/{service}", lambda v: {"name": v}, "name"),
        ("POST", "/users", lambda v: {"username": "newbie", "password": PASSWORD, "display_name": v}, "display_name"),
        ("PATCH", f"/users/{login_as(Role.RESPONDER).user.id}", lambda v: {"display_name": v}, "display_name"),
        ("PATCH", "/me", lambda v: {"display_name": v}, "display_name"),
    ]


def test_every_name_refuses_control_and_bidi_characters_naming_the_field(clock: FakeClock, admin: Session) -> None:
    for method, path, body, field in name_routes(admin):
        for kind, bad in BAD_NAMES.items():
            refused = api(admin, method, path, body(bad))
            assert refused.status == 422, (method, path, kind, refused.json)
            assert field_of(refused) == field, (method, path, kind, refused.json)
        # the same route takes an ordinary name, right-to-left ones included (implicit marks are fine)
        fine = api(admin, method, path, body("\u05e6\u05d5\u05d5\u05ea \u200fOps" if field != "team" else "SRE"))
        assert fine.status in (200, 201), (method, path, fine.json)
