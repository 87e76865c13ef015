"""PagerDuty Events API v2 at POST /v2/enqueue through the real API handler on the emulated tables: the official
client's captured payloads, dedup onto the open incident, ack/resolve by dedup key, PagerDuty's documented limits
and error shapes, and the per-service rate of new incidents (over it: the storm incident, never a 429)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from oncall import wiring
from oncall.settings import get_settings
from tests.support.alerts import incident_metas, items, new_service, pd_body
from tests.support.identity import FakeClock, Session, login_as
from tests.support.incidents import ok
from tests.support.lambdas import HttpResult, call_api

START = datetime(2026, 11, 22, 2, 16, 0, tzinfo=UTC)
PD_HEADERS = {"content-type": "application/json", "user-agent": "python-pagerduty/7.2.0"}


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture
def svc(admin: Session) -> tuple[str, str]:
    return new_service(admin, login_as("responder"))


def enqueue(body: Any, raw: str | None = None) -> HttpResult:
    return call_api("POST", "/v2/enqueue", headers=PD_HEADERS, body=raw if raw is not None else json.dumps(body))


def incident(admin: Session, incident_id: str) -> dict[str, Any]:
    return ok(call_api("GET", f"/incidents/{incident_id}", headers=admin.headers))  # type: ignore[no-any-return]


def timeline(admin: Session, incident_id: str) -> list[dict[str, Any]]:
    return ok(call_api("GET", f"/incidents/{incident_id}/timeline", headers=admin.headers))["items"]  # type: ignore[no-any-return]


def test_the_official_clients_trigger_ack_resolve(admin: Session, svc: tuple[str, str], clock: FakeClock) -> None:
    service_id, key = svc
    first = enqueue(pd_body("trigger", key))
    assert first.status == 202
    assert first.json == {"status": "success", "message": "Event processed", "dedup_key": "payments-5xx"}
    [meta] = incident_metas()
    inc = incident(admin, meta["id"]["S"])
    assert inc["service_id"] == service_id and inc["source"] == "pagerduty-events"
    assert inc["title"] == "Payment API 5xx above 5%" and inc["severity"] == "high"  # PagerDuty "error"
    assert inc["status"] == "triggered" and inc["alert_count"] == 1 and inc["dedup_key"] == "payments-5xx"
    assert inc["created_by"] is None

    clock.advance(30)
    assert enqueue(pd_body("trigger", key)).status == 202
    assert len(incident_metas()) == 1, "the same key attaches to the open incident"
    again = incident(admin, inc["id"])
    assert again["alert_count"] == 2
    assert again["last_alert_at"] == "2026-11-22T02:16:30Z"
    alerts = [e for e in timeline(admin, inc["id"]) if e["kind"] == "alert"]
    assert len(alerts) == 1, "a repeat is counted, not logged: one alert line in ALERT_LINE_EVERY"
    raw = json.loads(alerts[0]["data"]["raw"])
    assert raw["payload"]["custom_details"] == {"ratio": 0.071} and "routing_key" not in raw
    assert alerts[0]["data"]["raw_truncated"] is False

    assert enqueue(pd_body("acknowledge", key)).json["dedup_key"] == "payments-5xx"
    assert incident(admin, inc["id"])["status"] == "acknowledged"
    assert enqueue(pd_body("resolve", key)).status == 202
    done = incident(admin, inc["id"])
    assert done["status"] == "resolved" and done["resolved_by"] is None

    # after resolve, the same key opens a NEW incident
    clock.advance(60)
    assert enqueue(pd_body("trigger", key)).status == 202
    metas = incident_metas()
    assert len(metas) == 2
    new = next(m["id"]["S"] for m in metas if m["id"]["S"] != inc["id"])
    assert incident(admin, new)["alert_count"] == 1
    # the bus events, via the outbox: one incident.triggered per incident, no event for an attached alert
    kinds = [i["detail_type"]["S"] for i in items("outbox")]
    assert kinds.count("incident.triggered") == 2, kinds
    assert kinds.count("incident.acknowledged") == 1 and kinds.count("incident.resolved") == 1


def test_a_trigger_without_dedup_key_gets_one_back_and_it_resolves(admin: Session, svc: tuple[str, str]) -> None:
    _, key = svc
    body = pd_body("trigger", key)
    del body["dedup_key"]
    got = enqueue(body)
    assert got.status == 202
    minted = got.json["dedup_key"]
    assert isinstance(minted, str) and len(minted) == 32
    assert enqueue(pd_body("resolve", key, dedup_key=minted)).status == 202
    [meta] = incident_metas()
    assert meta["incident_status"]["S"] == "resolved"


def test_ack_and_resolve_for_an_unknown_key_are_accepted_and_dropped(svc: tuple[str, str]) -> None:
    _, key = svc
    for action in ("acknowledge", "resolve"):
        got = enqueue(pd_body(action, key, dedup_key="never-triggered"))
        assert got.status == 202 and got.json["dedup_key"] == "never-triggered"
    assert incident_metas() == []
    assert items("outbox") == []


def _nothing_written() -> None:
    assert incident_metas() == []
    assert items("alerts") == []
    assert items("outbox") == []


BAD: list[tuple[str, Any, str]] = [
    (
        "no routing key",
        lambda k: {k2: v for k2, v in pd_body("trigger", k).items() if k2 != "routing_key"},
        "'routing_key' is missing or blank",
    ),
    ("short routing key", lambda k: pd_body("trigger", "abc"), "Length of 'routing_key' is incorrect"),
    ("routing key not a string", lambda k: pd_body("trigger", 12345), "'routing_key' must be a string"),
    ("unknown routing key", lambda k: pd_body("trigger", "z" * 32), "Invalid routing key"),
    (
        "no action",
        lambda k: {x: v for x, v in pd_body("trigger", k).items() if x != "event_action"},
        "'event_action' is missing",
    ),
    ("bad action", lambda k: pd_body("trigger", k, event_action="explode"), "'event_action' must be one of"),
    (
        "no payload",
        lambda k: {x: v for x, v in pd_body("trigger", k).items() if x != "payload"},
        "'payload' is missing",
    ),
    ("payload not object", lambda k: pd_body("trigger", k, payload=[1]), "'payload' must be an object"),
    (
        "summary too long",
        lambda k: pd_body("trigger", k, payload={"summary": "x" * 1025, "source": "a", "severity": "info"}),
        "'payload.summary' is too long (maximum is 1024 characters)",
    ),
    (
        "summary wrong type",
        lambda k: pd_body("trigger", k, payload={"summary": 5, "source": "a", "severity": "info"}),
        "'payload.summary' must be a string",
    ),
    (
        "no source",
        lambda k: pd_body("trigger", k, payload={"summary": "s", "severity": "info"}),
        "'payload.source' is missing",
    ),
    (
        "bad severity",
        lambda k: pd_body("trigger", k, payload={"summary": "s", "source": "a", "severity": "high"}),
        "'payload.severity' must be one of critical, error, warning or info",
    ),
    (
        "dedup key too long",
        lambda k: pd_body("trigger", k, dedup_key="d" * 256),
        "'dedup_key' is too long (maximum is 255 characters)",
    ),
    (
        "resolve without key",
        lambda k: {x: v for x, v in pd_body("resolve", k).items() if x != "dedup_key"},
        "'dedup_key' is missing",
    ),
    (
        "bad timestamp",
        lambda k: pd_body(
            "trigger", k, payload={"summary": "s", "source": "a", "severity": "info", "timestamp": "yesterday"}
        ),
        "'payload.timestamp' must be an ISO 8601",
    ),
    ("links not objects", lambda k: pd_body("trigger", k, links=["x"]), "'links' must be an array of objects"),
]


def test_invalid_events_are_400_in_pagerdutys_shape_and_write_nothing(svc: tuple[str, str]) -> None:
    """One table setup for every case (each case is independent: nothing is written)."""
    _, key = svc
    for case, make, error in BAD:
        got = enqueue(make(key))
        assert got.status == 400, (case, got.raw)
        assert got.json["status"] == "invalid event" and got.json["message"] == "Event object is invalid"
        assert any(e.startswith(error) for e in got.json["errors"]), (case, got.json)
    _nothing_written()


def test_bad_json_a_non_object_and_a_huge_body_are_400_invalid_event(svc: tuple[str, str]) -> None:
    _, key = svc
    for raw in ('{"routing_key": ', "[1, 2]", "null"):
        got = enqueue(None, raw=raw)
        assert got.status == 400 and got.json["status"] == "invalid event", got.raw
    huge = pd_body("trigger", key)
    huge["payload"]["custom_details"] = {"blob": "x" * (512 * 1024)}
    got = enqueue(huge)
    assert got.status == 400 and "too large" in got.json["errors"][0]
    _nothing_written()


def test_a_big_payload_under_the_limit_is_kept_truncated_on_the_timeline(admin: Session, svc: tuple[str, str]) -> None:
    _, key = svc
    body = pd_body("trigger", key)
    body["payload"]["custom_details"] = {"blob": "é" * 50_000 + "x" * 100_000}  # 200 KB of UTF-8 once stored
    assert enqueue(body).status == 202
    [meta] = incident_metas()
    [alert] = [e for e in timeline(admin, meta["id"]["S"]) if e["kind"] == "alert"]
    assert alert["data"]["raw_truncated"] is True and alert["data"]["raw_bytes"] > 200_000
    assert len(alert["data"]["raw"].encode()) <= 64 * 1024


def test_over_the_rate_new_keys_join_the_storm_incident_and_repeats_never_count(
    svc: tuple[str, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-service rate counts new incidents only: repeats of an open key pass however many, and a new key over
    the rate is accepted (202, no 429 for PagerDuty clients to retry forever) into the service's storm incident."""
    _, key = svc
    monkeypatch.setenv("ONCALL_ALERTS_RATE_PER_MINUTE", "3")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    clock.advance(60 - clock().second)  # the start of a minute window
    assert enqueue(pd_body("trigger", key, dedup_key="noisy")).status == 202
    for _ in range(10):  # a noisy known alert does not use up the budget of new ones
        assert enqueue(pd_body("trigger", key, dedup_key="noisy")).status == 202
    for i in range(2):
        assert enqueue(pd_body("trigger", key, dedup_key=f"k{i}")).status == 202
    assert len(incident_metas()) == 3, "the repeats did not count: three new incidents fit the rate of 3"
    over = [enqueue(pd_body("trigger", key, dedup_key=f"over{i}")) for i in range(3)]
    assert [o.status for o in over] == [202] * 3
    assert [o.json["dedup_key"] for o in over] == ["over0", "over1", "over2"]
    storms = [m for m in incident_metas() if m["title"]["S"].startswith("Alert storm")]
    assert len(storms) == 1 and len(incident_metas()) == 4
    # acknowledge and resolve by the coalesced key act on the storm incident
    assert enqueue(pd_body("acknowledge", key, dedup_key="over1")).status == 202
    assert [m["incident_status"]["S"] for m in incident_metas() if m["id"] == storms[0]["id"]] == ["acknowledged"]
    for i in range(3):
        assert enqueue(pd_body("resolve", key, dedup_key=f"over{i}")).status == 202
    assert [m["incident_status"]["S"] for m in incident_metas() if m["id"] == storms[0]["id"]] == ["resolved"]
    clock.advance(60)  # a new window: a new key opens its own incident again
    assert enqueue(pd_body("trigger", key, dedup_key="k9")).status == 202
    assert len(incident_metas()) == 5
    get_settings.cache_clear()
