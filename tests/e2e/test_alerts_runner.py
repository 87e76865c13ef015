"""Alert ingestion through the local runner, as monitoring tools drive it: every source end to end.

payload in (PagerDuty client bodies over the HTTPS listener, Alertmanager/Grafana webhooks over HTTP, CloudWatch
alarm changes on the default bus, ``oncall.alerts`` events on the oncall bus) → incident created / attached /
resolved → ``incident.triggered`` through outbox → stream → publisher → bus → lifecycle → the page in the Telegram
sandbox outbox; attached alerts page nobody again. Then 100 identical PagerDuty events sent concurrently over HTTP
make one incident counting 100, a 150-alert Alertmanager group (more than the service's rate of new incidents) is
one incident paged once and resolved with its group, and bad input is refused with nothing written.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, start_runner
from tests.e2e.test_incidents_runner import eventually, linked_responder, ok, pages

pytestmark = pytest.mark.e2e

ADMIN = {"username": "alerts-admin", "password": "alerts admin passphrase"}
EVENTS = Path(__file__).resolve().parent.parent / "events"
CHAT = 6101


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    r = start_runner(tmp_path_factory.mktemp("alerts-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def admin(product: Runner) -> dict[str, str]:
    token = ok(product.post("/auth/login", ADMIN))["access_token"]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def checkout(product: Runner, admin: dict[str, str]) -> dict[str, Any]:
    """The service "checkout" (CloudWatch alarms named ``checkout/...`` map to it), paging a linked responder."""
    responder = linked_responder(product, admin, "olga", CHAT)
    levels = [{"targets": [{"type": "user", "id": responder}], "timeout_seconds": 600}]
    policy = ok(product.post("/escalation-policies", {"name": "alerts", "levels": levels}, headers=admin), 201)
    body = {"name": "checkout", "escalation_policy_id": policy["id"]}
    return ok(product.post("/services", body, headers=admin), 201)  # type: ignore[no-any-return]


def incidents(product: Runner, admin: dict[str, str], service_id: str) -> list[dict[str, Any]]:
    got = ok(product.get("/incidents", headers=admin, params={"service_id": service_id, "limit": 200}))
    return list(got["items"])


def by_key(product: Runner, admin: dict[str, str], service_id: str, key: str) -> list[dict[str, Any]]:
    return [i for i in incidents(product, admin, service_id) if i["dedup_key"] == key]


def one(product: Runner, admin: dict[str, str], service_id: str, key: str) -> dict[str, Any]:
    found = eventually(lambda: by_key(product, admin, service_id, key), what=f"the incident for {key}")
    return found[0]


def paged_once(product: Runner, incident_id: str) -> None:
    eventually(lambda: pages(product, CHAT, incident_id), what=f"the page for {incident_id}")


def status_becomes(product: Runner, admin: dict[str, str], incident_id: str, status: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        got: dict[str, Any] = ok(product.get(f"/incidents/{incident_id}", headers=admin))
        return got if got["status"] == status else None

    return eventually(check, what=f"{incident_id} {status}")


def test_pagerduty_client_payloads_over_https(product: Runner, admin: dict[str, str], checkout: dict[str, Any]) -> None:
    https, cert = product.info["https"], product.info["cert"]
    key = checkout["integration_key"]

    def enqueue(action: str) -> requests.Response:
        captured = sample(f"pagerduty-client-7.2-{action}.json")
        body = {**captured["body"], "routing_key": key}
        return requests.post(f"{https}/v2/enqueue", json=body, headers=captured["headers"], verify=cert, timeout=30)

    first = enqueue("trigger")
    assert first.status_code == 202, first.text
    assert first.json() == {"status": "success", "message": "Event processed", "dedup_key": "payments-5xx"}
    inc = one(product, admin, checkout["id"], "payments-5xx")
    assert inc["source"] == "pagerduty-events" and inc["status"] == "triggered"
    paged_once(product, inc["id"])

    assert enqueue("trigger").status_code == 202
    got = ok(product.get(f"/incidents/{inc['id']}", headers=admin))
    assert got["alert_count"] == 2 and len(by_key(product, admin, checkout["id"], "payments-5xx")) == 1
    assert enqueue("acknowledge").json()["dedup_key"] == "payments-5xx"
    status_becomes(product, admin, inc["id"], "acknowledged")
    assert enqueue("resolve").status_code == 202
    status_becomes(product, admin, inc["id"], "resolved")
    time.sleep(1)
    assert len(pages(product, CHAT, inc["id"])) == 1, "the attached alert paged nobody again"


def test_alertmanager_captured_deliveries(product: Runner, admin: dict[str, str], checkout: dict[str, Any]) -> None:
    key = checkout["integration_key"]
    auth = {"Authorization": f"Bearer {key}", "User-Agent": "Alertmanager/0.25.0"}
    firing = sample("alertmanager-0.25-firing.json")["body"]
    got = ok(product.post("/integrations/alertmanager", firing, headers=auth))
    assert [r["result"] for r in got["results"]] == ["created", "attached"]
    inc = one(product, admin, checkout["id"], "b1c11497b32ce15e")
    assert inc["source"] == "alertmanager" and inc["alert_count"] == 2
    paged_once(product, inc["id"])

    partial = sample("alertmanager-0.25-partially-resolved.json")["body"]
    assert [r["result"] for r in ok(product.post("/integrations/alertmanager", partial, headers=auth))["results"]] == [
        "released",
        "attached",
    ]
    assert ok(product.get(f"/incidents/{inc['id']}", headers=admin))["status"] == "triggered"
    partial["alerts"][1]["status"] = "resolved"
    ok(product.post("/integrations/alertmanager", partial, headers=auth))
    status_becomes(product, admin, inc["id"], "resolved")

    refused = product.post("/integrations/alertmanager", firing, headers={"Authorization": "Bearer " + "x" * 32})
    assert refused.status_code == 401


def test_grafana_delivery(product: Runner, admin: dict[str, str], checkout: dict[str, Any]) -> None:
    delivery = sample("grafana-unified-alerting-firing.json")["body"]
    got = ok(
        product.post(
            "/integrations/grafana", delivery, headers={"Authorization": f"Bearer {checkout['integration_key']}"}
        )
    )
    assert got["results"][0]["result"] == "created"
    inc = one(product, admin, checkout["id"], "8f1e0bd1c7c2a3b4")
    assert inc["source"] == "grafana" and inc["severity"] == "medium"
    paged_once(product, inc["id"])


def _put(product: Runner, event: dict[str, Any], bus: str) -> None:
    events = product.client("events")
    buses = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    name = "default" if bus == "default" else next(b for b in buses if b.endswith(bus))
    out = events.put_events(
        Entries=[
            {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
                "EventBusName": name,
            }
        ]
    )
    assert out["FailedEntryCount"] == 0, out


def test_cloudwatch_alarm_on_the_default_bus(product: Runner, admin: dict[str, str], checkout: dict[str, Any]) -> None:
    arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout/ServerCpuTooHigh"
    _put(product, sample("cloudwatch-alarm-state-change-alarm.json"), "default")
    inc = one(product, admin, checkout["id"], arn)
    assert inc["source"] == "eventbridge" and inc["title"].startswith("checkout/ServerCpuTooHigh")
    paged_once(product, inc["id"])
    _put(product, sample("cloudwatch-alarm-state-change-ok.json"), "default")
    status_becomes(product, admin, inc["id"], "resolved")


def test_custom_event_on_the_oncall_bus(product: Runner, admin: dict[str, str], checkout: dict[str, Any]) -> None:
    event = sample("oncall-alerts-custom-event.json")
    event["detail"]["integration_key"] = checkout["integration_key"]
    _put(product, event, "oncall")
    inc = one(product, admin, checkout["id"], "db-1-disk")
    assert inc["severity"] == "critical"
    paged_once(product, inc["id"])
    event["detail"]["action"] = "resolve"
    _put(product, event, "oncall")
    status_becomes(product, admin, inc["id"], "resolved")


def test_100_identical_events_over_http_make_one_incident(
    product: Runner, admin: dict[str, str], checkout: dict[str, Any]
) -> None:
    body = {**sample("pagerduty-client-7.2-trigger.json")["body"], "routing_key": checkout["integration_key"]}
    body["dedup_key"] = "storm-100"

    def send(_: int) -> int:
        return requests.post(f"{product.http}/v2/enqueue", json=body, timeout=60).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = Counter(pool.map(send, range(100)))
    accepted = codes[202]
    assert accepted == 100, codes  # repeats of an open alert never count against the service's rate
    [inc] = by_key(product, admin, checkout["id"], "storm-100")
    assert inc["alert_count"] == accepted
    paged_once(product, inc["id"])
    time.sleep(1)
    assert len(pages(product, CHAT, inc["id"])) == 1


@pytest.mark.parametrize("size", [150, 1000])
def test_a_big_alertmanager_group_over_http_opens_one_incident_that_pages_and_resolves(
    product: Runner, admin: dict[str, str], checkout: dict[str, Any], size: int
) -> None:
    """150 (or 1,000) nodes down, grouped by ``alertname`` as Alertmanager does by default: more alerts in one
    delivery than the service's 120 new incidents a minute, yet one new incident; accepted whole, paged once,
    resolved with the group."""
    auth = {"Authorization": f"Bearer {checkout['integration_key']}", "User-Agent": "Alertmanager/0.25.0"}
    template = sample("alertmanager-0.25-firing.json")["body"]
    name = f"NodeDown{size}"

    def group(status: str) -> dict[str, Any]:
        body = {**template, "status": status, "groupKey": f'{{}}:{{alertname="{name}"}}'}
        body["alerts"] = [
            {
                **template["alerts"][0],
                "status": status,
                "labels": {"alertname": name, "instance": f"node-{i}", "severity": "critical"},
                "annotations": {"summary": f"node-{i} is down"},
                "fingerprint": f"nodedown{size}-{i:06d}",
            }
            for i in range(size)
        ]
        return body

    fired = product.post("/integrations/alertmanager", group("firing"), headers=auth)
    assert fired.status_code == 200, fired.text[:300]
    assert Counter(r["result"] for r in fired.json()["results"]) == Counter({"created": 1, "attached": size - 1})
    [incident_id] = {r["incident_id"] for r in fired.json()["results"]}
    paged_once(product, incident_id)
    again = product.post("/integrations/alertmanager", group("firing"), headers=auth)  # Alertmanager's retry
    assert Counter(r["result"] for r in again.json()["results"]) == Counter({"attached": size})
    resolved = product.post("/integrations/alertmanager", group("resolved"), headers=auth)
    assert Counter(r["result"] for r in resolved.json()["results"]) == Counter({"released": size - 1, "resolved": 1})
    got = status_becomes(product, admin, incident_id, "resolved")
    assert got["alert_count"] == 2 * size and got["title"] == "node-0 is down"
    assert len(by_key(product, admin, checkout["id"], f"nodedown{size}-000000")) == 1
    time.sleep(1)
    assert len(pages(product, CHAT, incident_id)) == 1, f"the other {2 * size - 1} alerts paged nobody"


def test_bad_input_is_refused_and_writes_nothing(
    product: Runner, admin: dict[str, str], checkout: dict[str, Any]
) -> None:
    before = len(incidents(product, admin, checkout["id"]))
    key = checkout["integration_key"]
    bad_json = requests.post(
        f"{product.http}/v2/enqueue", data="{nope", headers={"Content-Type": "application/json"}, timeout=30
    )
    assert bad_json.status_code == 400 and bad_json.json()["status"] == "invalid event"
    huge = {"routing_key": key, "event_action": "trigger", "payload": {"summary": "x" * (600 * 1024)}}
    assert product.post("/v2/enqueue", huge).status_code == 400
    wrong_type = {"routing_key": key, "event_action": "trigger", "payload": {"summary": 1, "source": 2, "severity": 3}}
    assert len(product.post("/v2/enqueue", wrong_type).json()["errors"]) == 3
    assert (
        product.post(
            "/integrations/alertmanager", {"alerts": "x"}, headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 400
    )
    assert product.post("/integrations/grafana", {"alerts": []}).status_code == 401
    assert len(incidents(product, admin, checkout["id"])) == before
