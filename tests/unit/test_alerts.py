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
    LABELS_MAX,
    Alert,
    AlertAction,
    InvalidAlert,
    ResolvePolicy,
    bound_raw,
    claim_live,
    flat_labels,
    grouping,
    merge_labels,
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


def test_flat_labels_writes_scalars_as_text_and_flattens_nested_objects() -> None:
    got = flat_labels(
        {
            "team": "db",
            "on": True,
            "off": False,
            "count": 3,
            "ratio": 0.071,
            "gone": None,
            "host": {"name": "db-1", "disk": {"used_pct": 95, "mount": "/var"}},
            "tags": ["a", 1, {"z": 2, "y": None}],
            "empty": {},
        }
    )
    assert got == {
        "team": "db",
        "on": "true",
        "off": "false",
        "count": "3",
        "ratio": "0.071",
        "host.name": "db-1",
        "host.disk.used_pct": "95",
        "host.disk.mount": "/var",
        "tags": '["a",1,{"y":null,"z":2}]',
    }
    assert flat_labels({"a": {"b": 1}}, "custom") == {"custom.a.b": "1"}
    assert flat_labels(None) == {} and flat_labels({"": "x", "k": None}) == {}
    # a name met twice keeps its first value
    assert flat_labels({"a.b": "first", "a": {"b": "second"}}) == {"a.b": "first"}


def test_flat_labels_are_bounded() -> None:
    many = flat_labels({f"k{i:03}": i for i in range(101)})
    assert len(many) == LABELS_MAX == 100
    assert many["k000"] == "0" and many["k099"] == "99" and "k100" not in many
    nested = flat_labels({"outer": {f"k{i:03}": "v" for i in range(150)}, "after": "x"})
    assert len(nested) == 100 and "after" not in nested and "outer.k099" in nested
    long = flat_labels({"n" * 200: "v" * 2000, "list": ["x" * 2000]})
    assert long == {"n" * 128: "v" * 1024, "list": '["' + "x" * 1022}
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(40):
        deep = {"d": deep}
    [(name, value)] = flat_labels(deep).items()
    # nesting past the depth where dotted names stop fitting is kept as JSON text, not followed further
    assert name == ".".join(["d"] * 17) and value.startswith('{"d":{"d":') and value.endswith('{"leaf":1}' + "}" * 23)


def test_merge_labels_later_layers_win_and_are_kept_first_past_the_bound() -> None:
    assert merge_labels({"a": "1", "b": {"c": 2}}, None, {"a": "2", "d": False}) == {
        "a": "2",
        "b.c": "2",
        "d": "false",
    }
    crowded = merge_labels({f"k{i:03}": "low" for i in range(100)}, {"source": "api-gw-1"})
    assert len(crowded) == 100 and crowded["source"] == "api-gw-1" and "k099" not in crowded


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
    assert got.labels == {"ratio": "0.071", "source": "api-gw-1"}


def test_pagerduty_labels_from_custom_details_and_the_payload_fields() -> None:
    payload = {
        "summary": "s",
        "source": "api-gw-1",
        "severity": "info",
        "component": "payments",
        "group": "prod-eu",
        "class": "5xx",
        "custom_details": {"source": "shadowed", "region": "eu-west-1", "pool": {"size": 4, "ok": False}},
    }
    got = pagerduty.to_alert({"routing_key": KEY, "event_action": "trigger", "payload": payload}, "svc")
    assert got.labels == {
        "source": "api-gw-1",
        "component": "payments",
        "group": "prod-eu",
        "class": "5xx",
        "region": "eu-west-1",
        "pool.size": "4",
        "pool.ok": "false",
    }
    payload = {"summary": "s", "source": "h", "severity": "info", "component": " ", "custom_details": "disk at 95%"}
    text = pagerduty.to_alert({"routing_key": KEY, "event_action": "trigger", "payload": payload}, "svc")
    assert text.labels == {"custom_details": "disk at 95%", "source": "h"}


def test_pagerduty_ack_resolve_samples_and_a_minted_key() -> None:
    for action in ("acknowledge", "resolve"):
        body = {**sample(f"pagerduty-client-7.2-{action}.json")["body"], "routing_key": KEY}
        got = pagerduty.to_alert(body, "svc")
        assert got.action.value == action and got.dedup_key == "payments-5xx" and not got.key_generated
        assert got.labels == {}  # the client sends no payload with them
    resolve = {**sample("pagerduty-client-7.2-resolve.json")["body"], "routing_key": KEY}
    resolve["payload"] = {"source": "api-gw-1", "custom_details": {"ratio": 0.01}}
    assert pagerduty.to_alert(resolve, "svc").labels == {"ratio": "0.01", "source": "api-gw-1"}
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


def test_alertmanager_labels_are_each_alerts_own_labels_bounded() -> None:
    firing = alertmanager.to_alerts(sample("alertmanager-0.25-firing.json")["body"], "svc")
    assert [a.labels for a in firing] == [
        {"alertname": "HighErrorRate", "instance": "web-1", "service": "checkout", "severity": "critical"},
        {"alertname": "HighErrorRate", "instance": "web-2", "service": "checkout", "severity": "critical"},
    ]
    [resolved, _] = alertmanager.to_alerts(sample("alertmanager-0.25-partially-resolved.json")["body"], "svc")
    assert resolved.action is AlertAction.RESOLVE and resolved.labels["instance"] == "web-1"
    labels = {f"l{i:03}": "v" * 2000 for i in range(120)}
    [big] = alertmanager.to_alerts({"alerts": [{"status": "firing", "labels": labels}]}, "svc")
    assert len(big.labels) == 100 and big.labels["l099"] == "v" * 1024 and "l100" not in big.labels


def test_alertmanager_without_fingerprint_keys_on_the_label_set() -> None:
    labels = {"alertname": "X", "instance": "a"}
    one = alertmanager.to_alerts({"alerts": [{"status": "firing", "labels": labels}]}, "svc")[0]
    two = alertmanager.to_alerts({"alerts": [{"status": "firing", "labels": dict(reversed(labels.items()))}]}, "s")[0]
    assert one.dedup_key == two.dedup_key and one.summary == "alertname=X instance=a"


def test_grafana_is_the_alertmanager_shape_with_its_own_source() -> None:
    [got] = grafana.to_alerts(sample("grafana-unified-alerting-firing.json")["body"], "svc")
    assert got.source is Source.GRAFANA and got.severity is Severity.MEDIUM
    assert got.details["dashboardURL"] == "https://grafana.example.com/d/checkout"
    assert got.labels == {"alertname": "High latency", "grafana_folder": "checkout", "severity": "warning"}


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


def test_cloudwatch_labels_name_the_alarm_its_metric_dimensions_region_and_account() -> None:
    expected = {
        "alarmName": "checkout/ServerCpuTooHigh",
        "InstanceId": "i-12345678901234567",
        "namespace": "AWS/EC2",
        "metric_name": "CPUUtilization",
        "region": "us-east-1",
        "account": "123456789012",
    }
    for name in ("cloudwatch-alarm-state-change-alarm.json", "cloudwatch-alarm-state-change-ok.json"):
        got = cloudwatch.to_alert(sample(name), "svc")
        assert got is not None and got.labels == expected


def test_cloudwatch_labels_of_metric_math_and_composite_alarms() -> None:
    event = sample("cloudwatch-alarm-state-change-alarm.json")
    event["detail"]["configuration"]["metrics"] = [
        {"id": "e1", "expression": "m1 + m2", "label": "Total", "returnData": True},
        {"id": "m1", "metricStat": {"metric": {"namespace": "AWS/ELB", "name": "Errors", "dimensions": {"lb": "a"}}}},
        {
            "id": "m2",
            "metricStat": {"metric": {"namespace": "Custom", "name": "X", "dimensions": {"lb": "b", "az": "1a"}}},
        },
        {"id": "m3", "metricStat": {"metric": {"namespace": "Custom", "dimensions": {"region": "eu-west-1"}}}},
    ]
    got = cloudwatch.to_alert(event, "svc")
    assert got is not None and got.labels == {
        "alarmName": "checkout/ServerCpuTooHigh",
        "lb": "a",
        "az": "1a",
        "namespace": "AWS/ELB",
        "metric_name": "Errors",
        "region": "us-east-1",
        "account": "123456789012",
    }
    event["detail"]["configuration"] = {"alarmRule": "ALARM(cpu) OR ALARM(mem)"}
    composite = cloudwatch.to_alert(event, "svc")
    assert composite is not None and composite.labels == {
        "alarmName": "checkout/ServerCpuTooHigh",
        "region": "us-east-1",
        "account": "123456789012",
    }


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
    assert got.labels == {
        "summary": "Disk 95% full on db-1",
        "severity": "critical",
        "dedup_key": "db-1-disk",
        "action": "trigger",
    }
    event["detail"] = {"integration_key": KEY, "action": "resolve", "severity": 5, "details": []}
    with pytest.raises(InvalidAlert) as err:
        custom.to_alert(event, "svc")
    assert len(err.value.errors) == 3


def test_custom_event_labels_object_is_merged_over_the_scalar_fields() -> None:
    event = sample("oncall-alerts-custom-event.json")
    event["detail"].update(
        {
            "action": "resolve",
            "retries": 2,
            "paged": True,
            "labels": {"team": "db", "severity": "sev1", "host": {"az": "1a"}},
        }
    )
    got = custom.to_alert(event, "svc")
    assert got.action is AlertAction.RESOLVE
    assert got.labels == {
        "summary": "Disk 95% full on db-1",
        "severity": "sev1",
        "dedup_key": "db-1-disk",
        "action": "resolve",
        "retries": "2",
        "paged": "true",
        "team": "db",
        "host.az": "1a",
    }
    assert "integration_key" not in got.labels and "EXAMPLEINTEGRATIONKEY00000000000" not in got.labels.values()
    event["detail"]["labels"] = "team=db"
    with pytest.raises(InvalidAlert) as err:
        custom.to_alert(event, "svc")
    assert err.value.errors == ["detail.labels must be an object"]
