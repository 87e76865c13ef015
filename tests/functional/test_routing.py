"""Alert routing through the real API handler on the emulated tables: maintenance windows, silences, event rules,
the dry run and urgency on what intake stores; hostile regexes and bad bodies refused by field."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncall.domain.users import Role
from tests.support.alerts import alertmanager_body, incident_metas, items, new_service, pd_body, sample
from tests.support.identity import FakeClock, Session, login_as
from tests.support.incidents import ok
from tests.support.lambdas import HttpResult, call_api, call_as

START = datetime(2026, 11, 22, 2, 16, 40, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture(autouse=True)
def fresh_silences(monkeypatch: pytest.MonkeyPatch) -> None:
    # intake reads silences afresh here (its cache is measured in bench/alerts.py and documented)
    monkeypatch.setenv("ONCALL_ALERTS_SILENCE_CACHE_SECONDS", "0")


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def alertmanager(key: str, body: dict[str, Any]) -> HttpResult:
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    return call_api("POST", "/integrations/alertmanager", headers=headers, body=json.dumps(body))


def am_alert(name: str, fingerprint: str, **labels: str) -> dict[str, Any]:
    body = alertmanager_body("firing")
    alert = dict(body["alerts"][0])
    alert["fingerprint"] = fingerprint
    alert["labels"] = {"alertname": name, **labels}
    alert["annotations"] = {"summary": f"{name} on {labels.get('instance', '?')}"}
    body["alerts"] = [alert]
    body["groupKey"] = f'{{}}:{{alertname="{name}", fingerprint="{fingerprint}"}}'
    return body


def results(got: HttpResult) -> list[str]:
    assert got.status == 200, got.raw
    return [r["result"] for r in got.json["results"]]


def enqueue(body: dict[str, Any]) -> HttpResult:
    return call_api("POST", "/v2/enqueue", body=body)


def test_an_alert_during_a_maintenance_window_opens_nothing_is_listed_and_after_the_window_it_pages(
    admin: Session, clock: FakeClock
) -> None:
    service_id, key = new_service(admin, login_as(Role.RESPONDER))
    window = ok(
        call_as(
            admin,
            "POST",
            f"/services/{service_id}/maintenance-windows",
            {"start": iso(START - timedelta(minutes=1)), "end": "2026-11-22T04:16:40+01:00", "reason": "db upgrade"},
        ),
        201,
    )
    assert window["state"] == "in_progress" and window["end"] == "2026-11-22T03:16:40Z"
    assert window["service_ids"] == [service_id]

    got = alertmanager(key, am_alert("DiskFull", "f1", instance="db-1"))
    assert results(got) == ["suppressed"] and "db upgrade" in got.json["results"][0]["reason"]
    assert enqueue(pd_body("trigger", key, dedup_key="pd-1")).status == 202
    assert incident_metas() == []

    listed = ok(call_as(admin, "GET", f"/alerts?service_id={service_id}&outcome=suppressed"))["items"]
    assert [a["summary"] for a in listed][1] == "DiskFull on db-1"
    assert {a["decision"]["suppressed"]["kind"] for a in listed} == {"maintenance"}
    assert listed[1]["labels"]["instance"] == "db-1" and listed[1]["decision"]["suppressed"]["id"] == window["id"]
    summary = ok(call_as(admin, "GET", "/analytics/summary"))
    assert summary["alerts_suppressed"] == {"suppressed": 2, "maintenance": 2}

    # ended early: the same alert now opens an incident (and its resolve finds it)
    assert call_as(admin, "DELETE", f"/services/{service_id}/maintenance-windows/{window['id']}").status == 204
    windows = ok(call_as(admin, "GET", f"/services/{service_id}/maintenance-windows"))["items"]
    assert [w["state"] for w in windows] == ["ended"]
    assert results(alertmanager(key, am_alert("DiskFull", "f1", instance="db-1"))) == ["created"]
    assert len(incident_metas()) == 1


def test_a_window_over_several_services_and_one_scheduled_ahead(admin: Session, clock: FakeClock) -> None:
    responder = login_as(Role.RESPONDER)
    (a, key_a), (b, key_b) = new_service(admin, responder, "api"), new_service(admin, responder, "web")
    later = ok(
        call_as(
            admin,
            "POST",
            "/maintenance-windows",
            {
                "service_ids": [a, b],
                "start": iso(START + timedelta(hours=1)),
                "end": iso(START + timedelta(hours=2)),
                "reason": "network change",
            },
        ),
        201,
    )
    assert later["state"] == "scheduled" and later["service_ids"] == [a, b]
    assert results(alertmanager(key_a, am_alert("Down", "x1"))) == ["created"]
    clock.advance(3600 + 60)
    assert results(alertmanager(key_b, am_alert("Down", "x2"))) == ["suppressed"]
    assert results(alertmanager(key_a, am_alert("Other", "x3"))) == ["suppressed"]
    clock.advance(3600)
    assert results(alertmanager(key_b, am_alert("Down", "x2"))) == ["created"]

    # bad windows are refused by field and change nothing
    admin, responder = login_as(Role.ADMIN), login_as(Role.RESPONDER)
    bad = call_as(
        admin, "POST", f"/services/{a}/maintenance-windows", {"start": iso(START), "end": iso(START), "reason": "x"}
    )
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "end"
    naive = call_as(
        admin,
        "POST",
        f"/services/{a}/maintenance-windows",
        {"start": "2030-01-01T10:00:00", "end": "2030-01-01T11:00:00", "reason": "x"},
    )
    assert naive.status == 422 and naive.json["error"]["details"]["fields"][0]["field"] == "start"
    unknown = call_as(
        admin,
        "POST",
        "/maintenance-windows",
        {"service_ids": [a, "nope"], "start": iso(clock()), "end": iso(clock() + timedelta(hours=1)), "reason": "x"},
    )
    assert unknown.status == 422 and unknown.json["error"]["details"]["fields"][0]["field"] == "service_ids[1]"
    # a responder of the team reads windows but may not make one
    assert call_as(responder, "GET", f"/services/{a}/maintenance-windows").status == 200
    assert (
        call_as(
            responder,
            "POST",
            f"/services/{a}/maintenance-windows",
            {"start": iso(clock()), "end": iso(clock() + timedelta(hours=1)), "reason": "x"},
        ).status
        == 403
    )


def test_silences_match_labels_from_every_source_and_only_their_teams_services(
    admin: Session, clock: FakeClock
) -> None:
    responder = login_as(Role.RESPONDER)
    service_id, key = new_service(admin, responder)
    ends = iso(START + timedelta(hours=2))
    silence = ok(
        call_as(
            admin,
            "POST",
            "/silences",
            {
                "matchers": [
                    {"name": "instance", "op": "=~", "value": "db-[0-9]+"},
                    {"name": "env", "op": "!=", "value": "prod"},
                ],
                "ends_at": ends,
                "comment": "db migration",
            },
        ),
        201,
    )
    assert silence["state"] == "active" and silence["team_id"] == "default" and silence["created_by"] == admin.user.id

    # Alertmanager labels: db-1 (env unset) is silenced, db-1 in prod and web-1 are not
    got = alertmanager(key, am_alert("DiskFull", "s1", instance="db-1"))
    assert results(got) == ["suppressed"] and got.json["results"][0]["reason"] == "silenced: db migration"
    assert results(alertmanager(key, am_alert("DiskFull", "s2", instance="db-1", env="prod"))) == ["created"]
    assert results(alertmanager(key, am_alert("DiskFull", "s3", instance="web-1"))) == ["created"]
    # PagerDuty's custom_details are labels too; an anchored regex does not match a longer value
    pd = pd_body("trigger", key, dedup_key="pd-db")
    pd["payload"]["custom_details"] = {"instance": "db-7"}
    assert enqueue(pd).status == 202
    pd2 = pd_body("trigger", key, dedup_key="pd-db-long")
    pd2["payload"]["custom_details"] = {"instance": "db-7-replica"}
    assert enqueue(pd2).status == 202
    suppressed = ok(call_as(admin, "GET", f"/alerts?service_id={service_id}"))["items"]
    assert sorted(a["dedup_key"] for a in suppressed) == ["pd-db", "s1"]
    assert len(incident_metas()) == 3

    # another team's silence does not touch this team's alerts
    other = ok(call_as(admin, "POST", "/teams", {"name": "Search"}), 201)["id"]
    ok(
        call_as(
            admin,
            "POST",
            "/silences",
            {
                "team_id": other,
                "matchers": [{"name": "alertname", "value": "Noisy"}],
                "ends_at": ends,
                "comment": "theirs",
            },
        ),
        201,
    )
    assert results(alertmanager(key, am_alert("Noisy", "s4"))) == ["created"]

    # expired early: the next matching alert opens an incident
    assert call_as(admin, "DELETE", f"/silences/{silence['id']}").status == 204
    assert ok(call_as(admin, "GET", f"/silences/{silence['id']}"))["state"] == "expired"
    assert results(alertmanager(key, am_alert("DiskFull", "s5", instance="db-2"))) == ["created"]
    assert [s["id"] for s in ok(call_as(admin, "GET", "/silences?state=expired"))["items"]] == [silence["id"]]
    # the responder reads silences but may not make one
    assert call_as(responder, "GET", f"/silences/{silence['id']}").status == 200
    assert (
        call_as(
            responder, "POST", "/silences", {"matchers": [{"name": "a", "value": "b"}], "ends_at": ends, "comment": "x"}
        ).status
        == 403
    )


@pytest.mark.parametrize(
    ("matchers", "field"),
    [
        ([{"name": "instance", "op": "=~", "value": "(unclosed"}], "matchers[0].value"),
        ([{"name": "instance", "op": "=~", "value": ".*"}], "matchers"),
        ([{"name": "instance", "op": "!=", "value": "x"}], "matchers"),
        ([{"name": "x", "op": "=~", "value": "a{1001}"}], "matchers[0].value"),
        ([{"name": "x", "op": "~", "value": "a"}], "matchers[0].op"),
        ([], "matchers"),
    ],
)
def test_invalid_matchers_are_422_naming_the_field(
    admin: Session, clock: FakeClock, matchers: list[dict[str, str]], field: str
) -> None:
    got = call_as(
        admin, "POST", "/silences", {"matchers": matchers, "ends_at": iso(START + timedelta(hours=1)), "comment": "c"}
    )
    assert got.status == 422, got.raw
    named = [f["field"] for f in got.json["error"]["details"].get("fields", [])] or [
        ".".join(str(p) for p in e["loc"]) for e in got.json["error"]["details"].get("errors", [])
    ]
    assert any(field in n or n.endswith(field.split(".")[0]) for n in named), (named, got.raw)
    assert not items("catalog", "SILENCES")


def test_a_hostile_regex_is_evaluated_in_bounded_time(admin: Session, clock: FakeClock) -> None:
    _service_id, key = new_service(admin, login_as(Role.RESPONDER))
    ok(
        call_as(
            admin,
            "POST",
            "/silences",
            {
                "matchers": [{"name": "payload", "op": "=~", "value": "(a+)+$"}],
                "ends_at": iso(START + timedelta(hours=1)),
                "comment": "evil",
            },
        ),
        201,
    )
    hostile = "a" * 1000 + "!"  # a backtracking engine takes 2^1000 steps on this
    started = time.perf_counter()
    got = alertmanager(key, am_alert("Evil", "e1", payload=hostile))
    elapsed = time.perf_counter() - started
    assert results(got) == ["created"]  # "!" keeps it from matching
    assert elapsed < 5, elapsed  # the whole request; RE2's evaluation itself is linear (microseconds here)
    from oncall.domain.routing import full_match

    started = time.perf_counter()
    for _ in range(100):
        assert not full_match("(a+)+$", "a" * 100_000 + "!")
    assert time.perf_counter() - started < 2


def rules(admin: Session, service_id: str, body: list[dict[str, Any]]) -> HttpResult:
    return call_as(admin, "PUT", f"/services/{service_id}/event-rules", {"rules": body})


def test_event_rules_rewrite_route_and_suppress_on_stored_state(admin: Session, clock: FakeClock) -> None:
    responder = login_as(Role.RESPONDER)
    front, key = new_service(admin, responder, "front")
    db, _ = new_service(admin, responder, "database")
    set_ = rules(
        admin,
        front,
        [
            {
                "name": "drop heartbeats",
                "conditions": [{"field": "summary", "op": "contains", "value": "heartbeat"}],
                "actions": {"suppress": True},
            },
            {
                "name": "db goes to the db team",
                "conditions": [{"field": "labels.component", "op": "matches", "value": "postgres|mysql"}],
                "actions": {"route_to": db, "note": "routed by component", "tags": ["db"]},
                "continue": True,
            },
            {
                "name": "warnings are low",
                "conditions": [{"field": "severity", "op": "equals", "value": "medium"}],
                "actions": {"severity": "low", "urgency": "low"},
            },
            {
                "name": "one incident per host",
                "conditions": [{"field": "labels.host", "op": "exists"}],
                "actions": {"dedup_key_from": "labels.host"},
            },
        ],
    )
    body = ok(set_)
    assert next(r["name"] for r in body["rules"]) == "drop heartbeats" and all(r["id"] for r in body["rules"])

    hb = alertmanager(key, am_alert("heartbeat", "h1"))
    assert results(hb) == ["suppressed"] and "drop heartbeats" in hb.json["results"][0]["reason"]

    pd = pd_body("trigger", key, dedup_key="pg-1")
    pd["payload"].update({"summary": "replication lag", "severity": "warning", "component": "postgres"})
    assert enqueue(pd).status == 202
    [meta] = incident_metas()
    incident = ok(call_as(admin, "GET", f"/incidents/{meta['id']['S']}"))
    assert incident["service_id"] == db and incident["severity"] == "low" and incident["urgency"] == "low"
    line = next(
        e for e in ok(call_as(admin, "GET", f"/incidents/{incident['id']}/timeline"))["items"] if e["kind"] == "alert"
    )
    assert line["data"]["routing"]["routed_from"] == front and line["data"]["routing"]["notes"] == [
        "routed by component"
    ]
    assert line["data"]["routing"]["tags"] == ["db"] and len(line["data"]["routing"]["rules"]) == 2
    # its resolve carries no payload (PagerDuty's), yet it finds the incident the rule sent its trigger to
    assert enqueue(pd_body("resolve", key, dedup_key="pg-1")).status == 202
    assert ok(call_as(admin, "GET", f"/incidents/{incident['id']}"))["status"] == "resolved"

    # two alerts of one host become one incident through dedup_key_from
    for fp in ("h-a", "h-b"):
        alertmanager(key, am_alert(f"Check{fp}", fp, host="web-9"))
    assert len([m for m in incident_metas() if m["service_id"]["S"] == front]) == 1

    bad = rules(
        admin,
        front,
        [{"conditions": [{"field": "labels.", "op": "equals", "value": "x"}], "actions": {"suppress": True}}],
    )
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "rules[0].conditions[0].field"
    for broken, field in [
        ({"actions": {}}, "rules[0].actions"),
        ({"actions": {"route_to": "nope"}}, "rules[0].actions.route_to"),
        ({"actions": {"severity": "huge"}}, "rules[0].actions.severity"),
        ({"actions": {"explode": True}}, "rules[0].actions.explode"),
        (
            {"conditions": [{"field": "summary", "op": "matches", "value": "(("}], "actions": {"suppress": True}},
            "rules[0].conditions[0].value",
        ),
        (
            {"time": {"time_zone": "Mars/Olympus", "from": "09:00", "to": "17:00"}, "actions": {"suppress": True}},
            "rules[0].time.time_zone",
        ),
    ]:
        got = rules(admin, front, [broken])
        assert got.status == 422 and got.json["error"]["details"]["fields"][0]["field"] == field, got.raw
    assert len(ok(call_as(admin, "GET", f"/services/{front}/event-rules"))["rules"]) == 4


def test_the_dry_run_reads_source_payloads_as_intake_does_and_writes_nothing(admin: Session, clock: FakeClock) -> None:
    service_id, _key = new_service(admin, login_as(Role.RESPONDER))
    ok(
        rules(
            admin,
            service_id,
            [
                {
                    "conditions": [{"field": "labels.alertname", "op": "equals", "value": "Watchdog"}],
                    "actions": {"suppress": True},
                }
            ],
        )
    )
    body = am_alert("Watchdog", "w1")
    got = ok(
        call_as(admin, "POST", f"/services/{service_id}/event-rules:test", {"source": "alertmanager", "payload": body})
    )
    [result] = got["results"]
    assert result["outcome"] == "suppressed" and result["suppressed"]["kind"] == "rule"
    assert result["alert"]["labels"]["alertname"] == "Watchdog"
    simple = ok(
        call_as(
            admin,
            "POST",
            f"/services/{service_id}/event-rules:test",
            {"alert": {"summary": "x", "labels": {"alertname": "Other"}}},
        )
    )
    assert simple["results"][0]["outcome"] == "pages" and simple["results"][0]["matched_rules"] == []
    assert incident_metas() == [] and not items("alerts", "SUPPRESSED#")
    # every source the dry run names reads its own sample: the EventBridge ones as the events they arrive as
    for source, name in [
        ("cloudwatch", "cloudwatch-alarm-state-change-alarm.json"),
        ("custom", "oncall-alerts-custom-event.json"),
        ("pagerduty", "pagerduty-client-7.2-trigger.json"),
        ("grafana", "grafana-unified-alerting-firing.json"),
    ]:
        sampled = sample(name)
        payload = sampled.get("body", sampled) if source in ("pagerduty", "grafana") else sampled
        tried = call_as(
            admin, "POST", f"/services/{service_id}/event-rules:test", {"source": source, "payload": payload}
        )
        assert tried.status == 200 and tried.json["results"], (source, tried.raw[:300])
        assert all(r["outcome"] == "pages" and r["alert"]["summary"] for r in tried.json["results"]), source
    bad = call_as(admin, "POST", f"/services/{service_id}/event-rules:test", {"source": "pagerduty", "payload": {}})
    assert bad.status == 422
    assert call_as(admin, "POST", f"/services/{service_id}/event-rules:test", {}).status == 422


def test_urgency_rules_are_validated_and_decide_each_incident(admin: Session, clock: FakeClock) -> None:
    service_id, key = new_service(admin, login_as(Role.RESPONDER))
    # 02:16 UTC on a Sunday is outside 09:00-17:00 Berlin on weekdays
    set_ = call_as(
        admin,
        "PUT",
        f"/services/{service_id}/urgency",
        {
            "mode": "support_hours",
            "support_hours": {
                "time_zone": "Europe/Berlin",
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "from": "09:00",
                "to": "17:00",
            },
            "raise_at_support_hours_start": True,
        },
    )
    assert ok(set_)["mode"] == "support_hours"
    assert enqueue(pd_body("trigger", key, dedup_key="u-1")).status == 202
    [meta] = incident_metas()
    incident = ok(call_as(admin, "GET", f"/incidents/{meta['id']['S']}"))
    assert incident["urgency"] == "low"
    stored = {k: v for k, v in meta.items() if k in ("urgency", "raise_at")}
    # raised on Monday 09:00 Berlin = 08:00 UTC
    assert stored["urgency"]["S"] == "low" and stored["raise_at"]["S"].startswith("2026-11-23T08:00:00")
    bad = call_as(admin, "PUT", f"/services/{service_id}/urgency", {"mode": "support_hours"})
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "support_hours"
    bad = call_as(
        admin,
        "PUT",
        f"/services/{service_id}/urgency",
        {
            "mode": "support_hours",
            "support_hours": {"time_zone": "Europe/Berlin", "days": ["mon"], "from": "25:00", "to": "17:00"},
        },
    )
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "support_hours.from"
    ok(
        call_as(
            admin, "PUT", f"/services/{service_id}/urgency", {"mode": "by_severity", "high_severities": ["critical"]}
        )
    )
    crit = pd_body("trigger", key, dedup_key="u-2")
    crit["payload"]["severity"] = "critical"
    assert enqueue(crit).status == 202
    newest = max(incident_metas(), key=lambda m: m["created_at"]["S"] + m["id"]["S"])
    assert ok(call_as(admin, "GET", f"/incidents/{newest['id']['S']}"))["urgency"] == "high"
    routing = ok(call_as(admin, "GET", f"/services/{service_id}/routing"))
    assert routing["urgency"] == {"mode": "by_severity", "high_severities": ["critical"]} and routing["version"] == 2


def test_a_routing_change_made_by_another_function_applies_to_the_next_alert(admin: Session, clock: FakeClock) -> None:
    """The service read intake makes anyway carries the routing version: a warm function's cached copy is used only
    while it is current, so a change made elsewhere applies to the very next alert."""
    from oncall import wiring
    from oncall.adapters.dynamodb.routing import DynamoRoutingStore
    from oncall.services.incidents import new_id
    from oncall.services.routing import RoutingService
    from oncall.settings import get_settings

    service_id, key = new_service(admin, login_as(Role.RESPONDER))
    old = [
        {"conditions": [{"field": "labels.alertname", "op": "equals", "value": "Old"}], "actions": {"suppress": True}}
    ]
    ok(rules(admin, service_id, old))
    assert results(alertmanager(key, am_alert("Flap", "c1"))) == ["created"]  # this function now caches version 1
    settings = get_settings()
    elsewhere = RoutingService(
        DynamoRoutingStore(settings.table("catalog"), settings.table("alerts")),
        wiring.incidents.catalog_store(),
        clock,
        new_id,
    )
    flap = [
        {"conditions": [{"field": "labels.alertname", "op": "equals", "value": "Flap"}], "actions": {"suppress": True}}
    ]
    elsewhere.set_rules(admin.user, service_id, flap)
    assert results(alertmanager(key, am_alert("Flap", "c2"))) == ["suppressed"]


LABEL_VALUES = st.sampled_from(["db-1", "db-22", "web-1", "staging", "prod", "", "heartbeat", "x" * 40])
SEVERITY_LABELS = st.sampled_from(["critical", "error", "warning", "info", "page"])


@st.composite
def payload_alerts(draw: st.DrawFn) -> dict[str, Any]:
    labels = {
        name: draw(LABEL_VALUES)
        for name in draw(st.lists(st.sampled_from(["instance", "env", "host", "team"]), unique=True, max_size=4))
    }
    labels["alertname"] = draw(st.sampled_from(["DiskFull", "HighLatency", "Heartbeat", "Watchdog"]))
    labels["severity"] = draw(SEVERITY_LABELS)
    summary = draw(st.sampled_from(["disk full", "heartbeat missed", "p99 latency up", "replication lag"]))
    return {"labels": labels, "summary": summary}


def test_the_dry_run_agrees_with_real_processing_on_generated_payloads(admin: Session, clock: FakeClock) -> None:
    """50 generated Alertmanager payloads: each is tried with the dry run, then delivered for real; what is stored
    (suppressed with its reason, or an incident on the predicted service with the predicted severity and urgency)
    is what the dry run said."""
    responder = login_as(Role.RESPONDER)
    front, key = new_service(admin, responder, "front")
    back, _ = new_service(admin, responder, "back")
    ok(
        rules(
            admin,
            front,
            [
                {
                    "conditions": [{"field": "summary", "op": "contains", "value": "heartbeat"}],
                    "actions": {"suppress": True},
                },
                {
                    "conditions": [{"field": "labels.instance", "op": "matches", "value": "db-[0-9]+"}],
                    "actions": {"route_to": back, "severity": "critical"},
                    "continue": True,
                },
                {
                    "conditions": [{"field": "labels.env", "op": "equals", "value": "staging"}],
                    "actions": {"urgency": "low", "severity": "low"},
                },
                {
                    "conditions": [{"field": "severity", "op": "equals", "value": "medium"}],
                    "actions": {"urgency": "low"},
                },
            ],
        )
    )
    ok(
        call_as(
            admin,
            "POST",
            "/silences",
            {
                "matchers": [{"name": "alertname", "value": "Watchdog"}],
                "ends_at": iso(START + timedelta(days=1)),
                "comment": "always firing",
            },
        ),
        201,
    )
    ok(call_as(admin, "PUT", f"/services/{back}/urgency", {"mode": "by_severity", "high_severities": ["critical"]}))
    seen = iter(range(10_000))

    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(drawn=payload_alerts())
    def agree(drawn: dict[str, Any]) -> None:
        n = next(seen)
        body = am_alert(
            drawn["labels"]["alertname"], f"gen-{n}", **{k: v for k, v in drawn["labels"].items() if k != "alertname"}
        )
        body["alerts"][0]["annotations"] = {"summary": drawn["summary"]}
        tried = ok(
            call_as(admin, "POST", f"/services/{front}/event-rules:test", {"source": "alertmanager", "payload": body})
        )
        [said] = tried["results"]
        got = alertmanager(key, body)
        [done] = got.json["results"]
        if said["suppressed"] is not None:
            assert done["result"] == "suppressed" and done["reason"] == said["suppressed"]["reason"], (said, done)
            return
        assert done["result"] in ("created", "attached"), (said, done)
        incident = ok(call_as(admin, "GET", f"/incidents/{done['incident_id']}"))
        assert incident["service_id"] == said["alert"]["service_id"], (said, incident)
        if done["result"] == "created":
            assert incident["severity"] == said["alert"]["severity"] and incident["urgency"] == said["urgency"]

    agree()
    outcomes = {r["decision"]["suppressed"]["kind"] for r in items_of(admin, front)}
    assert outcomes <= {"rule", "silence"}


def items_of(admin: Session, service_id: str) -> list[dict[str, Any]]:
    return list(ok(call_as(admin, "GET", f"/alerts?service_id={service_id}&limit=200"))["items"])
