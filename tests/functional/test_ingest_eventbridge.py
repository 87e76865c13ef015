"""The alerts function with real EventBridge envelopes: CloudWatch alarm state changes (ALARM → trigger, OK →
resolve, INSUFFICIENT_DATA ignored unless configured; the alarm ARN is the dedup key; the service from the mapping or
the ``<service>/`` name convention), ``oncall.alerts`` custom events (keyed, and keyless correlation by service and
severity inside the window), and events it cannot use: logged and parked, the invocation succeeding (no retry loop)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from infra.local.context import LambdaContext
from infra.local.loader import load_handler
from oncall import wiring
from oncall.settings import get_settings
from tests.support.alerts import incident_metas, items, new_service, sample
from tests.support.identity import FakeClock, Session, login_as

START = datetime(2026, 11, 22, 2, 16, 40, tzinfo=UTC)


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture
def svc(clock: FakeClock) -> tuple[str, str]:
    admin: Session = login_as("admin")
    return new_service(admin, login_as("responder"), name="checkout")


def deliver(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = load_handler("alerts")(event, LambdaContext(function_name="alerts"))
    return out


def reconfigure(clock: FakeClock, monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)


def custom(key: str, **detail: Any) -> dict[str, Any]:
    event = sample("oncall-alerts-custom-event.json")
    event["detail"]["integration_key"] = key
    event["detail"].update(detail)
    for name, value in list(event["detail"].items()):
        if value is None:
            del event["detail"][name]
    return event


def status_of(incident_id: str) -> str:
    return next(m["incident_status"]["S"] for m in incident_metas() if m["id"]["S"] == incident_id)


def test_alarm_triggers_ok_resolves_insufficient_data_is_ignored(svc: tuple[str, str], clock: FakeClock) -> None:
    service_id, _ = svc
    fired = deliver(sample("cloudwatch-alarm-state-change-alarm.json"))
    assert fired["status"] == "created"
    [meta] = incident_metas()
    assert meta["service_id"]["S"] == service_id and meta["source"]["S"] == "eventbridge"
    assert meta["dedup_key"]["S"] == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout/ServerCpuTooHigh"
    assert meta["title"]["S"].startswith("checkout/ServerCpuTooHigh: Goes into alarm")
    clock.advance(30)
    assert deliver(sample("cloudwatch-alarm-state-change-alarm.json"))["status"] == "attached"
    assert deliver(sample("cloudwatch-alarm-state-change-insufficient-data.json"))["status"] == "ignored"
    assert deliver(sample("cloudwatch-alarm-state-change-ok.json"))["status"] == "resolved"
    assert status_of(fired["incident_id"]) == "resolved"
    assert deliver(sample("cloudwatch-alarm-state-change-ok.json"))["status"] == "dropped"


def test_insufficient_data_may_be_configured_and_the_mapping_wins(
    svc: tuple[str, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    service_id, _ = svc
    other, _ = new_service(login_as("admin"), login_as("responder"), name="ledger")
    mapping = {"checkout/Server": other}
    reconfigure(
        clock,
        monkeypatch,
        ONCALL_ALERTS_INSUFFICIENT_DATA="trigger",
        ONCALL_ALERTS_CLOUDWATCH_SERVICES=json.dumps(mapping),
    )
    got = deliver(sample("cloudwatch-alarm-state-change-insufficient-data.json"))
    assert got["status"] == "created"
    [meta] = incident_metas()
    assert meta["service_id"]["S"] == other != service_id
    # an exact ARN beats a prefix, and a name works as well as an id
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout/ServerCpuTooHigh"
    reconfigure(clock, monkeypatch, ONCALL_ALERTS_CLOUDWATCH_SERVICES=json.dumps({**mapping, arn: "Checkout"}))
    deliver(sample("cloudwatch-alarm-state-change-alarm.json"))
    assert sorted(m["service_id"]["S"] for m in incident_metas()) == sorted([other, service_id])


def test_custom_events_keyed_and_keyless_correlation_window(svc: tuple[str, str], clock: FakeClock) -> None:
    _, key = svc
    first = deliver(custom(key))
    assert first["status"] == "created" and first["dedup_key"] == "db-1-disk"
    assert deliver(custom(key))["status"] == "attached"
    assert deliver(custom(key, action="resolve", summary=None))["status"] == "resolved"

    a = deliver(custom(key, dedup_key=None, summary="queue depth high", severity="critical"))
    clock.advance(120)
    b = deliver(custom(key, dedup_key=None, summary="consumer lag", severity="critical"))
    c = deliver(custom(key, dedup_key=None, summary="slow", severity="low"))
    assert a["status"] == "created" and b == {**b, "status": "attached", "incident_id": a["incident_id"]}
    assert c["status"] == "created" and c["incident_id"] != a["incident_id"], "another severity, another incident"
    clock.advance(181)  # 5 min + 1 s after the first: the window is over
    d = deliver(custom(key, dedup_key=None, summary="queue depth high", severity="critical"))
    assert d["status"] == "created" and d["incident_id"] != a["incident_id"]
    assert len(incident_metas()) == 4


def test_unusable_events_are_parked_not_raised_and_write_no_incident(svc: tuple[str, str], clock: FakeClock) -> None:
    _, key = svc
    unmapped = sample("cloudwatch-alarm-state-change-alarm.json")
    unmapped["detail"]["alarmName"] = "nobody-owns-this"
    unmapped["resources"] = ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:nobody-owns-this"]
    no_detail = sample("cloudwatch-alarm-state-change-alarm.json")
    no_detail["detail"] = "garbage"
    bad_cases = [
        unmapped,
        no_detail,
        {**sample("cloudwatch-alarm-state-change-alarm.json"), "resources": []},
        custom("z" * 32),
        custom(key, severity="apocalyptic"),
        custom(key, action="resolve", dedup_key=None),
        custom(key, summary=""),
        {**custom(key), "detail": None},
        {"id": "odd-1", "source": "someone.else", "detail-type": "x", "detail": {}},
    ]
    for i, event in enumerate(bad_cases):
        event["id"] = f"bad-{i}"
        got = deliver(event)
        assert got["status"] == "parked" and got["errors"], (i, got)
    assert incident_metas() == [] and items("outbox") == []
    parked = items("alerts", "PARKED#")
    assert sorted(p["sk"]["S"] for p in parked) == sorted(f"bad-{i}" for i in range(len(bad_cases)))
    assert all(p["reason"]["S"] for p in parked)


def test_a_storm_over_the_rate_is_coalesced_and_every_resolve_applied(
    svc: tuple[str, str], clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the per-service rate nothing is dropped: new alerts join the service's storm incident (one, paged once),
    their resolves are applied, and the storm incident resolves with the last of them."""
    _, key = svc
    reconfigure(clock, monkeypatch, ONCALL_ALERTS_RATE_PER_MINUTE="5")
    clock.advance(60 - clock().second)
    fired = [deliver(custom(key, dedup_key=f"k{i}")) for i in range(8)]
    assert [f["status"] for f in fired] == ["created"] * 5 + ["coalesced"] * 3
    storm = {f["incident_id"] for f in fired[5:]}
    assert len(storm) == 1 and len(incident_metas()) == 6
    [storm_id] = storm
    [meta] = [m for m in incident_metas() if m["id"]["S"] == storm_id]
    assert meta["title"]["S"].startswith("Alert storm") and meta["title"]["S"].endswith("Disk 95% full on db-1")
    triggered = [i for i in items("outbox") if i["detail_type"]["S"] == "incident.triggered"]
    assert len(triggered) == 6, "five incidents and one storm incident page; the coalesced alerts do not page again"
    # repeats of coalesced alerts stay in the storm incident, even once the rate has room again
    clock.advance(60)
    assert deliver(custom(key, dedup_key="k6"))["incident_id"] == storm_id
    # every resolve passes, over the rate or not: the storm incident resolves with its last open alert
    results = [deliver(custom(key, dedup_key=f"k{i}", action="resolve"))["status"] for i in range(8)]
    assert results == ["resolved"] * 5 + ["released", "released", "resolved"]
    assert {m["incident_status"]["S"] for m in incident_metas()} == {"resolved"}
