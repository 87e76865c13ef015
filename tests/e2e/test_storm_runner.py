"""A storm through the runner's HTTP routes under AWS's limits, scaled to what the runner sustains: every incident
paged (its own page or a digest naming it), every resolve applied, no 5xx.

The runner's top rate is measured first (repeats of open alerts, concurrently, no faults); then faults are switched
on through ``POST /_local/faults``, scaled by that rate as AWS's limits are to 1,000 alerts/s: each partition key of
every table and index gets rate × 1,000 WRU/s ÷ 1,000 alerts/s; ``StartExecution`` is held to half a start a
second (AWS's 300/s refill, scaled, would never bite at 3 % new, so the lifecycle's start retries and sweep are
made to work); and the lifecycle's ``Plan`` task fails for the first incidents (their fallback pages). The storm
mixes PagerDuty events and Alertmanager groups of 5 over several services, about 3 % of requests opening a new
incident, the rest repeats of open ones; then every alert is resolved. The numbers are printed (``-s``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner
from tests.e2e.paging import linked_responder, pages

pytestmark = pytest.mark.e2e

ADMIN = {"username": "storm-admin", "password": "storm admin passphrase"}
CHAT = 7301
SERVICES = 4
KEYS_PER_SERVICE = 6
STORM_SECONDS = 20.0
THREADS = 8


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    r = start_runner(tmp_path_factory.mktemp("storm-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def _pd(service: dict[str, Any], key: str, action: str) -> dict[str, Any]:
    return {
        "routing_key": service["integration_key"],
        "event_action": action,
        "dedup_key": key,
        "payload": {"summary": f"{key} is failing", "source": "storm", "severity": "critical"},
    }


def _am(key: str, status: str, size: int) -> dict[str, Any]:
    alerts = [
        {
            "status": status,
            "labels": {"alertname": key, "instance": f"node-{i}", "severity": "critical"},
            "annotations": {"summary": f"{key} node-{i} is down"},
            "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"{key}-{i:04d}",
        }
        for i in range(size)
    ]
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{key}"}}',
        "status": status,
        "receiver": "oncall",
        "groupLabels": {"alertname": key},
        "commonLabels": {"alertname": key},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "truncatedAlerts": 0,
        "alerts": alerts,
    }


def test_a_storm_under_scaled_aws_limits_pages_every_incident_and_applies_every_resolve(product: Runner) -> None:
    admin = {"Authorization": f"Bearer {ok(product.post('/auth/login', ADMIN))['access_token']}"}
    responder = linked_responder(product, admin, "stormy", CHAT)
    levels = [{"targets": [{"type": "user", "id": responder}], "timeout_seconds": 600}]
    policy = ok(product.post("/escalation-policies", {"name": "storm", "levels": levels}, headers=admin), 201)
    services = [
        ok(product.post("/services", {"name": f"storm-{i}", "escalation_policy_id": policy["id"]}, headers=admin), 201)
        for i in range(SERVICES)
    ]
    statuses: Counter[int] = Counter()
    busy: list[str] = []

    def send(job: tuple[str, dict[str, Any], dict[str, Any]]) -> int:
        """Sends as Alertmanager and PagerDuty clients do: a capacity answer (503 ``unavailable`` with Retry-After,
        the refused write not made) is sent again after the pause it asks for, and recorded."""
        kind, service, body = job
        for _ in range(6):
            if kind == "pd":
                resp = requests.post(f"{product.http}/v2/enqueue", json=body, timeout=60)
            else:
                auth = {"Authorization": f"Bearer {service['integration_key']}", "User-Agent": "Alertmanager/0.25.0"}
                resp = requests.post(f"{product.http}/integrations/alertmanager", json=body, headers=auth, timeout=60)
            if resp.status_code != 503:
                break
            busy.append(f"{resp.json()['error']['code']} retry-after={resp.headers.get('retry-after')}")
            time.sleep(float(resp.headers.get("retry-after", "1")))
        statuses[resp.status_code] += 1
        return resp.status_code

    def alerts_in(job: tuple[str, dict[str, Any], dict[str, Any]]) -> int:
        return 1 if job[0] == "pd" else len(job[2]["alerts"])

    # 1. the runner's top rate, repeats of one open alert, no faults
    warm = [("pd", services[0], _pd(services[0], "warm-up", "trigger"))] * 60
    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(send, warm))
    rate = len(warm) / (time.monotonic() - started)

    # 2. AWS's limits scaled to that rate, a failing Plan for the first incidents
    fault = {
        "dynamodb": {"write_units_per_second": rate, "burst_seconds": 1},
        # scaled (300/s at 1,000 alerts/s) it would never bite at 3 % new: half a start a second does
        "start_execution": {"per_second": 0.5, "burst": 1},
        "fail_task": [{"function": "escalation", "action": "plan", "error": "PlanBroken", "times": 8}],
    }
    ok(product.post("/_local/faults", fault))

    # 3. the storm: new keys spread through it (~3 % of alerts), repeats of open ones the rest
    jobs: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    keys: list[tuple[str, dict[str, Any], str]] = []
    for s, service in enumerate(services):
        for k in range(KEYS_PER_SERVICE):
            kind = "am" if k % 3 == 0 else "pd"
            keys.append((kind, service, f"storm-{s}-{k}"))
    total = int(rate * STORM_SECONDS)
    new_every = max(1, total // len(keys))
    opened: list[tuple[str, dict[str, Any], str]] = []
    for i in range(total):
        if i % new_every == 0 and len(opened) < len(keys):
            opened.append(keys[len(opened)])
        kind, service, key = opened[i % len(opened)]
        body = _pd(service, key, "trigger") if kind == "pd" else _am(key, "firing", 5)
        jobs.append((kind, service, body))
    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(send, jobs))
    storm_seconds = time.monotonic() - started
    sent = sum(alerts_in(j) for j in jobs)

    # 4. every incident paged: its own page or a digest naming it (the clock moves the lifecycle's retries and sweep)
    listed = {
        s["id"]: ok(product.get("/incidents", headers=admin, params={"service_id": s["id"], "limit": 200}))["items"]
        for s in services
    }
    incident_ids = {i["id"] for items in listed.values() for i in items}
    assert incident_ids, "the storm opened incidents"

    def all_paged() -> bool:
        missing = {i for i in incident_ids if not pages(product, CHAT, i)}
        if missing:
            product.post("/_local/clock", {"advance": "PT1M"})
        return not missing

    eventually(all_paged, timeout=60, what="every incident paged", every=1.0)
    last_page = time.monotonic() - started

    # 5. every alert resolves; every incident is resolved
    resolves = [
        (kind, service, _pd(service, key, "resolve") if kind == "pd" else _am(key, "resolved", 5))
        for kind, service, key in [*opened, ("pd", services[0], "warm-up")]
    ]
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(send, resolves))

    open_left: list[Any] = []

    def all_resolved() -> bool:
        open_left.clear()
        for s in services:
            items = ok(product.get("/incidents", headers=admin, params={"service_id": s["id"], "limit": 200}))["items"]
            open_left.extend(
                (i["dedup_key"], i["status"], i.get("alert_count")) for i in items if i["status"] != "resolved"
            )
        return not open_left

    try:
        eventually(all_resolved, timeout=60, what="every incident resolved", every=1.0)
    finally:
        print(f"\nstill open: {open_left}; statuses {dict(statuses)}; faults {product.get('/_local/faults').text}")
    described = ok(product.get("/_local/faults"))
    requests.delete(f"{product.http}/_local/faults", timeout=10)

    print(
        f"\nstorm: top rate {rate:.1f} requests/s; {len(jobs)} requests ({sent} alerts) in {storm_seconds:.1f} s "
        f"({len(jobs) / storm_seconds:.1f}/s); {len(incident_ids)} incidents, all paged {last_page:.1f} s after the "
        f"storm began; statuses {dict(statuses)} ({len(busy)} capacity answers sent again); "
        f"refused by the faults {described['injected']} "
        f"dynamodb {described['dynamodb']}"
    )
    assert not [c for c in statuses if c >= 500], statuses
    # no key is hot enough for a refusal to outlast the retries: not even a capacity answer reaches a sender (a run
    # that had one still shows, in ``statuses``, whether sending it again finished the request)
    assert busy == [], busy
    assert described["injected"].get("escalation:plan:PlanBroken") == 8, "the first incidents' Plan failed"
    assert described["injected"].get("StartExecution:ThrottlingException", 0) > 0, "lifecycle starts were refused"
