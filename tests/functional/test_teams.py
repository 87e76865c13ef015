"""Teams through the real API handler on the emulated tables: teams and members, lists that show only the caller's
teams (and read only their items), moving an object between teams, a forged Telegram button from outside the team,
and the migration of what was stored before teams into the default team."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from oncall.domain.users import Role
from tests.support.identity import PASSWORD, FakeClock, Session, login_as
from tests.support.incidents import stored_incidents
from tests.support.lambdas import HttpResult
from tests.support.lambdas import call_as as send
from tests.support.stats import count_events

NOW = datetime(2031, 7, 1, 9, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return NOW


def ok(result: HttpResult, status: int = 200) -> Any:
    assert result.status == status, (result.status, result.raw[:400])
    return result.json if result.raw else None


def every(who: Session, path: str, limit: int = 2) -> list[dict[str, Any]]:
    """All items of a list, page by page."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(2000):
        sep = "&" if "?" in path else "?"
        page = ok(send(who, "GET", f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else "")))
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("pagination did not end")


class Org:
    """Two teams, each with a policy, a service and a schedule, made by an admin."""

    def __init__(self, admin: Session) -> None:
        self.admin = admin
        self.a = ok(send(admin, "POST", "/teams", {"name": "Payments"}), 201)["id"]
        self.b = ok(send(admin, "POST", "/teams", {"name": "Search"}), 201)["id"]
        self.holder = login_as(Role.RESPONDER, teams={self.a: "responder", self.b: "responder"})
        self.objects = {team: self.owned(team) for team in (self.a, self.b)}

    def owned(self, team: str) -> dict[str, str]:
        level = {"targets": [{"type": "user", "id": self.holder.user.id}], "timeout_seconds": 60}
        policy = ok(
            send(self.admin, "POST", "/escalation-policies", {"name": f"P {team}", "levels": [level], "team_id": team}),
            201,
        )
        service = ok(
            send(
                self.admin,
                "POST",
                "/services",
                {"name": f"S {team}", "escalation_policy_id": policy["id"], "team_id": team},
            ),
            201,
        )
        schedule = ok(
            send(self.admin, "POST", "/schedules", {"name": f"R {team}", "timezone": "UTC", "team_id": team}), 201
        )
        return {
            "policy": policy["id"],
            "service": service["id"],
            "schedule": schedule["id"],
            "key": service["integration_key"],
        }


@pytest.fixture
def org(admin: Session) -> Org:
    return Org(admin)


def test_a_team_its_members_and_their_roles(admin: Session, org: Org) -> None:
    manager = login_as(Role.RESPONDER, teams={org.a: "manager"})
    newcomer = login_as(Role.RESPONDER, teams={})
    assert [t["id"] for t in every(manager, "/teams")] == [org.a], "a person lists their own teams"
    assert {org.a, org.b} <= {t["id"] for t in every(admin, "/teams")}

    # a manager adds a person, changes their role, removes them; the person's own teams follow
    ok(send(manager, "PUT", f"/teams/{org.a}/members/{newcomer.user.id}", {"role": "observer"}))
    assert ok(send(newcomer, "GET", "/me"))["teams"] == {org.a: "observer"}
    members = {m["user_id"]: m["role"] for m in ok(send(manager, "GET", f"/teams/{org.a}/members"))["items"]}
    assert members[newcomer.user.id] == "observer" and members[manager.user.id] == "manager"
    ok(send(manager, "PUT", f"/teams/{org.a}/members/{newcomer.user.id}", {"role": "responder"}))
    assert ok(send(newcomer, "GET", f"/services/{org.objects[org.a]['service']}"))["team_id"] == org.a
    ok(send(manager, "DELETE", f"/teams/{org.a}/members/{newcomer.user.id}"), 204)
    assert ok(send(newcomer, "GET", "/me"))["teams"] == {}
    assert send(newcomer, "GET", f"/services/{org.objects[org.a]['service']}").status == 404

    # bad input names the field; a team role that does not exist is refused
    bad = send(manager, "PUT", f"/teams/{org.a}/members/{newcomer.user.id}", {"role": "owner"})
    assert bad.status == 422 and b"role" in bad.raw
    assert send(manager, "PUT", f"/teams/{org.a}/members/nosuchuser", {"role": "observer"}).status == 404

    # a manager manages their team, not the others, and never creates or deletes teams
    assert send(manager, "PATCH", f"/teams/{org.b}", {"name": "Mine now"}).status == 404
    assert send(manager, "POST", "/teams", {"name": "Shadow IT"}).status == 403


def test_a_team_is_deleted_only_empty_and_the_default_team_stays(admin: Session, org: Org) -> None:
    refused = send(admin, "DELETE", f"/teams/{org.a}")
    assert refused.status == 409 and refused.json["error"]["code"] == "team_not_empty"
    # the refusal lifted its mark: objects can still be put into it
    ok(send(admin, "POST", "/schedules", {"name": "Another", "timezone": "UTC", "team_id": org.a}), 201)

    empty = ok(send(admin, "POST", "/teams", {"name": "Short-lived"}), 201)["id"]
    member = login_as(Role.RESPONDER, teams={empty: "manager"})
    ok(send(admin, "DELETE", f"/teams/{empty}"), 204)
    assert send(admin, "GET", f"/teams/{empty}").status == 404
    assert ok(send(member, "GET", "/me"))["teams"] == {}, "its members' copies went with it"
    gone = send(admin, "POST", "/schedules", {"name": "Orphan", "timezone": "UTC", "team_id": empty})
    assert gone.status == 422 and b"team_id" in gone.raw
    no_team = send(admin, "POST", "/users", {"username": "orphan", "password": PASSWORD, "teams": {empty: "manager"}})
    assert no_team.status == 422 and no_team.json["error"]["details"]["fields"][0]["field"] == "teams"
    assert send(admin, "DELETE", "/teams/default").status == 409


def test_lists_show_the_callers_teams_and_team_id_narrows_them(admin: Session, org: Org) -> None:
    responder_a = login_as(Role.RESPONDER, teams={org.a: "responder"})
    viewer = login_as(Role.VIEWER, teams={})
    for path, kind in (("/services", "service"), ("/escalation-policies", "policy"), ("/schedules", "schedule")):
        assert [i["id"] for i in every(responder_a, path)] == [org.objects[org.a][kind]], path
        assert every(responder_a, f"{path}?team_id={org.b}") == [], "a team the caller is not in lists nothing"
        assert {i["id"] for i in every(viewer, path)} >= {org.objects[org.a][kind], org.objects[org.b][kind]}
        assert [i["id"] for i in every(admin, f"{path}?team_id={org.b}")] == [org.objects[org.b][kind]]
    # a person in no team reads no team's objects
    loner = login_as(Role.RESPONDER, teams={})
    assert every(loner, "/services") == [] and every(loner, "/incidents") == []


def test_incidents_inherit_their_services_team_and_outsiders_cannot_touch_them(
    admin: Session, org: Org, clock: FakeClock
) -> None:
    responder_a = login_as(Role.RESPONDER, teams={org.a: "responder"})
    responder_b = login_as(Role.RESPONDER, teams={org.b: "responder"})
    body = {"title": "Card payments fail", "service_id": org.objects[org.a]["service"], "severity": "high"}
    incident = ok(send(responder_a, "POST", "/incidents", body), 201)
    assert incident["team_id"] == org.a

    refused = send(responder_b, "POST", f"/incidents/{incident['id']}/acknowledge")
    assert refused.status == 404 and refused.json["error"]["code"] == "not_found"
    assert ok(send(admin, "GET", f"/incidents/{incident['id']}"))["status"] == "triggered"
    assert [i["id"] for i in every(responder_a, "/incidents")] == [incident["id"]]
    assert every(responder_b, "/incidents") == []
    assert every(responder_b, f"/incidents?service_id={org.objects[org.a]['service']}") == []
    clock.advance(1)  # analytics count what opened before now
    count_events()  # what the stats function does with the bus's incident events
    assert ok(send(responder_b, "GET", "/analytics/summary"))["count"] == 0
    assert ok(send(responder_a, "GET", "/analytics/summary"))["count"] == 1
    # the events carry the team, so consumers and webhooks can route by it
    outbox = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="oncall-outbox")["Items"]
    assert any(json.loads(i["detail"]["S"]).get("team_id") == org.a for i in outbox if "detail" in i)


def test_moving_a_service_is_for_whoever_manages_both_teams(admin: Session, org: Org) -> None:
    service = org.objects[org.a]["service"]
    manager_a = login_as(Role.RESPONDER, teams={org.a: "manager"})
    unknown = send(manager_a, "PATCH", f"/services/{service}", {"team_id": org.b})
    assert unknown.status == 422 and unknown.json["error"]["details"]["fields"][0]["field"] == "team_id"
    ok(send(admin, "PUT", f"/teams/{org.b}/members/{manager_a.user.id}", {"role": "observer"}))
    assert send(manager_a, "PATCH", f"/services/{service}", {"team_id": org.b}).status == 403
    ok(send(admin, "PUT", f"/teams/{org.b}/members/{manager_a.user.id}", {"role": "manager"}))
    assert ok(send(manager_a, "PATCH", f"/services/{service}", {"team_id": org.b}))["team_id"] == org.b
    responder_a = login_as(Role.RESPONDER, teams={org.a: "responder"})
    assert send(responder_a, "GET", f"/services/{service}").status == 404
    assert service in [s["id"] for s in every(admin, f"/services?team_id={org.b}")]
    assert service not in [s["id"] for s in every(admin, f"/services?team_id={org.a}")]


def test_a_telegram_button_pressed_outside_the_team_changes_nothing(
    admin: Session, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring
    from tests.support.telegram import callback_update, linked_user, post_update, telegram_env

    body = {"title": "Search is slow", "service_id": org.objects[org.a]["service"], "severity": "high"}
    incident = ok(send(admin, "POST", "/incidents", body), 201)
    with telegram_env(monkeypatch) as tg:
        _outsider, chat = linked_user(teams={org.b: "manager"})
        message = {"message_id": 77, "chat": {"id": chat, "type": "private"}, "date": 1, "text": "forwarded page"}
        assert post_update(callback_update(chat, f"inc:ack:{incident['id']}", message)).status == 200
        toast = tg.of("answerCallbackQuery")[-1].params["text"]
        assert "not found" in toast and tg.of("editMessageText") == []
        assert wiring.incidents.incident_service().get(incident["id"]).status.value == "triggered"
        insider, chat_a = linked_user(teams={org.a: "responder"})
        message["chat"] = {"id": chat_a, "type": "private"}
        post_update(callback_update(chat_a, f"inc:ack:{incident['id']}", message))
        assert wiring.incidents.incident_service().get(incident["id"]).acknowledged_by == insider.id


def test_a_policy_may_page_whoever_is_on_call_in_a_team(admin: Session, org: Org, clock: FakeClock) -> None:
    from oncall import wiring
    from oncall.adapters.lifecycle import ScheduleOnCall

    second = ok(send(admin, "POST", "/schedules", {"name": "Second", "timezone": "UTC", "team_id": org.a}), 201)["id"]
    other = login_as(Role.RESPONDER, teams={org.a: "responder"})
    window = {"start": (NOW - timedelta(hours=1)).isoformat(), "end": (NOW + timedelta(hours=3)).isoformat()}
    ok(
        send(
            admin,
            "POST",
            f"/schedules/{org.objects[org.a]['schedule']}/shifts",
            {"user_id": org.holder.user.id, **window},
        ),
        201,
    )
    ok(send(admin, "POST", f"/schedules/{second}/shifts", {"user_id": other.user.id, **window}), 201)
    ok(
        send(
            admin, "POST", f"/schedules/{org.objects[org.b]['schedule']}/shifts", {"user_id": admin.user.id, **window}
        ),
        201,
    )

    outbox = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="oncall-outbox")["Items"]
    shifts = [json.loads(i["detail"]["S"]) for i in outbox if i.get("detail_type", {}).get("S") == "shift.created"]
    assert {s["schedule_id"]: s["team_id"] for s in shifts}[second] == org.a, "shift events carry their team"

    on_call = ScheduleOnCall(wiring.core.schedule_service())
    assert sorted(on_call.team(org.a, NOW)) == sorted([org.holder.user.id, other.user.id])
    assert on_call.team(org.a, NOW + timedelta(hours=4)) == []

    manager = login_as(Role.RESPONDER, teams={org.a: "manager"})
    level = {"targets": [{"type": "team", "id": org.a}], "timeout_seconds": 300}
    made = ok(
        send(manager, "POST", "/escalation-policies", {"name": "Whole team", "levels": [level], "team_id": org.a}), 201
    )
    assert made["levels"][0]["targets"] == [{"type": "team", "id": org.a}]
    # a team the manager is not in is unknown to them, by field
    level["targets"] = [{"type": "team", "id": org.b}]
    refused = send(manager, "POST", "/escalation-policies", {"name": "Theirs", "levels": [level], "team_id": org.a})
    assert refused.status == 422 and b"levels[0].targets[0].id" in refused.raw


def test_the_directory_turns_ids_into_people_for_everyone_and_keeps_emails_private(
    admin: Session, org: Org, clock: FakeClock
) -> None:
    from tests.support.telegram import linked_user

    observer = login_as(Role.VIEWER, teams={})
    dee, _ = linked_user(teams={org.a: "responder"}, email="dee@example.com")
    window = {"start": (NOW - timedelta(hours=1)).isoformat(), "end": (NOW + timedelta(hours=1)).isoformat()}
    ok(send(admin, "POST", f"/schedules/{org.objects[org.a]['schedule']}/shifts", {"user_id": dee.id, **window}), 201)

    seen = ok(send(observer, "GET", f"/people/{dee.id}"))
    assert seen == {
        "id": dee.id,
        "username": dee.username,
        "display_name": dee.display_name,
        "timezone": "UTC",
        "teams": {org.a: "responder"},
        "on_call_now": True,
        "channels": ["telegram", "email"],
        "email": None,
    }
    assert ok(send(admin, "GET", f"/people/{dee.id}"))["email"] == "dee@example.com"
    everyone = every(observer, "/people", limit=3)
    assert {p["id"] for p in everyone} >= {dee.id, org.holder.user.id, admin.user.id}
    assert all(p["email"] is None for p in everyone if p["id"] != observer.user.id)
    assert not ok(send(observer, "GET", f"/people/{org.holder.user.id}"))["on_call_now"]
    assert send(observer, "GET", "/people/nosuchperson").status == 404


# -- two teams of 500 incidents: lists never mix, and a team's list costs the same whatever the other holds ----------


@contextmanager
def dynamodb_reads() -> Iterator[Counter[str]]:
    """Counts, across every client, DynamoDB calls by operation and the items each read (``ScannedCount`` of a
    Query, keys of a BatchGetItem, 1 per GetItem)."""
    from botocore.client import BaseClient

    counted: Counter[str] = Counter()
    lock = threading.Lock()
    real = BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        out = real(self, operation, params)
        if self.meta.service_model.service_name == "dynamodb":
            with lock:
                counted[operation] += 1
                if operation == "Query":
                    counted["items read"] += int(out.get("ScannedCount", 0))
                elif operation == "BatchGetItem":
                    counted["items read"] += sum(len(v) for v in out.get("Responses", {}).values())
                elif operation == "GetItem":
                    counted["items read"] += 1 if "Item" in out else 0
        return out

    BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield counted
    finally:
        BaseClient._make_api_call = real  # type: ignore[method-assign]


def test_two_teams_of_500_incidents_never_mix_and_a_teams_list_does_not_pay_for_the_other(
    admin: Session, org: Org, clock: FakeClock
) -> None:
    responder_a = login_as(Role.RESPONDER, teams={org.a: "responder"})
    stored_incidents(org.a, org.objects[org.a]["service"], 500, NOW - timedelta(days=1))

    def first_pages() -> Counter[str]:
        with dynamodb_reads() as counted:
            page = ok(send(responder_a, "GET", "/incidents?limit=50"))
            ok(send(responder_a, "GET", f"/incidents?limit=50&cursor={page['next_cursor']}"))
            ok(send(responder_a, "GET", "/incidents?limit=50&status=acknowledged"))
        return counted

    alone = first_pages()
    stored_incidents(org.b, org.objects[org.b]["service"], 500, NOW - timedelta(days=1), offset=500)
    beside_b = first_pages()
    assert beside_b == alone, "the other team's 500 incidents cost team A's list nothing"

    listed = every(responder_a, "/incidents", limit=100)
    assert len(listed) == 500 and {i["team_id"] for i in listed} == {org.a}
    acknowledged = every(responder_a, "/incidents?status=acknowledged", limit=100)
    assert len(acknowledged) == 167 and {i["team_id"] for i in acknowledged} == {org.a}
    assert len(every(admin, "/incidents", limit=200)) == 1000
    stored = boto3.client("dynamodb", region_name="us-east-1").scan(
        TableName="oncall-incidents", FilterExpression="sk = :m", ExpressionAttributeValues={":m": {"S": "META"}}
    )["Items"]
    assert Counter(i["team_id"]["S"] for i in stored) == {org.a: 500, org.b: 500}


# -- the migration of what was stored before teams ---------------------------------------------------------------------


def test_what_was_stored_before_teams_joins_the_default_team_once(aws: dict[str, str], clock: FakeClock) -> None:
    from oncall import wiring
    from oncall.adapters.dynamodb import kit
    from oncall.adapters.dynamodb.teams_migration import MARKER, migrate

    ddb = boto3.client("dynamodb", region_name="us-east-1")
    before = NOW.isoformat()
    legacy_user = {
        "pk": {"S": "USER#01legacyuser"},
        "sk": {"S": "PROFILE"},
        "id": {"S": "01legacyuser"},
        "username": {"S": "legacy.responder"},
        "role": {"S": "responder"},
        "status": {"S": "active"},
        "display_name": {"S": "Legacy Responder"},
        "timezone": {"S": "UTC"},
        "reminder_offsets_minutes": {"L": []},
        "token_version": {"N": "0"},
        "revoked_sessions": {"M": {}},
        "created_at": {"S": before},
        "updated_at": {"S": before},
        "list_pk": {"S": "USER"},
    }
    ddb.put_item(TableName="oncall-users", Item=legacy_user)
    levels = json.dumps([{"targets": [{"type": "user", "id": "01legacyuser"}], "timeout_seconds": 60}])
    ddb.put_item(
        TableName="oncall-catalog",
        Item={
            "pk": {"S": "POL#01legacypolicy"},
            "sk": {"S": "META"},
            "id": {"S": "01legacypolicy"},
            "name": {"S": "Old"},
            "levels": {"S": levels},
            "repeat": {"N": "0"},
            "auto_close_seconds": {"N": "86400"},
            "version": {"N": "1"},
            "kind": {"S": "POLICY"},
            "kind_sort": {"S": "old#01legacypolicy"},
        },
    )
    ddb.put_item(
        TableName="oncall-schedules",
        Item={
            "pk": {"S": "SCHED#01legacyschedule"},
            "sk": {"S": "META"},
            "id": {"S": "01legacyschedule"},
            "name": {"S": "Old rota"},
            "timezone": {"S": "UTC"},
            "version": {"N": "0"},
            "kind": {"S": "SCHEDULE"},
            "kind_sort": {"S": "old rota#01legacyschedule"},
        },
    )
    tables = {"catalog": "oncall-catalog", "users": "oncall-users", "schedules": "oncall-schedules"}

    # before the migration, readers already see the default team's
    legacy = wiring.core.user_store().get("01legacyuser")
    assert legacy is not None and legacy.teams == {"default": "responder"}

    # interrupted after the first step, then run whole: what was done is not done twice
    from oncall.adapters.dynamodb.teams_migration import _owned

    ddb.put_item(
        TableName="oncall-catalog",
        Item=kit.key("TEAM#default", "META")
        | {
            "id": {"S": "default"},
            "name": {"S": "Default"},
            "created_at": {"S": before},
            "updated_at": {"S": before},
            "version": {"N": "1"},
            "kind": {"S": "TEAM"},
            "kind_sort": {"S": "default#default"},
        },
    )
    assert _owned(ddb, "oncall-catalog", "POLICY") == 1
    moved = migrate(kit.client(), tables, NOW)
    assert moved == {"services": 0, "policies": 0, "schedules": 1, "people": 1}
    assert migrate(kit.client(), tables, NOW) is None, "a second start finds the marker"
    assert "Item" in ddb.get_item(TableName="oncall-catalog", Key=kit.key(*MARKER))

    member = ddb.get_item(TableName="oncall-catalog", Key=kit.key("TEAM#default", "MEMBER#01legacyuser"))["Item"]
    assert member["role"]["S"] == "responder"
    profile = ddb.get_item(TableName="oncall-users", Key=kit.key("USER#01legacyuser", "PROFILE"))["Item"]
    assert profile["teams"] == {"M": {"default": {"S": "responder"}}}
    for table, key in (("oncall-catalog", "POL#01legacypolicy"), ("oncall-schedules", "SCHED#01legacyschedule")):
        item = ddb.get_item(TableName=table, Key=kit.key(key, "META"))["Item"]
        assert item["team_id"]["S"] == "default" and item["team_kind"]["S"].startswith("default#")
    # the default team's members list it, by its own index
    admin = login_as(Role.ADMIN)
    assert [p["id"] for p in every(admin, "/escalation-policies?team_id=default")] == ["01legacypolicy"]
    assert [s["id"] for s in every(admin, "/schedules?team_id=default")] == ["01legacyschedule"]


# -- the audit log -----------------------------------------------------------------------------------------------------


def test_every_change_is_in_the_audit_log_with_its_fields_and_never_a_secret(
    admin: Session, org: Org, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWLIST", "127.0.0.1/32")  # a receiver on this machine may be subscribed
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    service = org.objects[org.a]["service"]
    clock.advance(1)
    ok(send(admin, "PATCH", f"/services/{service}", {"name": "Cards"}))
    clock.advance(1)
    rotated = ok(send(admin, "POST", f"/services/{service}/rotate-key"))
    manager = login_as(Role.RESPONDER, teams={org.a: "manager"})
    clock.advance(1)
    person = ok(send(admin, "POST", "/users", {"username": "ivy", "password": "ivy long passphrase", "teams": {}}), 201)
    clock.advance(1)
    ok(send(manager, "PUT", f"/teams/{org.a}/members/{person['id']}", {"role": "observer"}))
    clock.advance(1)
    ok(send(admin, "PATCH", f"/users/{person['id']}", {"role": "viewer", "password": "a brand new passphrase"}))
    clock.advance(1)
    ok(send(manager, "PUT", "/me/notification-rules", {"rules": {"page": ["email", "telegram"]}}))
    clock.advance(1)
    hook = ok(send(admin, "POST", "/webhooks", {"url": "http://127.0.0.1:9/x", "events": ["incident.*"]}), 201)
    clock.advance(1)
    again = ok(send(admin, "POST", f"/webhooks/{hook['id']}/rotate-secret"))
    clock.advance(1)

    history = every(admin, f"/audit?kind=service&object_id={service}")
    assert [r["action"] for r in history] == ["service.key_rotated", "service.updated", "service.created"]
    assert history[0]["changes"] == {"key_hash": {"before": "[redacted]", "after": "[redacted]"}}
    assert history[1]["changes"] == {"name": {"before": f"S {org.a}", "after": "Cards"}}
    assert history[1]["actor_id"] == admin.user.id and history[2]["changes"]["team_id"]["after"] == org.a

    by_manager = every(admin, f"/audit?actor_id={manager.user.id}")
    assert [(r["action"], r["object_id"]) for r in by_manager] == [
        ("user.notification_rules_set", manager.user.id),
        ("team.member_set", org.a),
    ]
    assert by_manager[1]["changes"]["role"]["after"] == "observer"
    own = every(admin, f"/audit?kind=user&object_id={manager.user.id}")
    assert [(r["action"], r["actor_id"]) for r in own] == [
        ("user.notification_rules_set", manager.user.id),
        ("user.created", None),  # made by the test's own provisioning, as the operator's CLI would: no actor
    ]
    assert own[0]["changes"]["rules"]["after"] == {"page": ["email", "telegram"]}
    user_changes = every(admin, f"/audit?kind=user&object_id={person['id']}")
    assert [r["action"] for r in user_changes] == ["user.updated", "user.created"]
    assert user_changes[0]["changes"]["role"] == {"before": "responder", "after": "viewer"}
    assert user_changes[0]["changes"]["password"] == {"before": "[redacted]", "after": "[redacted]"}

    everything = every(admin, "/audit", limit=3)
    actions = [r["action"] for r in everything]
    assert actions[:4] == ["webhook.secret_rotated", "webhook.created", "user.notification_rules_set", "user.updated"]
    assert {"team.created", "policy.created", "schedule.created", "service.created"} <= set(actions)
    text = json.dumps(everything)
    for secret in (rotated["integration_key"], hook["secret"], again["secret"], "ivy long passphrase"):
        assert secret not in text
    assert "$argon2" not in text

    # team changes are on the bus too, written with their records, each carrying the team for webhooks to filter
    outbox = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="oncall-outbox")["Items"]
    team_events = [(i["detail_type"]["S"], json.loads(i["detail"]["S"])) for i in outbox]
    member_set = [d for kind, d in team_events if kind == "team.member_set"]
    assert member_set and member_set[0]["team_id"] == org.a and member_set[0]["actor_id"] == manager.user.id
    assert {"team.created"} <= {kind for kind, _ in team_events}
    assert (
        "team.*"
        in ok(send(admin, "POST", "/webhooks", {"url": "http://127.0.0.1:9/t", "events": ["team.*"]}), 201)["events"]
    )

    # a retention setting's worth of life, then DynamoDB's TTL takes it
    stored = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="oncall-audit")["Items"]
    ages = {int(i["expires_at"]["N"]) - int(datetime.fromisoformat(i["at"]["S"]).timestamp()) for i in stored}
    assert ages == {400 * 86400}
    assert send(manager, "GET", "/audit").status == 403


def test_a_change_that_is_refused_leaves_no_record_and_a_record_needs_its_change(
    admin: Session, org: Org, clock: FakeClock
) -> None:
    from dataclasses import replace as changed

    from oncall import wiring
    from oncall.domain.errors import Conflict

    catalog = wiring.incidents.catalog_store()
    service = catalog.get_service(org.objects[org.a]["service"])
    assert service is not None
    record = wiring.core.audit()
    stale = changed(service, version=service.version + 5)
    with pytest.raises(Conflict), record(admin.user.id, "service.updated", service.id, {"name": "x"}, {"name": "y"}):
        catalog.update_service(stale, changed(stale, name="Never", version=stale.version + 1))
    assert [r["action"] for r in every(admin, f"/audit?kind=service&object_id={service.id}")] == ["service.created"]
    # the same record around a write that goes through: written with it, once
    clock.advance(1)
    with record(admin.user.id, "service.updated", service.id, {"name": service.name}, {"name": "Renamed"}):
        catalog.update_service(service, changed(service, name="Renamed", version=service.version + 1))
    assert [r["action"] for r in every(admin, f"/audit?kind=service&object_id={service.id}")] == [
        "service.updated",
        "service.created",
    ]
