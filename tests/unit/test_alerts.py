"""Alert domain rules and the source normalisers (pure: payloads in, Alert values out; ``now`` passed in)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.adapters.alert_sources import alertmanager, cloudwatch, custom, grafana, pagerduty
from oncall.domain.alerts import (
    CORRELATION_WINDOW,
    KEYED_CLAIM_TTL,
    Alert,
    AlertAction,
    InvalidAlert,
    ResolvePolicy,
    bound_raw,
    claim_live,
    grouping,
    rate_window,
    severity_of,
    should_resolve,
)
from oncall.domain.incidents import TITLE_MAX, Severity, Source

EVENTS = Path(__file__).resolve().parent.parent / "events"
NOW = datetime(2026, 11, 22, 2, 16, 40, tzinfo=UTC)
KEY = "a" * 32


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def alert(**changes: Any) -> Alert:
    base: dict[str, Any] = {
        "source": Source.PAGERDUTY_EVENTS,
        "action": AlertAction.TRIGGER,
        "service_id": "svc",
        "summary": "disk full",
        "severity": Severity.HIGH,
        "raw": bound_raw({}),
    }
    return Alert(**{**base, **changes})


# -- rules ----------------------------------------------------------------------------------------------------------
def test_pagerduty_severities_map_onto_ours_and_unknown_words_take_the_default() -> None:
    assert [severity_of(w) for w in ("critical", "error", "warning", "info")] == [
        Severity.CRITICAL,
        Severity.HIGH,
        Severity.MEDIUM,
        Severity.LOW,
    ]
    assert severity_of(" WARNING ") is Severity.MEDIUM
    assert severity_of("bogus", Severity.LOW) is Severity.LOW and severity_of(None) is Severity.HIGH
    assert severity_of(3) is Severity.HIGH


def test_raw_payload_is_bounded_and_flagged() -> None:
    small = bound_raw({"a": 1})
    assert (small.text, small.truncated) == ('{"a":1}', False)
    big = bound_raw({"blob": "x" * 70_000})
    assert big.truncated and len(big.text.encode()) == 64 * 1024 and big.size > 70_000


@given(st.text(max_size=300), st.integers(min_value=8, max_value=200))
def test_bounded_raw_is_valid_utf8_within_the_limit(text: str, limit: int) -> None:
    raw = bound_raw({"t": text}, limit)
    assert len(raw.text.encode()) <= limit
    assert raw.truncated == (raw.size > limit)
    if not raw.truncated:
        assert json.loads(raw.text) == {"t": text}


def test_grouping_keyed_by_group_or_key_and_keyless_by_severity_with_a_window() -> None:
    keyed = grouping(alert(dedup_key="k1"), NOW)
    assert (keyed.group, keyed.key, keyed.correlated, keyed.expires_at) == ("k:k1", "k1", False, NOW + KEYED_CLAIM_TTL)
    grouped = grouping(alert(dedup_key="fp", group_key='{}:{alertname="X"}'), NOW)
    assert grouped.group == 'k:{}:{alertname="X"}' and grouped.key == "fp"
    keyless = grouping(alert(severity=Severity.CRITICAL), NOW)
    assert (keyless.group, keyless.key, keyless.correlated) == ("~critical", None, True)
    assert keyless.expires_at == NOW + CORRELATION_WINDOW
    minted = grouping(alert(dedup_key="abc", key_generated=True), NOW, timedelta(seconds=30))
    assert (minted.group, minted.key, minted.expires_at) == ("~high", "abc", NOW + timedelta(seconds=30))


def test_a_claim_is_dead_from_its_expiry_on_whatever_ttl_has_done() -> None:
    assert claim_live(NOW + timedelta(seconds=1), NOW)
    assert not claim_live(NOW, NOW)
    assert not claim_live(NOW - timedelta(days=3), NOW)
    assert claim_live(None, NOW)


def test_resolve_policies() -> None:
    assert should_resolve(ResolvePolicy.LAST, 0) and not should_resolve(ResolvePolicy.LAST, 1)
    assert should_resolve(ResolvePolicy.FIRST, 3)


def test_rate_windows_are_whole_minutes() -> None:
    a, forget = rate_window(datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC))
    b, _ = rate_window(datetime(2026, 1, 1, 0, 0, 59, tzinfo=UTC))
    c, _ = rate_window(datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC))
    assert a == b and c == a + 1 and forget == datetime(2026, 1, 1, 0, 2, 0, tzinfo=UTC)


def test_titles_are_trimmed_bounded_and_never_empty() -> None:
    assert alert(summary="  disk\n full  ").title == "disk full"
    assert len(alert(summary="x" * 5000).title) == TITLE_MAX
    assert alert(summary="").title == "pagerduty-events alert"


# -- PagerDuty ------------------------------------------------------------------------------------------------------
def test_pagerduty_client_trigger_sample() -> None:
    body = {**sample("pagerduty-client-7.2-trigger.json")["body"], "routing_key": KEY}
    got = pagerduty.to_alert(body, "svc")
    assert (got.action, got.summary, got.severity, got.dedup_key) == (
        AlertAction.TRIGGER,
        "Payment API 5xx above 5%",
        Severity.HIGH,
        "payments-5xx",
    )
    assert got.details["links"] == [{"href": "https://grafana.example.com/d/abc", "text": "Dashboard"}]
    assert KEY not in got.raw.text


def test_pagerduty_ack_resolve_samples_and_a_minted_key() -> None:
    for action in ("acknowledge", "resolve"):
        body = {**sample(f"pagerduty-client-7.2-{action}.json")["body"], "routing_key": KEY}
        got = pagerduty.to_alert(body, "svc")
        assert got.action.value == action and got.dedup_key == "payments-5xx" and not got.key_generated
    body = {**sample("pagerduty-client-7.2-trigger.json")["body"], "routing_key": KEY}
    del body["dedup_key"]
    minted = pagerduty.to_alert(body, "svc")
    assert minted.key_generated and minted.dedup_key and len(minted.dedup_key) == 32


def test_pagerduty_lists_every_problem_at_once() -> None:
    body = {"routing_key": KEY, "event_action": "trigger", "dedup_key": 7, "payload": {"severity": "loud"}}
    with pytest.raises(InvalidAlert) as err:
        pagerduty.to_alert(body, "svc")
    assert err.value.errors == [
        "'dedup_key' must be a string",
        "'payload.summary' is missing or blank",
        "'payload.source' is missing or blank",
        "'payload.severity' must be one of critical, error, warning or info",
    ]


@pytest.mark.parametrize(("summary_len", "ok"), [(1024, True), (1025, False)])
def test_pagerduty_summary_limit(summary_len: int, ok: bool) -> None:
    body = {
        "routing_key": KEY,
        "event_action": "trigger",
        "payload": {"summary": "s" * summary_len, "source": "x", "severity": "info"},
    }
    if ok:
        assert len(pagerduty.to_alert(body, "svc").summary) == 1024
    else:
        with pytest.raises(InvalidAlert):
            pagerduty.to_alert(body, "svc")


# -- Alertmanager / Grafana --------------------------------------------------------------------------------------
def test_alertmanager_each_alert_by_its_own_status() -> None:
    firing = alertmanager.to_alerts(sample("alertmanager-0.25-firing.json")["body"], "svc")
    assert [(a.action, a.dedup_key) for a in firing] == [
        (AlertAction.TRIGGER, "b1c11497b32ce15e"),
        (AlertAction.TRIGGER, "5308e11450d376b3"),
    ]
    assert {a.group_key for a in firing} == {'{}:{alertname="HighErrorRate", service="checkout"}'}
    assert firing[0].severity is Severity.CRITICAL and firing[0].summary == "5xx ratio above 5% on web-1"
    assert firing[0].occurred_at == datetime(2026, 11, 22, 2, 16, 38, tzinfo=UTC)
    partial = alertmanager.to_alerts(sample("alertmanager-0.25-partially-resolved.json")["body"], "svc")
    assert [a.action for a in partial] == [AlertAction.RESOLVE, AlertAction.TRIGGER]  # the group says "firing"


def test_alertmanager_without_fingerprint_keys_on_the_label_set() -> None:
    labels = {"alertname": "X", "instance": "a"}
    one = alertmanager.to_alerts({"alerts": [{"status": "firing", "labels": labels}]}, "svc")[0]
    two = alertmanager.to_alerts({"alerts": [{"status": "firing", "labels": dict(reversed(labels.items()))}]}, "s")[0]
    assert one.dedup_key == two.dedup_key and one.summary == "alertname=X instance=a"


def test_grafana_is_the_alertmanager_shape_with_its_own_source() -> None:
    [got] = grafana.to_alerts(sample("grafana-unified-alerting-firing.json")["body"], "svc")
    assert got.source is Source.GRAFANA and got.severity is Severity.MEDIUM
    assert got.details["dashboardURL"] == "https://grafana.example.com/d/checkout"


def test_grafana_signature_is_hex_hmac_sha256_of_the_body_or_timestamp_colon_body() -> None:
    body = '{"a":1}'
    plain = hmac.new(b"s3cret", body.encode(), hashlib.sha256).hexdigest()
    stamped = hmac.new(b"s3cret", f"17:{body}".encode(), hashlib.sha256).hexdigest()
    assert grafana.signature("s3cret", body) == plain
    assert grafana.signature_valid("s3cret", body, {"X-Grafana-Alerting-Signature": plain})
    assert grafana.signature_valid(
        "s3cret", body, {"x-grafana-alerting-signature": stamped, "X-Grafana-Alerting-Signature-Timestamp": "17"}
    )
    assert not grafana.signature_valid("s3cret", body, {"X-Grafana-Alerting-Signature": stamped})
    assert not grafana.signature_valid("s3cret", body, {})


# -- CloudWatch / custom --------------------------------------------------------------------------------------------
def test_cloudwatch_states() -> None:
    alarm = cloudwatch.to_alert(sample("cloudwatch-alarm-state-change-alarm.json"), "svc")
    assert alarm is not None and alarm.action is AlertAction.TRIGGER
    assert alarm.dedup_key == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout/ServerCpuTooHigh"
    ok = cloudwatch.to_alert(sample("cloudwatch-alarm-state-change-ok.json"), "svc")
    assert ok is not None and ok.action is AlertAction.RESOLVE and ok.dedup_key == alarm.dedup_key
    insufficient = sample("cloudwatch-alarm-state-change-insufficient-data.json")
    assert cloudwatch.to_alert(insufficient, "svc") is None
    configured = cloudwatch.to_alert(insufficient, "svc", "resolve")
    assert configured is not None and configured.action is AlertAction.RESOLVE


def test_cloudwatch_service_reference_precedence() -> None:
    arn = "arn:aws:cloudwatch:us-east-1:1:alarm:checkout/cpu"
    mapping = {"check": "short", "checkout/": "long", arn: "exact"}
    assert cloudwatch.service_ref(arn, "checkout/cpu", mapping) == "exact"
    assert cloudwatch.service_ref("arn:other", "checkout/cpu", mapping) == "long"
    assert cloudwatch.service_ref("arn:other", "checkout/cpu", {}) == "checkout"
    assert cloudwatch.service_ref("arn:other", "lonely", {}) is None


def test_cloudwatch_rejects_what_is_not_an_alarm_change() -> None:
    for event in ({}, {"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "detail": []}):
        with pytest.raises(InvalidAlert):
            cloudwatch.alarm(event)


def test_custom_event_schema() -> None:
    event = sample("oncall-alerts-custom-event.json")
    assert custom.integration_key(event) == "EXAMPLEINTEGRATIONKEY00000000000"
    got = custom.to_alert(event, "svc")
    assert (got.summary, got.severity, got.dedup_key, got.action) == (
        "Disk 95% full on db-1",
        Severity.CRITICAL,
        "db-1-disk",
        AlertAction.TRIGGER,
    )
    assert "integration_key" not in got.raw.text and "used_pct" in got.raw.text
    event["detail"] = {"integration_key": KEY, "action": "resolve", "severity": 5, "details": []}
    with pytest.raises(InvalidAlert) as err:
        custom.to_alert(event, "svc")
    assert len(err.value.errors) == 3
