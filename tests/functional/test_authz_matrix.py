"""The authorisation matrix: every route of the API, called by every role (admin, responder, viewer, anonymous) on
objects that belong to someone else, against one table of expected statuses.

``MATRIX`` is the single source: route → how to call it on another person's fresh objects → the status each role must
get. A route the API gains without a row here fails ``test_the_matrix_covers_every_route``, so nobody adds a route
without deciding who may call it. The calls go through the real API handler on moto (``call_api``), with a fresh
session of the role per call and fresh objects per call (a DELETE or a logout cannot change what a later row sees).

Shared objects (schedules, services, policies, incidents) belong to the team: responders act on incidents and read
everything; schedules, rotations, the catalog, users and webhooks are an admin's; a responder's shift writes stay on
their own shifts. Personal routes (``/me``…) act on the caller, whoever they are, so a viewer (who can be on call)
gets them too. Public routes authenticate by other means, so a user's bearer token changes nothing there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.domain.users import Role
from tests.support.identity import PASSWORD, FakeClock, Session, login_as
from tests.support.lambdas import HttpResult, call_api

NOW = datetime(2031, 5, 5, 6, tzinfo=UTC)
ROLES = ("admin", "responder", "viewer", "anonymous")


def at(hours: float) -> str:
    return (NOW + timedelta(hours=3 + hours)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def clock_start() -> datetime:
    return NOW


class World:
    """Objects owned by somebody other than the caller, made fresh on request through the API as an admin."""

    def __init__(self, admin: Session, other: Session) -> None:
        self.admin = admin
        self.other = other
        self._slots = 0

    def slot(self) -> float:
        """The start (hours from now) of a four-hour window nobody's shift uses yet: the other person holds no two
        overlapping shifts (S2), however many rows put them on duty."""
        self._slots += 1
        return 6.0 * self._slots

    def _make(self, method: str, path: str, body: Any = None) -> Any:
        made = send(self.admin, method, path, body)
        assert made.status in (200, 201, 204), (method, path, made.status, made.raw[:300])
        return made.json if made.raw else None

    def user(self) -> str:
        return login_as(Role.RESPONDER).user.id

    def schedule(self) -> str:
        return str(self._make("POST", "/schedules", {"name": "Theirs", "timezone": "UTC"})["id"])

    def shift(self, holder: Session | None = None) -> tuple[str, str]:
        sid, start = self.schedule(), self.slot()
        body = {"user_id": (holder or self.other).user.id, "start": at(start), "end": at(start + 4)}
        return sid, str(self._make("POST", f"/schedules/{sid}/shifts", body)["id"])

    def rotation(self) -> tuple[str, str]:
        sid = self.schedule()
        body = {"participants": [self.other.user.id], "start": at(24 * 40), "period": "weekly", "name": "r"}
        return sid, str(self._make("POST", f"/schedules/{sid}/rotations", body)["rotation"]["id"])

    def policy(self) -> str:
        level = {"targets": [{"type": "user", "id": self.other.user.id}], "timeout_seconds": 60}
        return str(self._make("POST", "/escalation-policies", {"name": "Theirs", "levels": [level]})["id"])

    def service(self) -> str:
        return str(self._make("POST", "/services", {"name": "Theirs", "escalation_policy_id": self.policy()})["id"])

    def incident(self, *moves: str) -> str:
        body = {"title": "Checkout returns 502", "service_id": self.service(), "severity": "high"}
        made = send(self.other, "POST", "/incidents", body)
        assert made.status == 201, made.json
        iid = str(made.json["id"])
        for move in moves:
            assert send(self.other, "POST", f"/incidents/{iid}/{move}").status == 200
        return iid

    def webhook(self) -> str:
        body = {"url": "http://127.0.0.1:9/hook", "events": ["incident.*"]}
        return str(self._make("POST", "/webhooks", body)["id"])


def send(who: Session | None, method: str, path: str, body: Any = None) -> HttpResult:
    headers = dict(who.headers) if who else {}
    if body is None:
        return call_api(method, path, headers=headers)
    headers["content-type"] = "application/json"
    return call_api(method, path, headers=headers, body=json.dumps(body))


#: how to call a route on someone else's objects: (path with query, body or None)
Request = Callable[[World, Session | None], tuple[str, Any]]


@dataclass(frozen=True)
class Row:
    request: Request
    admin: int
    responder: int
    viewer: int
    anonymous: int

    def expected(self, role: str) -> int:
        return int(getattr(self, role))


def row(request: Request, admin: int, responder: int, viewer: int, anonymous: int = 401) -> Row:
    return Row(request, admin, responder, viewer, anonymous)


def everyone(status: int) -> Callable[[Request], Row]:
    return lambda request: Row(request, status, status, status, status)


def _shift_path(w: World, _: Session | None, suffix: str = "") -> tuple[str, Any]:
    sid, shift = w.shift()
    return f"/schedules/{sid}/shifts/{shift}{suffix}", None


def _move_shift(w: World, _: Session | None) -> tuple[str, Any]:
    sid, shift = w.shift()
    got = send(w.admin, "GET", f"/schedules/{sid}/shifts/{shift}").json
    return f"/schedules/{sid}/shifts/{shift}", {"end": got["end"].replace(":00:00", ":30:00")}


def _override(w: World, me: Session | None) -> tuple[str, Any]:
    """Someone else put on duty for a week over the caller's own four-hour shift (anonymous: over someone's)."""
    sid, shift = w.shift(me)
    got = send(w.admin, "GET", f"/schedules/{sid}/shifts/{shift}").json
    week_end = (datetime.fromisoformat(got["start"]) + timedelta(days=7)).isoformat()
    return f"/schedules/{sid}/overrides", {"user_id": w.user(), "start": got["start"], "end": week_end}


def _put_on_duty(w: World, _: Session | None) -> tuple[str, Any]:
    start = w.slot()
    return f"/schedules/{w.schedule()}/shifts", {"user_id": w.other.user.id, "start": at(start), "end": at(start + 1)}


def _rotation(w: World, _: Session | None) -> tuple[str, Any]:
    sid, rotation = w.rotation()
    return f"/schedules/{sid}/rotations/{rotation}", None


def _level(w: World) -> dict[str, Any]:
    return {"targets": [{"type": "user", "id": w.other.user.id}], "timeout_seconds": 60}


def _alertmanager(w: World, _: Session | None) -> tuple[str, Any]:
    w.service()
    return "/integrations/alertmanager", {"version": "4", "status": "firing", "alerts": []}


_BAD_REFRESH = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"

#: route → request on another person's objects → status for admin, responder, viewer, anonymous
MATRIX: dict[tuple[str, str], Row] = {
    # -- public and meta ---------------------------------------------------------------------------------------------
    ("GET", "/health"): everyone(200)(lambda w, me: ("/health", None)),
    ("GET", "/openapi.json"): everyone(200)(lambda w, me: ("/openapi.json", None)),
    ("GET", "/docs"): everyone(200)(lambda w, me: ("/docs", None)),
    # someone else's username with a guessed password
    ("POST", "/auth/login"): everyone(401)(
        lambda w, me: ("/auth/login", {"username": w.other.user.username, "password": "not their password"})
    ),
    ("POST", "/auth/refresh"): everyone(401)(lambda w, me: ("/auth/refresh", {"refresh_token": _BAD_REFRESH})),
    ("POST", "/auth/logout"): row(lambda w, me: ("/auth/logout", None), 204, 204, 204),
    # a user's bearer token is not an integration key
    ("POST", "/v2/enqueue"): everyone(400)(
        lambda w, me: ("/v2/enqueue", {"routing_key": "x" * 32, "event_action": "trigger", "payload": {}})
    ),
    ("POST", "/integrations/alertmanager"): everyone(401)(_alertmanager),
    ("POST", "/integrations/grafana"): everyone(401)(lambda w, me: ("/integrations/grafana", {"alerts": []})),
    # calendar feeds authenticate by their own token: none given, nothing shown, to anyone
    ("GET", "/schedules/<schedule_id>/calendar.ics"): everyone(404)(
        lambda w, me: (f"/schedules/{w.schedule()}/calendar.ics", None)
    ),
    ("GET", "/users/<user_id>/calendar.ics"): everyone(404)(
        lambda w, me: (f"/users/{w.other.user.id}/calendar.ics", None)
    ),
    # -- the caller's own things -------------------------------------------------------------------------------------
    ("GET", "/me"): row(lambda w, me: ("/me", None), 200, 200, 200),
    ("PATCH", "/me"): row(lambda w, me: ("/me", {"display_name": "Me"}), 200, 200, 200),
    # a wrong current password: the caller's own route, refused on the evidence, not the role
    ("POST", "/me/password"): row(
        lambda w, me: ("/me/password", {"current_password": "wrong guess", "new_password": "a long new passphrase"}),
        422,
        422,
        422,
    ),
    ("GET", "/me/shifts"): row(lambda w, me: ("/me/shifts", None), 200, 200, 200),
    ("GET", "/me/notification-rules"): row(lambda w, me: ("/me/notification-rules", None), 200, 200, 200),
    ("PUT", "/me/notification-rules"): row(
        lambda w, me: ("/me/notification-rules", {"rules": {"reminder": ["email"]}}), 200, 200, 200
    ),
    ("POST", "/me/calendar-token"): row(lambda w, me: ("/me/calendar-token", None), 201, 201, 201),
    # -- users -------------------------------------------------------------------------------------------------------
    ("POST", "/users"): row(lambda w, me: ("/users", {"username": "newcomer", "password": PASSWORD}), 201, 403, 403),
    ("GET", "/users"): row(lambda w, me: ("/users", None), 200, 403, 403),
    ("GET", "/users/<user_id>"): row(lambda w, me: (f"/users/{w.user()}", None), 200, 403, 403),
    ("PATCH", "/users/<user_id>"): row(lambda w, me: (f"/users/{w.user()}", {"display_name": "X"}), 200, 403, 403),
    ("DELETE", "/users/<user_id>"): row(lambda w, me: (f"/users/{w.user()}", None), 204, 403, 403),
    ("POST", "/users/<user_id>/telegram-link"): row(
        lambda w, me: (f"/users/{w.user()}/telegram-link", None), 201, 403, 403
    ),
    # -- schedules, shifts, rotations, overrides, feeds --------------------------------------------------------------
    ("POST", "/schedules"): row(lambda w, me: ("/schedules", {"name": "Mine", "timezone": "UTC"}), 201, 403, 403),
    ("GET", "/schedules"): row(lambda w, me: ("/schedules", None), 200, 200, 200),
    ("GET", "/schedules/<schedule_id>"): row(lambda w, me: (f"/schedules/{w.schedule()}", None), 200, 200, 200),
    ("PATCH", "/schedules/<schedule_id>"): row(
        lambda w, me: (f"/schedules/{w.schedule()}", {"name": "Renamed"}), 200, 403, 403
    ),
    ("DELETE", "/schedules/<schedule_id>"): row(lambda w, me: (f"/schedules/{w.schedule()}", None), 204, 403, 403),
    # someone else put on duty
    ("POST", "/schedules/<schedule_id>/shifts"): row(_put_on_duty, 201, 403, 403),
    ("GET", "/schedules/<schedule_id>/shifts"): row(
        lambda w, me: (f"/schedules/{w.schedule()}/shifts", None), 200, 200, 200
    ),
    ("GET", "/schedules/<schedule_id>/shifts/<shift_id>"): row(_shift_path, 200, 200, 200),
    ("PATCH", "/schedules/<schedule_id>/shifts/<shift_id>"): row(_move_shift, 200, 403, 403),
    ("DELETE", "/schedules/<schedule_id>/shifts/<shift_id>"): row(_shift_path, 204, 403, 403),
    ("GET", "/schedules/<schedule_id>/oncall"): row(
        lambda w, me: (f"/schedules/{w.schedule()}/oncall", None), 200, 200, 200
    ),
    ("POST", "/schedules/<schedule_id>/rotations"): row(
        lambda w, me: (
            f"/schedules/{w.schedule()}/rotations",
            {"participants": [w.other.user.id], "start": at(24 * 40), "period": "weekly"},
        ),
        201,
        403,
        403,
    ),
    ("GET", "/schedules/<schedule_id>/rotations"): row(
        lambda w, me: (f"/schedules/{w.schedule()}/rotations", None), 200, 200, 200
    ),
    ("PATCH", "/schedules/<schedule_id>/rotations/<rotation_id>"): row(
        lambda w, me: (_rotation(w, me)[0], {"name": "renamed"}), 200, 403, 403
    ),
    ("DELETE", "/schedules/<schedule_id>/rotations/<rotation_id>"): row(_rotation, 204, 403, 403),
    # someone else put on duty for a week, over the caller's own shift
    ("POST", "/schedules/<schedule_id>/overrides"): row(_override, 201, 403, 403),
    ("POST", "/schedules/<schedule_id>/calendar-token"): row(
        lambda w, me: (f"/schedules/{w.schedule()}/calendar-token", None), 201, 403, 403
    ),
    # -- escalation policies and services ----------------------------------------------------------------------------
    ("POST", "/escalation-policies"): row(
        lambda w, me: ("/escalation-policies", {"name": "Mine", "levels": [_level(w)]}), 201, 403, 403
    ),
    ("GET", "/escalation-policies"): row(lambda w, me: ("/escalation-policies", None), 200, 200, 200),
    ("GET", "/escalation-policies/<policy_id>"): row(
        lambda w, me: (f"/escalation-policies/{w.policy()}", None), 200, 200, 200
    ),
    ("PATCH", "/escalation-policies/<policy_id>"): row(
        lambda w, me: (f"/escalation-policies/{w.policy()}", {"name": "Renamed"}), 200, 403, 403
    ),
    ("DELETE", "/escalation-policies/<policy_id>"): row(
        lambda w, me: (f"/escalation-policies/{w.policy()}", None), 204, 403, 403
    ),
    ("POST", "/services"): row(
        lambda w, me: ("/services", {"name": "Mine", "escalation_policy_id": w.policy()}), 201, 403, 403
    ),
    ("GET", "/services"): row(lambda w, me: ("/services", None), 200, 200, 200),
    ("GET", "/services/<service_id>"): row(lambda w, me: (f"/services/{w.service()}", None), 200, 200, 200),
    ("PATCH", "/services/<service_id>"): row(
        lambda w, me: (f"/services/{w.service()}", {"name": "Renamed"}), 200, 403, 403
    ),
    ("DELETE", "/services/<service_id>"): row(lambda w, me: (f"/services/{w.service()}", None), 204, 403, 403),
    ("POST", "/services/<service_id>/rotate-key"): row(
        lambda w, me: (f"/services/{w.service()}/rotate-key", None), 200, 403, 403
    ),
    # -- incidents (the team's) and analytics ------------------------------------------------------------------------
    ("POST", "/incidents"): row(
        lambda w, me: ("/incidents", {"title": "Queue is backing up", "service_id": w.service(), "severity": "low"}),
        201,
        201,
        403,
    ),
    ("GET", "/incidents"): row(lambda w, me: ("/incidents", None), 200, 200, 200),
    ("GET", "/incidents/<incident_id>"): row(lambda w, me: (f"/incidents/{w.incident()}", None), 200, 200, 200),
    ("PATCH", "/incidents/<incident_id>"): row(
        lambda w, me: (f"/incidents/{w.incident()}", {"severity": "critical"}), 200, 200, 403
    ),
    ("POST", "/incidents/<incident_id>/acknowledge"): row(
        lambda w, me: (f"/incidents/{w.incident()}/acknowledge", None), 200, 200, 403
    ),
    ("POST", "/incidents/<incident_id>/unacknowledge"): row(
        lambda w, me: (f"/incidents/{w.incident('acknowledge')}/unacknowledge", None), 200, 200, 403
    ),
    ("POST", "/incidents/<incident_id>/resolve"): row(
        lambda w, me: (f"/incidents/{w.incident()}/resolve", None), 200, 200, 403
    ),
    ("POST", "/incidents/<incident_id>/close"): row(
        lambda w, me: (f"/incidents/{w.incident('resolve')}/close", None), 200, 200, 403
    ),
    ("POST", "/incidents/<incident_id>/reopen"): row(
        lambda w, me: (f"/incidents/{w.incident('resolve')}/reopen", None), 200, 200, 403
    ),
    ("POST", "/incidents/<incident_id>/notes"): row(
        lambda w, me: (f"/incidents/{w.incident()}/notes", {"text": "looking"}), 201, 201, 403
    ),
    ("GET", "/incidents/<incident_id>/timeline"): row(
        lambda w, me: (f"/incidents/{w.incident()}/timeline", None), 200, 200, 200
    ),
    ("GET", "/analytics/summary"): row(lambda w, me: ("/analytics/summary", None), 200, 200, 200),
    ("GET", "/analytics/trends"): row(lambda w, me: ("/analytics/trends", None), 200, 200, 200),
    ("GET", "/analytics/mttr-distribution"): row(lambda w, me: ("/analytics/mttr-distribution", None), 200, 200, 200),
    # -- webhooks (an admin's) ---------------------------------------------------------------------------------------
    ("POST", "/webhooks"): row(
        lambda w, me: ("/webhooks", {"url": "http://127.0.0.1:9/mine", "events": ["incident.*"]}), 201, 403, 403
    ),
    ("GET", "/webhooks"): row(lambda w, me: ("/webhooks", None), 200, 403, 403),
    ("GET", "/webhooks/<webhook_id>"): row(lambda w, me: (f"/webhooks/{w.webhook()}", None), 200, 403, 403),
    ("DELETE", "/webhooks/<webhook_id>"): row(lambda w, me: (f"/webhooks/{w.webhook()}", None), 204, 403, 403),
    ("POST", "/webhooks/<webhook_id>/rotate-secret"): row(
        lambda w, me: (f"/webhooks/{w.webhook()}/rotate-secret", None), 200, 403, 403
    ),
    ("GET", "/webhooks/<webhook_id>/deliveries"): row(
        lambda w, me: (f"/webhooks/{w.webhook()}/deliveries", None), 200, 403, 403
    ),
    # no such delivery: only an admin may learn that
    ("POST", "/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver"): row(
        lambda w, me: (f"/webhooks/{w.webhook()}/deliveries/01aaaaaaaaaaaaaaaaaaaaaaaa/redeliver", None),
        404,
        403,
        403,
    ),
}


def registered_routes() -> set[tuple[str, str]]:
    from infra.local.loader import load_handler

    load_handler("api")
    app = sys.modules["oncall_function_api"].app
    return {(r.method.upper(), str(r.path)) for r in (*app._static_routes, *app._dynamic_routes)}


def test_the_matrix_covers_every_route() -> None:
    routes = registered_routes()
    assert sorted(routes - set(MATRIX)) == [], "routes without a row in MATRIX: decide who may call them"
    assert sorted(set(MATRIX) - routes) == [], "rows for routes the API no longer has"


@pytest.fixture
def world(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> World:
    from oncall import wiring
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWLIST", "127.0.0.1/32")
    monkeypatch.setenv("ONCALL_ROTATION_HORIZON_DAYS", "7")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    return World(login_as(Role.ADMIN), login_as(Role.RESPONDER))


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_every_role_as_the_matrix_says(world: World, role: str) -> None:
    wrong: list[str] = []
    for (method, route), expected in sorted(MATRIX.items()):
        caller = None if role == "anonymous" else login_as(Role(role))
        path, body = expected.request(world, caller)
        got = send(caller, method, path, body)
        if got.status != expected.expected(role):
            wrong.append(f"{method} {route}: {got.status} (expected {expected.expected(role)}) {got.raw[:160]!r}")
    assert wrong == [], "\n".join(wrong)
