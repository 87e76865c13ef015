"""Alertmanager (captured 0.25 deliveries) and Grafana webhooks through the real API handler: Bearer integration
key, one alert per entry, dedup on fingerprint, each alert's own status (the group status lies), the group's alerts
feeding one incident that resolves with its last alert, truncatedAlerts recorded, Grafana's HMAC, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from oncall import wiring
from oncall.adapters.alert_sources.grafana import signature
from oncall.settings import get_settings
from tests.support.alerts import alertmanager_body, incident_metas, items, new_service, sample
from tests.support.identity import FakeClock, Session, login_as
from tests.support.incidents import ok
from tests.support.lambdas import HttpResult, call_api

START = datetime(2026, 11, 22, 2, 16, 40, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture
def svc(admin: Session) -> tuple[str, str]:
    return new_service(admin, login_as("responder"))


def post(path: str, key: str | None, body: Any, raw: str | None = None, **headers: str) -> HttpResult:
    h = {"content-type": "application/json", "user-agent": "Alertmanager/0.25.0", **headers}
    if key is not None:
        h["authorization"] = f"Bearer {key}"
    return call_api("POST", path, headers=h, body=raw if raw is not None else json.dumps(body))


def timeline(admin: Session, incident_id: str) -> list[dict[str, Any]]:
    got = call_api("GET", f"/incidents/{incident_id}/timeline?limit=200", headers=admin.headers)
    return ok(got)["items"]  # type: ignore[no-any-return]


def incident(admin: Session, incident_id: str) -> dict[str, Any]:
    return ok(call_api("GET", f"/incidents/{incident_id}", headers=admin.headers))  # type: ignore[no-any-return]


def test_alertmanager_group_feeds_one_incident_that_resolves_with_its_last_alert(
    admin: Session, svc: tuple[str, str], clock: FakeClock
) -> None:
    service_id, key = svc
    got = post("/integrations/alertmanager", key, alertmanager_body("firing"))
    assert got.status == 200, got.raw
    assert [r["result"] for r in got.json["results"]] == ["created", "attached"]
    assert [r["dedup_key"] for r in got.json["results"]] == ["b1c11497b32ce15e", "5308e11450d376b3"]
    [meta] = incident_metas()
    inc = incident(admin, meta["id"]["S"])
    assert inc["source"] == "alertmanager" and inc["severity"] == "critical" and inc["alert_count"] == 2
    assert inc["title"] == "5xx ratio above 5% on web-1" and inc["service_id"] == service_id

    # redelivery of the same group (repeat_interval): dedup on fingerprint, still one incident
    clock.advance(60)
    again = post("/integrations/alertmanager", key, alertmanager_body("firing"))
    assert [r["result"] for r in again.json["results"]] == ["attached", "attached"]
    assert len(incident_metas()) == 1 and incident(admin, inc["id"])["alert_count"] == 4

    # group status says "firing" but web-1's own status is resolved: web-1 released, web-2 still fires
    partial = post("/integrations/alertmanager", key, alertmanager_body("partially-resolved"))
    assert [r["result"] for r in partial.json["results"]] == ["released", "attached"]
    assert incident(admin, inc["id"])["status"] == "triggered"

    done = alertmanager_body("partially-resolved")
    done["alerts"][1]["status"] = "resolved"
    done["status"] = "resolved"
    final = post("/integrations/alertmanager", key, done)
    assert [r["result"] for r in final.json["results"]] == ["dropped", "resolved"]
    assert incident(admin, inc["id"])["status"] == "resolved"

    # firing again after the resolve: a new incident
    clock.advance(60)
    assert (
        post("/integrations/alertmanager", key, alertmanager_body("firing")).json["results"][0]["result"] == "created"
    )
    assert len(incident_metas()) == 2


def test_first_resolve_policy_resolves_on_the_first_alert(
    admin: Session, svc: tuple[str, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = svc
    monkeypatch.setenv("ONCALL_ALERTS_RESOLVE_POLICY", "first")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    post("/integrations/alertmanager", key, alertmanager_body("firing"))
    got = post("/integrations/alertmanager", key, alertmanager_body("partially-resolved"))
    assert [r["result"] for r in got.json["results"]] == ["resolved", "created"]
    metas = sorted(incident_metas(), key=lambda m: m["created_at"]["S"])
    assert [m["incident_status"]["S"] for m in metas] == ["resolved", "triggered"]
    get_settings.cache_clear()


def test_truncated_alerts_are_recorded_on_the_timeline(admin: Session, svc: tuple[str, str]) -> None:
    _, key = svc
    body = alertmanager_body("firing")
    body["truncatedAlerts"] = 7
    post("/integrations/alertmanager", key, body)
    [meta] = incident_metas()
    tl = ok(call_api("GET", f"/incidents/{meta['id']['S']}/timeline", headers=admin.headers))["items"]
    alerts = [e for e in tl if e["kind"] == "alert"]
    assert alerts and all(e["data"]["details"]["truncated_alerts"] == 7 for e in alerts)
    assert json.loads(alerts[0]["data"]["raw"])["fingerprint"] == "b1c11497b32ce15e"


def _nothing_written() -> None:
    assert incident_metas() == [] and items("alerts") == [] and items("outbox") == []


def test_wrong_or_missing_key_is_401_and_writes_nothing(svc: tuple[str, str]) -> None:
    _, key = svc
    for path in ("/integrations/alertmanager", "/integrations/grafana"):
        for presented in (None, "z" * 32, key[:-1], "not a key at all"):
            got = post(path, presented, alertmanager_body("firing"))
            assert got.status == 401, (path, presented, got.raw)
            assert got.json["error"]["code"] == "unauthenticated"
    _nothing_written()


BAD: list[tuple[str, Any, str]] = [
    ("alerts missing", {"version": "4"}, "alerts must be an array"),
    ("alerts not array", {"alerts": {"a": 1}}, "alerts must be an array"),
    ("entry not object", {"alerts": ["x"]}, "alerts[0] must be an object"),
    ("bad status", {"alerts": [{"status": "pending", "labels": {"a": "b"}}]}, "alerts[0].status"),
    ("labels wrong type", {"alerts": [{"status": "firing", "labels": {"a": 1}}]}, "alerts[0].labels"),
    ("fingerprint wrong type", {"alerts": [{"status": "firing", "fingerprint": 5}]}, "alerts[0].fingerprint"),
    ("no fingerprint no labels", {"alerts": [{"status": "firing"}]}, "alerts[0] needs a fingerprint"),
    ("truncated negative", {"alerts": [], "truncatedAlerts": -1}, "truncatedAlerts"),
]


def test_malformed_deliveries_are_400_naming_the_field_and_write_nothing(svc: tuple[str, str]) -> None:
    _, key = svc
    for case, body, error in BAD:
        candidates = [(body, error)]
        if isinstance(body.get("alerts"), list) and body["alerts"]:
            # a good alert before the bad one changes nothing: the whole delivery is refused
            good = alertmanager_body("firing")["alerts"][0]
            candidates.append(({**body, "alerts": [good, *body["alerts"]]}, error.replace("alerts[0]", "alerts[1]")))
        for candidate, want in candidates:
            got = post("/integrations/alertmanager", key, candidate)
            assert got.status == 400, (case, got.raw)
            assert got.json["error"]["code"] == "invalid_event"
            assert any(want in e for e in got.json["error"]["details"]["errors"]), (case, got.json)
    for raw in ('{"alerts": [', "[]", '"x"'):
        got = post("/integrations/alertmanager", key, None, raw=raw)
        assert got.status == 400, (raw, got.raw)
    huge = alertmanager_body("firing")
    huge["alerts"][0]["annotations"]["summary"] = "x" * (4 * 1024 * 1024)
    assert post("/integrations/alertmanager", key, huge).status == 413
    _nothing_written()


def test_a_delivery_past_1000_alerts_is_applied_up_to_1000_and_the_rest_counted_as_truncated(
    admin: Session, svc: tuple[str, str]
) -> None:
    """Refusing a delivery for its size would refuse the biggest outage on every retry: past 1,000 alerts the rest
    are counted as truncated, as Alertmanager's own ``max_alerts`` does, and the group's incident still opens."""
    _, key = svc
    body = alertmanager_body("firing")
    template = body["alerts"][0]
    body["alerts"] = [{**template, "fingerprint": f"node{i:06d}"} for i in range(1200)]
    body["truncatedAlerts"] = 5  # what Alertmanager itself left out
    got = post("/integrations/alertmanager", key, body)
    assert got.status == 200, got.raw[:300]
    assert got.json["accepted"] == 1000
    assert [r["result"] for r in got.json["results"]] == ["created"] + ["attached"] * 999
    [meta] = incident_metas()
    lines = [e for e in timeline(admin, meta["id"]["S"]) if e["kind"] == "alert"]
    assert lines and all(e["data"]["details"]["truncated_alerts"] == 205 for e in lines)


def test_grafana_delivery_and_its_hmac_when_configured(
    admin: Session, svc: tuple[str, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = svc
    delivery = sample("grafana-unified-alerting-firing.json")["body"]
    got = post("/integrations/grafana", key, delivery)
    assert got.status == 200 and got.json["results"][0]["result"] == "created"
    [meta] = incident_metas()
    inc = incident(admin, meta["id"]["S"])
    assert inc["source"] == "grafana" and inc["severity"] == "medium" and inc["title"].startswith("p99 latency")

    monkeypatch.setenv("ONCALL_ALERTS_GRAFANA_HMAC_SECRET", "grafana-shared-secret")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    text = json.dumps(delivery)
    assert post("/integrations/grafana", key, None, raw=text).status == 401
    wrong = signature("another-secret", text)
    assert post("/integrations/grafana", key, None, raw=text, **{"X-Grafana-Alerting-Signature": wrong}).status == 401
    right = signature("grafana-shared-secret", text)
    assert post("/integrations/grafana", key, None, raw=text, **{"X-Grafana-Alerting-Signature": right}).status == 200
    stamped = signature("grafana-shared-secret", text, "1763777800")
    ok_stamped = post(
        "/integrations/grafana",
        key,
        None,
        raw=text,
        **{"X-Grafana-Alerting-Signature": stamped, "X-Grafana-Alerting-Signature-Timestamp": "1763777800"},
    )
    assert ok_stamped.status == 200
    assert incident(admin, inc["id"])["alert_count"] == 3
    get_settings.cache_clear()


def test_grafana_hmac_required_reads_the_secret_from_its_parameter(
    svc: tuple[str, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    _, key = svc
    boto3.client("ssm", region_name="us-east-1").put_parameter(
        Name="/OnCallHub/secrets/grafana-webhook-hmac", Value="from-secrets-manager", Type="SecureString"
    )
    monkeypatch.delenv("ONCALL_ALERTS_GRAFANA_HMAC_SECRET", raising=False)
    monkeypatch.setenv("ONCALL_ALERTS_GRAFANA_HMAC", "required")
    monkeypatch.setenv("ONCALL_SECRET_GRAFANA_WEBHOOK_HMAC", "/OnCallHub/secrets/grafana-webhook-hmac")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    text = json.dumps(sample("grafana-unified-alerting-firing.json")["body"])
    assert post("/integrations/grafana", key, None, raw=text).status == 401
    _nothing_written()
    signed = {"X-Grafana-Alerting-Signature": signature("from-secrets-manager", text)}
    assert post("/integrations/grafana", key, None, raw=text, **signed).status == 200
    assert len(incident_metas()) == 1
    get_settings.cache_clear()
