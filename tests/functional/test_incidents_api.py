"""The incidents, services and escalation-policy API through the real handler on the emulated tables."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall import wiring
from oncall.domain.services_catalog import ROTATION_OVERLAP
from tests.support.identity import FakeClock, Session, login_as
from tests.support.incidents import make_policy, make_service, ok, open_incident, user_level
from tests.support.lambdas import call_api
from tests.support.stats import count_events

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture
def service(admin: Session, responder: Session) -> dict[str, Any]:
    policy = make_policy(admin.headers, [user_level(responder.user.id, 60)])
    return make_service(admin.headers, policy["id"])


def test_create_get_and_the_triggered_timeline(responder: Session, service: dict[str, Any]) -> None:
    created = open_incident(responder.headers, service["id"], description="EU customers only")
    assert created["status"] == "triggered"
    assert created["source"] == "operator"
    assert created["created_by"] == responder.user.id
    assert created["version"] == 1 and created["generation"] == 1
    got = ok(call_api("GET", f"/incidents/{created['id']}", headers=responder.headers))
    assert got == created
    timeline = ok(call_api("GET", f"/incidents/{created['id']}/timeline", headers=responder.headers))
    assert [e["kind"] for e in timeline["items"]] == ["triggered"]


def test_manual_titles_are_5_to_1000_chars_and_not_placeholders(responder: Session, service: dict[str, Any]) -> None:
    """The full rule set is unit-tested (tests/unit/test_incidents.py); here: the 422 names the field, says why."""
    for title, reason in [("Oops", "at least 5"), ("x" * 1001, "at most 1000"), ("  NULL  ", "placeholder")]:
        got = call_api(
            "POST",
            "/incidents",
            headers=responder.headers,
            body={"title": title, "service_id": service["id"], "severity": "low"},
        )
        assert got.status == 422
        assert got.json["error"]["details"]["fields"][0]["field"] == "title"
        assert reason in got.json["error"]["message"]


def test_unknown_service_and_bad_severity_name_the_field(responder: Session) -> None:
    got = call_api(
        "POST",
        "/incidents",
        headers=responder.headers,
        body={"title": "Disk full on db-1", "service_id": "nope", "severity": "high"},
    )
    assert got.status == 422 and got.json["error"]["details"]["fields"][0]["field"] == "service_id"
    got = call_api(
        "POST",
        "/incidents",
        headers=responder.headers,
        body={"title": "Disk full on db-1", "service_id": "nope", "severity": "urgent"},
    )
    assert got.status == 422 and got.json["error"]["details"]["fields"][0]["field"] == "severity"


def test_lifecycle_moves_and_illegal_ones_are_409_with_current_status(
    responder: Session, service: dict[str, Any], clock: FakeClock
) -> None:
    inc = open_incident(responder.headers, service["id"])
    path = f"/incidents/{inc['id']}"
    bad = call_api("POST", f"{path}/close", headers=responder.headers)
    assert bad.status == 409
    assert bad.json["error"]["code"] == "illegal_transition"
    assert bad.json["error"]["details"]["current_status"] == "triggered"
    clock.advance(30)
    acked = ok(call_api("POST", f"{path}/acknowledge", headers=responder.headers))
    assert acked["status"] == "acknowledged" and acked["mtta_seconds"] == 30
    again = call_api("POST", f"{path}/acknowledge", headers=responder.headers)
    assert again.status == 409 and again.json["error"]["details"]["current_status"] == "acknowledged"
    assert ok(call_api("POST", f"{path}/unacknowledge", headers=responder.headers))["status"] == "triggered"
    clock.advance(15)
    assert ok(call_api("POST", f"{path}/acknowledge", headers=responder.headers))["mtta_seconds"] == 30
    clock.advance(100)
    resolved = ok(call_api("POST", f"{path}/resolve", headers=responder.headers))
    assert resolved["status"] == "resolved" and resolved["mttr_seconds"] == 145
    reopened = ok(call_api("POST", f"{path}/reopen", headers=responder.headers))
    assert reopened["status"] == "triggered" and reopened["generation"] == 2
    assert reopened["mttr_seconds"] is None and reopened["mtta_seconds"] is None
    ok(call_api("POST", f"{path}/resolve", headers=responder.headers))
    closed = ok(call_api("POST", f"{path}/close", headers=responder.headers))
    assert closed["status"] == "closed"
    assert (
        call_api("POST", f"{path}/reopen", headers=responder.headers).json["error"]["details"]["current_status"]
        == "closed"
    )
    timeline = ok(call_api("GET", f"{path}/timeline", headers=responder.headers))["items"]
    moves = [e["kind"] for e in timeline if e["kind"] != "triggered"]
    assert moves == ["acknowledge", "unacknowledge", "acknowledge", "resolve", "reopen", "resolve", "close"]
    versions = [e["data"]["version"] for e in timeline if "version" in e["data"]]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_events_go_to_the_outbox_with_increasing_versions(
    aws: dict[str, str], responder: Session, service: dict[str, Any]
) -> None:
    import boto3

    inc = open_incident(responder.headers, service["id"])
    for action in ("acknowledge", "resolve", "reopen"):
        ok(call_api("POST", f"/incidents/{inc['id']}/{action}", headers=responder.headers))
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    items = ddb.query(
        TableName=aws["ONCALL_TABLE_OUTBOX"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"incident#{inc['id']}"}},
    )["Items"]
    got = [(i["detail_type"]["S"], int(i["version"]["N"])) for i in items]
    assert got == [
        ("incident.triggered", 1),
        ("incident.acknowledged", 2),
        ("incident.resolved", 3),
        ("incident.reopened", 4),
    ]


def test_patch_and_notes(admin: Session, responder: Session, service: dict[str, Any]) -> None:
    inc = open_incident(responder.headers, service["id"])
    path = f"/incidents/{inc['id']}"
    patched = ok(
        call_api(
            "PATCH",
            path,
            headers=responder.headers,
            body={"title": "Checkout 502 for EU cards", "severity": "critical", "assignee_id": admin.user.id},
        )
    )
    assert (patched["title"], patched["severity"], patched["assignee_id"]) == (
        "Checkout 502 for EU cards",
        "critical",
        admin.user.id,
    )
    assert patched["version"] == 2
    bad = call_api("PATCH", path, headers=responder.headers, body={"title": "test"})
    assert bad.status == 422
    bad = call_api("PATCH", path, headers=responder.headers, body={"assignee_id": "ghost"})
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "assignee_id"
    note = ok(call_api("POST", f"{path}/notes", headers=responder.headers, body={"text": "rolled back v42"}), 201)
    assert note["kind"] == "note" and note["actor_id"] == responder.user.id
    kinds = [e["kind"] for e in ok(call_api("GET", f"{path}/timeline", headers=responder.headers))["items"]]
    assert kinds.count("updated") == 2 and kinds.count("reassigned") == 1 and kinds[-1] == "note"


def test_viewers_read_but_cannot_act(responder: Session, service: dict[str, Any]) -> None:
    viewer = login_as("viewer")
    inc = open_incident(responder.headers, service["id"])
    assert call_api("GET", f"/incidents/{inc['id']}", headers=viewer.headers).status == 200
    assert call_api("POST", f"/incidents/{inc['id']}/acknowledge", headers=viewer.headers).status == 403
    assert call_api("GET", f"/incidents/{inc['id']}").status == 401


def test_list_filters_and_cursor_pagination(
    admin: Session, responder: Session, service: dict[str, Any], clock: FakeClock
) -> None:
    other = make_service(admin.headers, service["escalation_policy_id"], name="search")
    made = []
    sev = itertools.cycle(["critical", "high", "medium", "low"])
    for i in range(12):
        clock.advance(60)
        svc = service if i % 3 else other
        made.append(open_incident(responder.headers, svc["id"], title=f"Incident number {i}", severity=next(sev)))
    for inc in made[:4]:
        ok(call_api("POST", f"/incidents/{inc['id']}/acknowledge", headers=responder.headers))

    def collect(query: str, limit: int = 5) -> list[str]:
        ids: list[str] = []
        cursor = None
        for _ in range(20):
            q = f"/incidents?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
            page = ok(call_api("GET", q, headers=responder.headers))
            assert len(page["items"]) <= limit
            ids += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return ids
        raise AssertionError("pagination did not end")

    newest_first = [i["id"] for i in reversed(made)]
    assert collect("") == newest_first
    assert collect("&status=acknowledged", 3) == [i["id"] for i in reversed(made[:4])]
    assert collect(f"&service_id={other['id']}", 2) == [
        i["id"] for i in reversed(made) if i["service_id"] == other["id"]
    ]
    assert collect("&severity=critical&status=triggered", 1) == [
        i["id"] for i in reversed(made[4:]) if i["severity"] == "critical"
    ]
    window_from = (START + timedelta(minutes=3)).isoformat()
    window_to = (START + timedelta(minutes=6)).isoformat()
    assert collect(f"&created_from={window_from}&created_to={window_to}".replace("+", "%2B"), 2) == [
        i["id"] for i in reversed(made[2:6])
    ]
    assert collect("&source=operator") == newest_first
    assert collect("&source=grafana") == []
    bad = call_api("GET", "/incidents?status=open", headers=responder.headers)
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "status"


def test_services_keys_are_hashed_and_rotation_overlaps(admin: Session, responder: Session, clock: FakeClock) -> None:
    from oncall.domain.services_catalog import key_hash

    policy = make_policy(admin.headers, [user_level(responder.user.id, 30)], repeat=1)
    created = make_service(admin.headers, policy["id"])
    key = created["integration_key"]
    assert len(key) == 32 and key.isalnum()
    read = ok(call_api("GET", f"/services/{created['id']}", headers=responder.headers))
    assert read.get("integration_key") is None
    catalog = wiring.incidents.catalog_service()
    assert catalog.store.get_service(created["id"]).key_hash == key_hash(key)  # type: ignore[union-attr]
    assert catalog.service_for_key(key).id == created["id"]  # type: ignore[union-attr]
    assert catalog.service_for_key(key[:-1] + ("a" if key[-1] != "a" else "b")) is None

    assert call_api("POST", f"/services/{created['id']}/rotate-key", headers=responder.headers).status == 403
    rotated = ok(call_api("POST", f"/services/{created['id']}/rotate-key", headers=admin.headers))
    new_key = rotated["integration_key"]
    assert new_key != key
    assert catalog.service_for_key(new_key).id == created["id"]  # type: ignore[union-attr]
    assert catalog.service_for_key(key).id == created["id"]  # type: ignore[union-attr]  # within the overlap
    clock.advance(ROTATION_OVERLAP.total_seconds() + 1)
    assert catalog.service_for_key(key) is None
    assert catalog.service_for_key(new_key) is not None
    # this warm catalog remembers which service the key is for; a deleted service still refuses it at once
    from tests.support.identity import login_as

    assert call_api("DELETE", f"/services/{created['id']}", headers=login_as("admin").headers).status == 204
    assert catalog.service_for_key(new_key) is None


def test_policy_crud_validation_and_in_use(admin: Session, responder: Session) -> None:
    bad = call_api(
        "POST",
        "/escalation-policies",
        headers=admin.headers,
        body={"name": "p", "levels": [{"targets": [{"type": "user", "id": "ghost"}], "timeout_seconds": 5}]},
    )
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "levels[0].targets[0].id"
    bad = call_api(
        "POST",
        "/escalation-policies",
        headers=admin.headers,
        body={"name": "p", "levels": [{"targets": [], "timeout_seconds": 5}]},
    )
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"].startswith("levels[0].targets")
    policy = make_policy(admin.headers, [user_level(responder.user.id, 30)], ack_timeout_seconds=600)
    assert policy["ack_timeout_seconds"] == 600
    patched = ok(
        call_api(
            "PATCH",
            f"/escalation-policies/{policy['id']}",
            headers=admin.headers,
            body={"repeat": 2, "levels": [user_level(responder.user.id, 45), user_level(admin.user.id, 90)]},
        )
    )
    assert patched["repeat"] == 2 and [lv["timeout_seconds"] for lv in patched["levels"]] == [45, 90]
    for field in ("name", "levels", "repeat", "auto_close_seconds"):
        cleared = call_api("PATCH", f"/escalation-policies/{policy['id']}", headers=admin.headers, body={field: None})
        assert cleared.status == 422 and cleared.json["error"]["details"]["fields"][0]["field"] == field
    listed = ok(call_api("GET", "/escalation-policies", headers=responder.headers))
    assert [p["id"] for p in listed["items"]] == [policy["id"]]
    service = make_service(admin.headers, policy["id"])
    cleared = call_api("PATCH", f"/services/{service['id']}", headers=admin.headers, body={"name": None})
    assert cleared.status == 422 and cleared.json["error"]["details"]["fields"][0]["field"] == "name"
    renamed = ok(call_api("PATCH", f"/services/{service['id']}", headers=admin.headers, body={"name": "Payments API"}))
    assert renamed["name"] == "Payments API" and renamed["version"] == 2
    in_use = call_api("DELETE", f"/escalation-policies/{policy['id']}", headers=admin.headers)
    assert in_use.status == 409 and in_use.json["error"]["details"]["services"] == [service["id"]]
    assert call_api("DELETE", f"/services/{service['id']}", headers=admin.headers).status == 204
    assert call_api("DELETE", f"/escalation-policies/{policy['id']}", headers=admin.headers).status == 204
    assert call_api("GET", f"/escalation-policies/{policy['id']}", headers=admin.headers).status == 404
    assert (
        call_api(
            "POST",
            "/escalation-policies",
            headers=responder.headers,
            body={"name": "x", "levels": [user_level(responder.user.id, 5)]},
        ).status
        == 403
    )


def test_analytics_summary_mtta_mttr_to_the_second(
    responder: Session, service: dict[str, Any], clock: FakeClock
) -> None:
    durations = [(10, 70), (20, 200), (30, 90), (40, 400)]
    for ack_after, resolve_after in durations:
        responder = login_as("responder")  # the fake clock runs past access-token lifetimes
        inc = open_incident(responder.headers, service["id"])
        t0 = clock.now
        clock.now = t0 + timedelta(seconds=ack_after)
        ok(call_api("POST", f"/incidents/{inc['id']}/acknowledge", headers=responder.headers))
        clock.now = t0 + timedelta(seconds=resolve_after)
        ok(call_api("POST", f"/incidents/{inc['id']}/resolve", headers=responder.headers))
        clock.advance(600)
    responder = login_as("responder")
    open_incident(responder.headers, service["id"])  # still open: counted, no MTTA/MTTR
    count_events()  # what the stats function does with the bus's incident events
    q = f"/analytics/summary?from={START.isoformat()}&to={(clock.now + timedelta(hours=1)).isoformat()}"
    got = ok(call_api("GET", q.replace("+", "%2B"), headers=responder.headers))
    assert got["count"] == 5
    assert got["by_status"]["resolved"] == 4 and got["by_status"]["triggered"] == 1
    assert got["mtta"] == {"count": 4, "mean_seconds": 25.0, "p50_seconds": 20.0, "p90_seconds": 40.0}
    assert got["mttr"] == {"count": 4, "mean_seconds": 190.0, "p50_seconds": 90.0, "p90_seconds": 400.0}


def test_trends_and_mttr_distribution(responder: Session, service: dict[str, Any], clock: FakeClock) -> None:
    for minutes in (10, 130):
        clock.now = START + timedelta(minutes=minutes)
        responder = login_as("responder")  # the fake clock runs past access-token lifetimes
        inc = open_incident(responder.headers, service["id"])
        clock.advance(400)
        ok(call_api("POST", f"/incidents/{inc['id']}/resolve", headers=responder.headers))
    clock.now = START + timedelta(hours=4)
    responder = login_as("responder")
    count_events()
    trends = ok(call_api("GET", "/analytics/trends?period=4h&bucket=1h", headers=responder.headers))
    assert trends["bucket_seconds"] == 3600
    assert [b["count"] for b in trends["items"]] == [1, 0, 1, 0]
    assert trends["items"][0]["mttr_mean_seconds"] == 400.0
    bad = call_api("GET", "/analytics/trends?period=4h&bucket=1x", headers=responder.headers)
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "bucket"
    dist = ok(call_api("GET", "/analytics/mttr-distribution", headers=responder.headers))
    assert [b["count"] for b in dist["items"]] == [0, 2, 0, 0, 0, 0]


def test_create_honours_idempotency_key(responder: Session, service: dict[str, Any]) -> None:
    headers = {**responder.headers, "idempotency-key": "create-incident-1"}
    body = {"title": "Checkout returns 502", "service_id": service["id"], "severity": "high"}
    first = call_api("POST", "/incidents", headers=headers, body=body)
    again = call_api("POST", "/incidents", headers=headers, body=body)
    assert first.status == again.status == 201
    assert first.json["id"] == again.json["id"]
    assert again.header("Idempotent-Replayed") == "true"
    listed = ok(call_api("GET", "/incidents", headers=responder.headers))
    assert [i["id"] for i in listed["items"]] == [first.json["id"]]
