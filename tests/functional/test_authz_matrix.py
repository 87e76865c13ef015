"""The authorisation matrix: every route of the API, called by every kind of caller on objects of team A that belong
to someone else, against one table of expected statuses.

The callers: an ``admin``; the ``manager``, a ``responder`` and an ``observer`` of team A; an ``outsider`` (a
responder of team B only); a global ``viewer``; and ``anonymous``. ``MATRIX`` is the single source: route → how to call
it on fresh objects of team A → the status each caller must get. A route the API gains without a row here fails
``test_the_matrix_covers_every_route``, so nobody adds a route without deciding who may call it. The calls go through
the real API handler on moto (``call_api``), with a fresh session per call and fresh objects per call (a DELETE or a
logout cannot change what a later row sees).

The rules (``oncall.domain.teams``): a team's managers manage its schedules, rotations, policies, services and
members; its responders act on its incidents and their own shifts; its observers read; someone outside the team gets
404 for its objects (their existence is not disclosed) and an unknown-service 422 when a body names one; a global
viewer reads every team and changes nothing. Users, teams themselves and webhooks are an admin's. Personal routes
(``/me``…) act on the caller, whoever they are. Public routes authenticate by other means, so a user's bearer token
changes nothing there. Lists answer 200 to everyone signed in; what they contain is checked in ``test_teams``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.domain.users import Role
from tests.support.identity import PASSWORD, FakeClock, Session, login_as
from tests.support.lambdas import call_as as send

NOW = datetime(2031, 5, 5, 6, tzinfo=UTC)
CALLERS = ("admin", "manager", "responder", "observer", "outsider", "viewer", "anonymous")
#: each caller's role in team A (the outsider is a responder of team B; admin and viewer are global roles)
IN_TEAM_A = {"manager": "manager", "responder": "responder", "observer": "observer"}


def at(hours: float) -> str:
    return (NOW + timedelta(hours=3 + hours)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def clock_start() -> datetime:
    return NOW


class World:
    """Team A's objects, owned by somebody other than the caller, made fresh on request through the API as an
    admin."""

    def __init__(self, admin: Session) -> None:
        self.admin = admin
        self.team_a = str(self._make("POST", "/teams", {"name": "Team A"})["id"])
        self.team_b = str(self._make("POST", "/teams", {"name": "Team B"})["id"])
        #: a responder of team A: holds the shifts, is paged by the policies and opens the incidents
        self.other = login_as(Role.RESPONDER, teams={self.team_a: "responder"})
        self._slots = 0

    def caller(self, kind: str) -> Session | None:
        if kind == "anonymous":
            return None
        if kind == "admin":
            return login_as(Role.ADMIN)
        if kind == "viewer":
            return login_as(Role.VIEWER, teams={})
        if kind == "outsider":
            return login_as(Role.RESPONDER, teams={self.team_b: "responder"})
        return login_as(Role.RESPONDER, teams={self.team_a: IN_TEAM_A[kind]})

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
        body = {"name": "Theirs", "timezone": "UTC", "team_id": self.team_a}
        return str(self._make("POST", "/schedules", body)["id"])

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
        body = {"name": "Theirs", "levels": [level], "team_id": self.team_a}
        return str(self._make("POST", "/escalation-policies", body)["id"])

    def service(self) -> str:
        body = {"name": "Theirs", "escalation_policy_id": self.policy(), "team_id": self.team_a}
        return str(self._make("POST", "/services", body)["id"])

    def incident(self, *moves: str) -> str:
        body = {"title": "Checkout returns 502", "service_id": self.service(), "severity": "high"}
        made = send(self.other, "POST", "/incidents", body)
        assert made.status == 201, made.json
        iid = str(made.json["id"])
        for move in moves:
            assert send(self.other, "POST", f"/incidents/{iid}/{move}").status == 200
        return iid

    def window(self) -> tuple[str, str]:
        sid = self.service()
        body = {"start": at(0), "end": at(1), "reason": "upgrade"}
        return sid, str(self._make("POST", f"/services/{sid}/maintenance-windows", body)["id"])

    def silence(self) -> str:
        body = {
            "team_id": self.team_a,
            "matchers": [{"name": "alertname", "value": "X"}],
            "ends_at": at(1),
            "comment": "theirs",
        }
        return str(self._make("POST", "/silences", body)["id"])

    def webhook(self) -> str:
        body = {"url": "http://127.0.0.1:9/hook", "events": ["incident.*"]}
        return str(self._make("POST", "/webhooks", body)["id"])

    def team_like_a(self, me: Session | None) -> str:
        """A fresh, empty team in which the caller holds the role they hold in team A."""
        team = str(self._make("POST", "/teams", {"name": "Short-lived"})["id"])
        role = IN_TEAM_A.get(_kind(self, me) or "")
        if me is not None and role:
            self._make("PUT", f"/teams/{team}/members/{me.user.id}", {"role": role})
        return team

    def token(self, owner: Session | None = None) -> tuple[str, str]:
        """(owner id, token id) of a fresh token of ``owner`` (default: somebody else's)."""
        from oncall import wiring

        who = (owner or login_as(Role.RESPONDER)).user
        minted = wiring.core.api_token_service().create(who, who.id, "ci", ["incidents:read"])
        return who.id, minted.token.id

    def account(self) -> str:
        body = {"name": "terraform", "team_id": self.team_a}
        return str(self._make("POST", "/service-accounts", body)["id"])

    def account_token(self) -> tuple[str, str]:
        account = self.account()
        made = self._make("POST", f"/service-accounts/{account}/api-tokens", {"name": "ci", "scopes": ["teams:read"]})
        return account, str(made["id"])

    def disabled(self) -> str:
        person = self.user()
        self._make("POST", f"/users/{person}/disable")
        return person

    def member(self) -> str:
        person = self.user()
        self._make("PUT", f"/teams/{self.team_a}/members/{person}", {"role": "responder"})
        return person


def _kind(w: World, me: Session | None) -> str | None:
    if me is None:
        return None
    return next((k for k, r in IN_TEAM_A.items() if me.user.teams.get(w.team_a) == r), None)


#: how to call a route on team A's objects: (path with query, body or None)
Request = Callable[[World, Session | None], tuple[str, Any]]


@dataclass(frozen=True)
class Row:
    request: Request
    admin: int
    manager: int
    responder: int
    observer: int
    outsider: int
    viewer: int
    anonymous: int = 401

    def expected(self, caller: str) -> int:
        return int(getattr(self, caller))


def everyone(status: int) -> Callable[[Request], Row]:
    return lambda request: Row(request, *([status] * 7))


def signed_in(status: int) -> Callable[[Request], Row]:
    """The caller's own things, and lists (filtered to what each may read)."""
    return lambda request: Row(request, *([status] * 6))


def admins(status: int) -> Callable[[Request], Row]:
    return lambda request: Row(request, status, 403, 403, 403, 403, 403)


def reads(request: Request) -> Row:
    """One of team A's objects: its members and everyone global read it; an outsider does not know it exists."""
    return Row(request, 200, 200, 200, 200, 404, 200)


def manages(status: int) -> Callable[[Request], Row]:
    """A change to team A's object (or putting one into team A): its managers and admins."""
    return lambda request: Row(request, status, status, 403, 403, 404, 403)


def creates(status: int) -> Callable[[Request], Row]:
    """Putting a new object into team A: its managers and admins; for an outsider, team A is an unknown ``team_id``."""
    return lambda request: Row(request, status, status, 403, 403, 422, 403)


def acts(status: int) -> Callable[[Request], Row]:
    """A responder's action on team A's incident."""
    return lambda request: Row(request, status, status, status, 403, 404, 403)


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


def _deployed(w: World, _: Session | None) -> tuple[str, Any]:
    """What the readiness check describes and its token's secret, which the ``aws`` fixture does not make (made once;
    a deployment has them all)."""
    import boto3

    from infra.local.resources import create_state_machines, secret_name
    from infra.topology import TOPOLOGY

    events = boto3.client("events", region_name="us-east-1")
    if TOPOLOGY.bus_name not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
        events.create_event_bus(Name=TOPOLOGY.bus_name)
    create_state_machines(boto3.client("stepfunctions", region_name="us-east-1"), TOPOLOGY)
    name = secret_name(next(s for s in TOPOLOGY.secrets if s.name == "metrics-token"))
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name=name, Value="metrics-token-of-the-matrix", Type="SecureString", Overwrite=True
    )
    return "/health/ready", None


_BAD_REFRESH = "eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"

#: route → request on team A's objects → status for admin, manager, responder, observer, outsider, viewer, anonymous
MATRIX: dict[tuple[str, str], Row] = {
    # -- public and meta ---------------------------------------------------------------------------------------------
    ("GET", "/health"): everyone(200)(lambda w, me: ("/health", None)),
    ("GET", "/openapi.json"): everyone(200)(lambda w, me: ("/openapi.json", None)),
    ("GET", "/docs"): everyone(200)(lambda w, me: ("/docs", None)),
    # a monitoring route: the metrics token (test_health_ready) or an admin; a person's bearer token is not the former
    ("GET", "/health/ready"): admins(200)(_deployed),
    # the same: the metrics token (test_metrics_endpoint) or an admin
    ("GET", "/metrics"): admins(200)(lambda w, me: ("/metrics", None)),
    # someone else's username with a guessed password
    ("POST", "/auth/login"): everyone(401)(
        lambda w, me: ("/auth/login", {"username": w.other.user.username, "password": "not their password"})
    ),
    ("POST", "/auth/refresh"): everyone(401)(lambda w, me: ("/auth/refresh", {"refresh_token": _BAD_REFRESH})),
    ("POST", "/auth/logout"): signed_in(204)(lambda w, me: ("/auth/logout", None)),
    # single sign-on is not configured here: the routes say so to everyone (test_sso configures a provider)
    ("GET", "/auth/oidc/login"): everyone(404)(lambda w, me: ("/auth/oidc/login", None)),
    ("GET", "/auth/oidc/callback"): everyone(404)(lambda w, me: ("/auth/oidc/callback?code=c&state=s", None)),
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
    # SMS ack links authenticate by their own signed token (and SMS is off here)
    ("GET", "/sms/ack/<token>"): everyone(404)(lambda w, me: ("/sms/ack/" + "A" * 28, None)),
    ("POST", "/sms/ack/<token>"): everyone(404)(lambda w, me: ("/sms/ack/" + "A" * 28, None)),
    # -- the caller's own things -------------------------------------------------------------------------------------
    ("GET", "/me"): signed_in(200)(lambda w, me: ("/me", None)),
    ("PATCH", "/me"): signed_in(200)(lambda w, me: ("/me", {"display_name": "Me"})),
    # a wrong current password: the caller's own route, refused on the evidence, not the role
    ("POST", "/me/password"): signed_in(422)(
        lambda w, me: ("/me/password", {"current_password": "wrong guess", "new_password": "a long new passphrase"})
    ),
    ("GET", "/me/shifts"): signed_in(200)(lambda w, me: ("/me/shifts", None)),
    ("GET", "/me/notification-rules"): signed_in(200)(lambda w, me: ("/me/notification-rules", None)),
    ("PUT", "/me/notification-rules"): signed_in(200)(
        lambda w, me: ("/me/notification-rules", {"rules": {"reminder": ["email"]}})
    ),
    # SMS is not enabled here: the routes say so to every signed-in caller (test_sms enables it)
    ("GET", "/me/phone"): signed_in(404)(lambda w, me: ("/me/phone", None)),
    ("PUT", "/me/phone"): signed_in(404)(lambda w, me: ("/me/phone", {"number": "+15550100000"})),
    ("POST", "/me/phone/verify"): signed_in(404)(lambda w, me: ("/me/phone/verify", {"code": "123456"})),
    ("DELETE", "/me/phone"): signed_in(404)(lambda w, me: ("/me/phone", None)),
    ("POST", "/me/calendar-token"): signed_in(201)(lambda w, me: ("/me/calendar-token", None)),
    ("POST", "/me/api-tokens"): signed_in(201)(
        lambda w, me: ("/me/api-tokens", {"name": "dashboard", "scopes": ["incidents:read"]})
    ),
    ("GET", "/me/api-tokens"): signed_in(200)(lambda w, me: ("/me/api-tokens", None)),
    # the caller's own token (anonymous: somebody's)
    ("DELETE", "/me/api-tokens/<token_id>"): signed_in(204)(lambda w, me: (f"/me/api-tokens/{w.token(me)[1]}", None)),
    # -- users (an admin's) ------------------------------------------------------------------------------------------
    ("POST", "/users"): admins(201)(lambda w, me: ("/users", {"username": "newcomer", "password": PASSWORD})),
    ("GET", "/users"): admins(200)(lambda w, me: ("/users", None)),
    ("GET", "/users/<user_id>"): admins(200)(lambda w, me: (f"/users/{w.user()}", None)),
    ("PATCH", "/users/<user_id>"): admins(200)(lambda w, me: (f"/users/{w.user()}", {"display_name": "X"})),
    ("DELETE", "/users/<user_id>"): admins(204)(lambda w, me: (f"/users/{w.user()}", None)),
    ("POST", "/users/<user_id>/telegram-link"): admins(201)(lambda w, me: (f"/users/{w.user()}/telegram-link", None)),
    ("POST", "/users/<user_id>/disable"): admins(200)(lambda w, me: (f"/users/{w.user()}/disable", None)),
    ("POST", "/users/<user_id>/enable"): admins(200)(lambda w, me: (f"/users/{w.disabled()}/enable", None)),
    ("GET", "/users/<user_id>/api-tokens"): admins(200)(lambda w, me: (f"/users/{w.token()[0]}/api-tokens", None)),
    ("DELETE", "/users/<user_id>/api-tokens/<token_id>"): admins(204)(
        lambda w, me: ("/users/{}/api-tokens/{}".format(*w.token()), None)
    ),
    # -- team service accounts (its managers') -----------------------------------------------------------------------
    ("POST", "/service-accounts"): creates(201)(
        lambda w, me: ("/service-accounts", {"name": "terraform", "team_id": w.team_a})
    ),
    ("GET", "/service-accounts"): signed_in(200)(lambda w, me: ("/service-accounts", None)),
    ("GET", "/service-accounts/<account_id>"): reads(lambda w, me: (f"/service-accounts/{w.account()}", None)),
    ("DELETE", "/service-accounts/<account_id>"): manages(204)(
        lambda w, me: (f"/service-accounts/{w.account()}", None)
    ),
    ("POST", "/service-accounts/<account_id>/api-tokens"): manages(201)(
        lambda w, me: (f"/service-accounts/{w.account()}/api-tokens", {"name": "ci", "scopes": ["incidents:write"]})
    ),
    # who holds which token, and when it was last used, is for the team's managers
    ("GET", "/service-accounts/<account_id>/api-tokens"): manages(200)(
        lambda w, me: (f"/service-accounts/{w.account()}/api-tokens", None)
    ),
    ("DELETE", "/service-accounts/<account_id>/api-tokens/<token_id>"): manages(204)(
        lambda w, me: ("/service-accounts/{}/api-tokens/{}".format(*w.account_token()), None)
    ),
    # -- the audit log (an admin's) ------------------------------------------------------------------------------------
    ("GET", "/audit"): admins(200)(lambda w, me: (f"/audit?kind=team&object_id={w.team_a}", None)),
    # -- the directory (everyone's) ----------------------------------------------------------------------------------
    ("GET", "/people"): signed_in(200)(lambda w, me: ("/people", None)),
    ("GET", "/people/<user_id>"): signed_in(200)(lambda w, me: (f"/people/{w.other.user.id}", None)),
    # -- teams -------------------------------------------------------------------------------------------------------
    ("POST", "/teams"): admins(201)(lambda w, me: ("/teams", {"name": "Another"})),
    ("GET", "/teams"): signed_in(200)(lambda w, me: ("/teams", None)),
    ("GET", "/teams/<team_id>"): reads(lambda w, me: (f"/teams/{w.team_a}", None)),
    ("PATCH", "/teams/<team_id>"): manages(200)(lambda w, me: (f"/teams/{w.team_a}", {"description": "on call"})),
    # only an admin deletes a team, even its managers may not: an empty team where the caller has their A role
    ("DELETE", "/teams/<team_id>"): Row(
        lambda w, me: (f"/teams/{w.team_like_a(me)}", None), 204, 403, 403, 403, 404, 403
    ),
    ("GET", "/teams/<team_id>/members"): reads(lambda w, me: (f"/teams/{w.team_a}/members", None)),
    ("PUT", "/teams/<team_id>/members/<user_id>"): manages(200)(
        lambda w, me: (f"/teams/{w.team_a}/members/{w.user()}", {"role": "responder"})
    ),
    ("DELETE", "/teams/<team_id>/members/<user_id>"): manages(204)(
        lambda w, me: (f"/teams/{w.team_a}/members/{w.member()}", None)
    ),
    # -- schedules, shifts, rotations, overrides, feeds --------------------------------------------------------------
    ("POST", "/schedules"): creates(201)(
        lambda w, me: ("/schedules", {"name": "Mine", "timezone": "UTC", "team_id": w.team_a})
    ),
    ("GET", "/schedules"): signed_in(200)(lambda w, me: ("/schedules", None)),
    ("GET", "/schedules/<schedule_id>"): reads(lambda w, me: (f"/schedules/{w.schedule()}", None)),
    ("PATCH", "/schedules/<schedule_id>"): manages(200)(
        lambda w, me: (f"/schedules/{w.schedule()}", {"name": "Renamed"})
    ),
    ("DELETE", "/schedules/<schedule_id>"): manages(204)(lambda w, me: (f"/schedules/{w.schedule()}", None)),
    # someone else put on duty
    ("POST", "/schedules/<schedule_id>/shifts"): manages(201)(_put_on_duty),
    ("GET", "/schedules/<schedule_id>/shifts"): reads(lambda w, me: (f"/schedules/{w.schedule()}/shifts", None)),
    ("GET", "/schedules/<schedule_id>/shifts/<shift_id>"): reads(_shift_path),
    ("PATCH", "/schedules/<schedule_id>/shifts/<shift_id>"): manages(200)(_move_shift),
    ("DELETE", "/schedules/<schedule_id>/shifts/<shift_id>"): manages(204)(_shift_path),
    ("GET", "/schedules/<schedule_id>/oncall"): reads(lambda w, me: (f"/schedules/{w.schedule()}/oncall", None)),
    ("POST", "/schedules/<schedule_id>/rotations"): manages(201)(
        lambda w, me: (
            f"/schedules/{w.schedule()}/rotations",
            {"participants": [w.other.user.id], "start": at(24 * 40), "period": "weekly"},
        )
    ),
    ("GET", "/schedules/<schedule_id>/rotations"): reads(lambda w, me: (f"/schedules/{w.schedule()}/rotations", None)),
    ("PATCH", "/schedules/<schedule_id>/rotations/<rotation_id>"): manages(200)(
        lambda w, me: (_rotation(w, me)[0], {"name": "renamed"})
    ),
    ("DELETE", "/schedules/<schedule_id>/rotations/<rotation_id>"): manages(204)(_rotation),
    # someone else put on duty for a week, over the caller's own shift
    ("POST", "/schedules/<schedule_id>/overrides"): manages(201)(_override),
    ("POST", "/schedules/<schedule_id>/calendar-token"): manages(201)(
        lambda w, me: (f"/schedules/{w.schedule()}/calendar-token", None)
    ),
    # -- escalation policies and services ----------------------------------------------------------------------------
    ("POST", "/escalation-policies"): creates(201)(
        lambda w, me: ("/escalation-policies", {"name": "Mine", "levels": [_level(w)], "team_id": w.team_a})
    ),
    ("GET", "/escalation-policies"): signed_in(200)(lambda w, me: ("/escalation-policies", None)),
    ("GET", "/escalation-policies/<policy_id>"): reads(lambda w, me: (f"/escalation-policies/{w.policy()}", None)),
    ("PATCH", "/escalation-policies/<policy_id>"): manages(200)(
        lambda w, me: (f"/escalation-policies/{w.policy()}", {"name": "Renamed"})
    ),
    ("DELETE", "/escalation-policies/<policy_id>"): manages(204)(
        lambda w, me: (f"/escalation-policies/{w.policy()}", None)
    ),
    ("POST", "/services"): creates(201)(
        lambda w, me: ("/services", {"name": "Mine", "escalation_policy_id": w.policy(), "team_id": w.team_a})
    ),
    ("GET", "/services"): signed_in(200)(lambda w, me: ("/services", None)),
    ("GET", "/services/<service_id>"): reads(lambda w, me: (f"/services/{w.service()}", None)),
    ("PATCH", "/services/<service_id>"): manages(200)(lambda w, me: (f"/services/{w.service()}", {"name": "Renamed"})),
    ("DELETE", "/services/<service_id>"): manages(204)(lambda w, me: (f"/services/{w.service()}", None)),
    # -- alert routing: a service's team reads it, its managers change it ----------------------------------------
    ("GET", "/services/<service_id>/routing"): reads(lambda w, me: (f"/services/{w.service()}/routing", None)),
    ("GET", "/services/<service_id>/event-rules"): reads(lambda w, me: (f"/services/{w.service()}/event-rules", None)),
    ("PUT", "/services/<service_id>/event-rules"): manages(200)(
        lambda w, me: (f"/services/{w.service()}/event-rules", {"rules": [{"actions": {"severity": "low"}}]})
    ),
    # a dry run writes nothing: the service's team may try its rules; a global viewer posts nothing, as everywhere
    ("POST", "/services/<service_id>/event-rules:test"): Row(
        lambda w, me: (f"/services/{w.service()}/event-rules:test", {"alert": {"summary": "disk full"}}),
        200,
        200,
        200,
        200,
        404,
        403,
    ),
    ("PUT", "/services/<service_id>/urgency"): manages(200)(
        lambda w, me: (f"/services/{w.service()}/urgency", {"mode": "always_low"})
    ),
    ("POST", "/services/<service_id>/maintenance-windows"): manages(201)(
        lambda w, me: (f"/services/{w.service()}/maintenance-windows", {"start": at(0), "end": at(1), "reason": "x"})
    ),
    ("GET", "/services/<service_id>/maintenance-windows"): reads(
        lambda w, me: (f"/services/{w.service()}/maintenance-windows", None)
    ),
    ("DELETE", "/services/<service_id>/maintenance-windows/<window_id>"): manages(204)(
        lambda w, me: ("/services/{}/maintenance-windows/{}".format(*w.window()), None)
    ),
    # naming another team's service in a body: an unknown service to an outsider
    ("POST", "/maintenance-windows"): Row(
        lambda w, me: (
            "/maintenance-windows",
            {"service_ids": [w.service()], "start": at(0), "end": at(1), "reason": "x"},
        ),
        201,
        201,
        403,
        403,
        422,
        403,
    ),
    ("POST", "/silences"): creates(201)(
        lambda w, me: (
            "/silences",
            {"team_id": w.team_a, "matchers": [{"name": "alertname", "value": "X"}], "ends_at": at(1), "comment": "c"},
        )
    ),
    ("GET", "/silences"): signed_in(200)(lambda w, me: ("/silences", None)),
    ("GET", "/silences/<silence_id>"): reads(lambda w, me: (f"/silences/{w.silence()}", None)),
    ("DELETE", "/silences/<silence_id>"): manages(204)(lambda w, me: (f"/silences/{w.silence()}", None)),
    # a query naming a service the caller cannot see: an unknown service, by field
    ("GET", "/alerts"): Row(
        lambda w, me: (f"/alerts?service_id={w.service()}&outcome=suppressed", None), 200, 200, 200, 200, 422, 200
    ),
    ("POST", "/services/<service_id>/rotate-key"): manages(200)(
        lambda w, me: (f"/services/{w.service()}/rotate-key", None)
    ),
    # -- incidents (the team's) and analytics ------------------------------------------------------------------------
    # the outsider names a service they may not know: an unknown service, as the body's field
    ("POST", "/incidents"): Row(
        lambda w, me: ("/incidents", {"title": "Queue is backing up", "service_id": w.service(), "severity": "low"}),
        201,
        201,
        201,
        403,
        422,
        403,
    ),
    ("GET", "/incidents"): signed_in(200)(lambda w, me: ("/incidents", None)),
    ("GET", "/incidents/<incident_id>"): reads(lambda w, me: (f"/incidents/{w.incident()}", None)),
    ("PATCH", "/incidents/<incident_id>"): acts(200)(
        lambda w, me: (f"/incidents/{w.incident()}", {"severity": "critical"})
    ),
    ("POST", "/incidents/<incident_id>/acknowledge"): acts(200)(
        lambda w, me: (f"/incidents/{w.incident()}/acknowledge", None)
    ),
    ("POST", "/incidents/<incident_id>/unacknowledge"): acts(200)(
        lambda w, me: (f"/incidents/{w.incident('acknowledge')}/unacknowledge", None)
    ),
    ("POST", "/incidents/<incident_id>/resolve"): acts(200)(lambda w, me: (f"/incidents/{w.incident()}/resolve", None)),
    ("POST", "/incidents/<incident_id>/close"): acts(200)(
        lambda w, me: (f"/incidents/{w.incident('resolve')}/close", None)
    ),
    ("POST", "/incidents/<incident_id>/reopen"): acts(200)(
        lambda w, me: (f"/incidents/{w.incident('resolve')}/reopen", None)
    ),
    ("POST", "/incidents/<incident_id>/notes"): acts(201)(
        lambda w, me: (f"/incidents/{w.incident()}/notes", {"text": "looking"})
    ),
    ("GET", "/incidents/<incident_id>/timeline"): reads(lambda w, me: (f"/incidents/{w.incident()}/timeline", None)),
    ("GET", "/analytics/summary"): signed_in(200)(lambda w, me: ("/analytics/summary", None)),
    ("GET", "/analytics/trends"): signed_in(200)(lambda w, me: ("/analytics/trends", None)),
    ("GET", "/analytics/mttr-distribution"): signed_in(200)(lambda w, me: ("/analytics/mttr-distribution", None)),
    # -- webhooks (an admin's) ---------------------------------------------------------------------------------------
    ("POST", "/webhooks"): admins(201)(
        lambda w, me: ("/webhooks", {"url": "http://127.0.0.1:9/mine", "events": ["incident.*"]})
    ),
    ("GET", "/webhooks"): admins(200)(lambda w, me: ("/webhooks", None)),
    ("GET", "/webhooks/<webhook_id>"): admins(200)(lambda w, me: (f"/webhooks/{w.webhook()}", None)),
    ("DELETE", "/webhooks/<webhook_id>"): admins(204)(lambda w, me: (f"/webhooks/{w.webhook()}", None)),
    ("POST", "/webhooks/<webhook_id>/rotate-secret"): admins(200)(
        lambda w, me: (f"/webhooks/{w.webhook()}/rotate-secret", None)
    ),
    ("GET", "/webhooks/<webhook_id>/deliveries"): admins(200)(
        lambda w, me: (f"/webhooks/{w.webhook()}/deliveries", None)
    ),
    # no such delivery: only an admin may learn that
    ("POST", "/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver"): admins(404)(
        lambda w, me: (f"/webhooks/{w.webhook()}/deliveries/01aaaaaaaaaaaaaaaaaaaaaaaa/redeliver", None)
    ),
}


def registered_routes() -> set[tuple[str, str]]:
    from infra.local.loader import load_handler

    load_handler("api")
    app = sys.modules["oncall_function_api"].app
    sys.modules["routes"].register_all(app)  # a request registers only its own segment's routes
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
    return World(login_as(Role.ADMIN))


@pytest.mark.parametrize("caller", CALLERS)
def test_every_route_answers_every_caller_as_the_matrix_says(world: World, caller: str) -> None:
    wrong: list[str] = []
    for (method, route), expected in sorted(MATRIX.items()):
        who = world.caller(caller)
        path, body = expected.request(world, who)
        got = send(who, method, path, body)
        if got.status != expected.expected(caller):
            wrong.append(f"{method} {route}: {got.status} (expected {expected.expected(caller)}) {got.raw[:160]!r}")
    assert wrong == [], "\n".join(wrong)
