"""Observability through the runner, as an operator sees it: an incident's life (an alert, its duplicate, the page,
the acknowledgement, the resolution) raises the counters Prometheus scrapes from ``GET /metrics`` (read back by
``prometheus_client``'s parser), and leaves CloudWatch EMF lines in the runner's log that are valid EMF and say what
happened. ``/health/ready`` reports every dependency reachable; without the metrics token both answer 401."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from oncall.domain.metrics import EMF_BY_NAME
from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner
from tests.e2e.paging import FAST_KDF, linked_responder, pages, signed_in
from tests.support.alerts import pd_body
from tests.support.emf import emf_lines, validate

pytestmark = pytest.mark.e2e

ADMIN = {"username": "metrics-admin", "password": "metrics admin passphrase"}
TOKEN = "runner-scrape-token-0123456789abcdef"
SCRAPE = {"Authorization": f"Bearer {TOKEN}"}
PROMPT_S = 30.0


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {
        "ONCALL_ADMIN_USERNAME": ADMIN["username"],
        "ONCALL_ADMIN_PASSWORD": ADMIN["password"],
        "ONCALL_METRICS_TOKEN": TOKEN,
        **FAST_KDF,
    }
    r = start_runner(tmp_path_factory.mktemp("metrics-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def scraped(product: Runner, service_id: str) -> dict[str, float]:
    """This service's samples of the incident and alert counters, by metric name (summed over severities)."""
    resp = product.get("/metrics", headers=SCRAPE)
    assert resp.status_code == 200, resp.text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            if sample.labels.get("service_id") == service_id and "le" not in sample.labels:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def test_an_incidents_life_counts_in_metrics_and_leaves_valid_emf_lines(product: Runner) -> None:
    admin = signed_in(product, ADMIN)
    chat = 7401
    first = linked_responder(product, admin, "mx-1", chat)
    second = linked_responder(product, admin, "mx-2", 7402)
    levels = [{"targets": [{"type": "user", "id": who}], "timeout_seconds": 300} for who in (first, second)]
    policy = ok(product.post("/escalation-policies", {"name": "mx", "levels": levels}, headers=admin), 201)
    created = ok(product.post("/services", {"name": "mx", "escalation_policy_id": policy["id"]}, headers=admin), 201)
    service_id, key = created["id"], created["integration_key"]
    before = scraped(product, service_id)
    assert before.get("oncall_incidents_opened_total", 0.0) == 0.0

    dedup = f"disk-{service_id}"
    ok(product.post("/v2/enqueue", pd_body("trigger", key, dedup_key=dedup)), 202)
    ok(product.post("/v2/enqueue", pd_body("trigger", key, dedup_key=dedup)), 202)
    incidents = eventually(
        lambda: ok(product.get("/incidents", headers=admin, params={"service_id": service_id}))["items"],
        timeout=PROMPT_S,
        what="the alert opened an incident",
    )
    incident_id = incidents[0]["id"]
    eventually(lambda: pages(product, chat, incident_id), timeout=PROMPT_S, what="the first level paged")
    ok(product.post(f"/incidents/{incident_id}/acknowledge", headers=admin))
    ok(product.post(f"/incidents/{incident_id}/resolve", headers=admin))

    after = eventually(
        lambda: (s := scraped(product, service_id)).get("oncall_incidents_resolved_total") == 1.0 and s,
        timeout=PROMPT_S,
        what="the resolution counted in /metrics",
    )
    assert after["oncall_incidents_opened_total"] == 1.0
    assert after["oncall_incidents_acknowledged_total"] == 1.0
    assert after["oncall_incidents_open"] == 0.0
    assert after["oncall_alerts_received_total"] == 2.0 and after["oncall_alerts_deduplicated_total"] == 1.0
    assert after["oncall_time_to_resolve_seconds_count"] == 1.0

    def emitted() -> list[dict[str, Any]]:
        lines = emf_lines(product.log())
        names = {m["Name"] for line in lines for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
        return lines if {"IncidentsResolved", "PagesSent", "AlertsDeduplicated"} <= names else []

    lines = eventually(emitted, timeout=PROMPT_S, what="the EMF lines of the incident's life in the runner's log")
    for line in lines:
        validate(line)
        for directive in line["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "OnCallHub"
            for metric in directive["Metrics"]:
                spec = EMF_BY_NAME[metric["Name"]]  # only declared metrics, with their declared dimensions
                assert directive["Dimensions"] == [["service", *spec.dimensions]] or directive["Dimensions"] == [
                    [*spec.dimensions, "service"]
                ], (metric["Name"], directive["Dimensions"])
                assert metric["Unit"] == spec.unit

    def of(name: str) -> list[dict[str, Any]]:
        return [
            line
            for line in lines
            if any(m["Name"] == name for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])
        ]

    for name in ("IncidentsOpened", "IncidentsAcknowledged", "IncidentsResolved", "TimeToAcknowledge"):
        mine = [line for line in of(name) if line.get("incident_id") == incident_id]
        assert len(mine) == 1, name  # exactly once, whatever the bus redelivered
        assert mine[0]["service"] == "oncall-stats" and mine[0]["service_id"] == service_id
    assert any(line["channel"] == "telegram" and line.get("incident_id") == incident_id for line in of("PagesSent"))

    def total(name: str) -> float:
        # a metric's value is a number or a list of them (powertools writes lists)
        values = [line[name] for line in of(name) if line.get("service_id") == service_id]
        return sum(sum(v) if isinstance(v, list) else v for v in values)

    assert total("AlertsReceived") == 2 and total("AlertsDeduplicated") == 1
    # one stack-wide metric, the function a property
    assert {line["service"] for line in of("ColdStart")} == {"oncall"}
    assert {line["function"] for line in of("ColdStart")} >= {"oncall-api", "oncall-stats", "oncall-escalation"}


def test_monitoring_routes_need_the_token(product: Runner) -> None:
    assert product.get("/metrics").status_code == 401
    assert product.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert product.get("/health/ready").status_code == 401
    ready = product.get("/health/ready", headers=SCRAPE)
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert all(c["ok"] for c in checks) and {c["name"].split(":")[0] for c in checks} >= {"table"}
    assert ok(product.get("/health"))["status"] == "ok"
