"""A real Prometheus Alertmanager (0.25) notifying the runner over HTTP, as a monitoring stack does.

Alerts posted to Alertmanager's API → its route groups them by ``alertname`` → one webhook per group to
``/integrations/alertmanager`` with the service's integration key as Bearer token → one incident per group, paging
the service's on-call person in the Telegram sandbox; resolving the alerts in Alertmanager resolves the incidents.
What Alertmanager sends (timing, grouping, retries, resolved notifications) is its own, not a captured sample's.

``service`` (a fresh service paging its own linked responder) and ``alertmanager`` (pointed at it) are per test, so
further tests (silences, inhibition) start from no incidents.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner
from tests.e2e.paging import FAST_KDF, at, linked_responder, pages, signed_in
from tests.support.alertmanager import Alertmanager, start_alertmanager

pytestmark = pytest.mark.e2e

ADMIN = {"username": "am-admin", "password": "alertmanager admin passphrase"}
#: Telegram chats of the responders, one per service
CHATS = itertools.count(6401)
#: Alertmanager's group wait (1 s) plus a cold runner's first invocations on 2 cores
DELIVERY_TIMEOUT_S = 60.0

DISK_FULL = {
    "labels": {"alertname": "DiskFull", "instance": "db-1", "team": "storage", "severity": "critical"},
    "annotations": {"summary": "db-1: /var/lib/postgresql is 97% full"},
}
HIGH_LATENCY = {
    "labels": {"alertname": "HighLatency", "instance": "api-1", "team": "checkout", "severity": "warning"},
    "annotations": {"summary": "api-1: p99 latency above 2 s"},
}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"], **FAST_KDF}
    r = start_runner(tmp_path_factory.mktemp("alertmanager-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def admin(product: Runner) -> dict[str, str]:
    return signed_in(product, ADMIN)


def paged_service(product: Runner, admin: dict[str, str]) -> dict[str, Any]:
    """A new service (``id``, ``integration_key``, ...) whose one-level policy pages a new responder, linked to the
    Telegram chat the answer names in ``chat``."""
    chat = next(CHATS)
    name = f"am-{chat}"
    responder = linked_responder(product, admin, f"oncall-{chat}", chat)
    levels = [{"targets": [{"type": "user", "id": responder}], "timeout_seconds": 600}]
    policy = ok(product.post("/escalation-policies", {"name": f"{name}-policy", "levels": levels}, headers=admin), 201)
    body = {"name": name, "escalation_policy_id": policy["id"]}
    service: dict[str, Any] = ok(product.post("/services", body, headers=admin), 201)
    return {**service, "chat": chat}


def incidents(product: Runner, admin: dict[str, str], service_id: str) -> list[dict[str, Any]]:
    got = ok(product.get("/incidents", headers=admin, params={"service_id": service_id, "limit": 200}))
    return list(got["items"])


def wait_for_incidents(
    product: Runner,
    admin: dict[str, str],
    service_id: str,
    count: int,
    *,
    status: str | None = None,
    timeout: float = DELIVERY_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """The service's incidents once there are exactly ``count`` (all in ``status``, when given); fails on the
    deadline showing what there was."""
    seen: list[dict[str, Any]] = []

    # in a tuple, which is truthy even when it holds no incidents (count=0)
    def check() -> tuple[list[dict[str, Any]], ...]:
        seen[:] = incidents(product, admin, service_id)
        settled = len(seen) == count and all(status in (None, i["status"]) for i in seen)
        return (list(seen),) if settled else ()

    try:
        return eventually(check, timeout=timeout, what=f"{count} incidents{f' {status}' if status else ''}")[0]
    except AssertionError as e:
        got = [(i["title"], i["status"]) for i in seen]
        raise AssertionError(f"{e}; the service has {got}") from None


@pytest.fixture
def service(product: Runner, admin: dict[str, str]) -> dict[str, Any]:
    return paged_service(product, admin)


@pytest.fixture
def alertmanager(product: Runner, service: dict[str, Any], tmp_path: Path) -> Iterator[Alertmanager]:
    """A real Alertmanager grouping by ``alertname``, notifying ``service`` through the runner."""
    with start_alertmanager(
        tmp_path / "alertmanager",
        webhook_url=f"{product.http}/integrations/alertmanager",
        integration_key=service["integration_key"],
    ) as am:
        yield am


def test_two_groups_open_two_incidents_that_resolve_with_their_alerts(
    product: Runner, admin: dict[str, str], service: dict[str, Any], alertmanager: Alertmanager
) -> None:
    alertmanager.post_alerts([DISK_FULL, HIGH_LATENCY])
    opened = wait_for_incidents(product, admin, service["id"], 2)

    # each incident is its group's one alert, keyed by the fingerprint Alertmanager computed
    fingerprints = {a["annotations"]["summary"]: a["fingerprint"] for a in alertmanager.alerts()}
    assert {i["title"]: i["dedup_key"] for i in opened} == fingerprints
    by_title = {i["title"]: i for i in opened}
    assert by_title[DISK_FULL["annotations"]["summary"]]["severity"] == "critical"
    for incident in opened:
        assert incident["source"] == "alertmanager" and incident["status"] == "triggered", incident
        paged = partial(pages, product, service["chat"], incident["id"])
        eventually(paged, timeout=DELIVERY_TIMEOUT_S, what=f"the page for {incident['title']}")

    alertmanager.resolve([DISK_FULL, HIGH_LATENCY])
    resolved = wait_for_incidents(product, admin, service["id"], 2, status="resolved")
    assert {i["id"] for i in resolved} == {i["id"] for i in opened}, "resolving opened nothing new"
    assert all(i["resolved_at"] for i in resolved)
    assert alertmanager.alerts() == []
    for incident in resolved:
        assert len(pages(product, service["chat"], incident["id"])) == 1, "the resolution paged nobody again"


def test_a_silence_suppresses_one_of_two_alerts_alertmanager_delivers(
    product: Runner, admin: dict[str, str], service: dict[str, Any], alertmanager: Alertmanager
) -> None:
    """A silence in Alertmanager's model, kept here: its matchers (``=`` and an anchored ``=~``) hold for DiskFull on
    db-1 only, so Alertmanager's two deliveries make one incident and one suppressed alert, listed with the reason."""
    now = at(ok(product.get("/_local/clock"))["now"])
    silence = {
        "matchers": [
            {"name": "alertname", "op": "=", "value": "DiskFull"},
            {"name": "instance", "op": "=~", "value": "db-[0-9]+"},
        ],
        "ends_at": (now + timedelta(hours=2)).isoformat(),
        "comment": "disk being grown",
    }
    made = ok(product.post("/silences", silence, headers=admin), 201)
    assert made["state"] == "active"
    alertmanager.post_alerts([DISK_FULL, HIGH_LATENCY])

    [opened] = wait_for_incidents(product, admin, service["id"], 1)
    assert opened["title"] == HIGH_LATENCY["annotations"]["summary"]

    def suppressed() -> list[dict[str, Any]]:
        got = ok(product.get("/alerts", headers=admin, params={"service_id": service["id"], "outcome": "suppressed"}))
        return list(got["items"])

    [kept] = eventually(suppressed, timeout=DELIVERY_TIMEOUT_S, what="the silenced alert listed")
    assert kept["summary"] == DISK_FULL["annotations"]["summary"] and kept["labels"]["instance"] == "db-1"
    assert kept["decision"]["suppressed"] == {
        "kind": "silence",
        "id": made["id"],
        "reason": "silenced: disk being grown",
    }
    eventually(lambda: pages(product, service["chat"], opened["id"]), timeout=DELIVERY_TIMEOUT_S, what="the page")
    # the silence ends: a team's later silences do not carry this one into other tests
    assert product.delete(f"/silences/{made['id']}", headers=admin).status_code == 204
