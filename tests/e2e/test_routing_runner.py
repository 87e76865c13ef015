"""Alert routing through the runner, with its clock: a maintenance window keeps an alert from paging and the same alert
pages once the window is over; a low-urgency alert outside support hours tells the on-call once and never escalates,
is raised to high when support hours start, and from then on escalates as before.

The clock jumps (``POST /_local/clock``) stand for hours; nothing here waits for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner
from tests.e2e.paging import FAST_KDF, advance, at, linked_responder, pages, signed_in, two_level_service, waiting_in

pytestmark = pytest.mark.e2e

ADMIN = {"username": "routing-admin", "password": "routing admin passphrase"}
PROMPT_S = 30.0


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"], **FAST_KDF}
    r = start_runner(tmp_path_factory.mktemp("routing-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def service_of(product: Runner, admin: dict[str, str], name: str, chats: tuple[int, int]) -> dict[str, Any]:
    first = linked_responder(product, admin, f"{name}-1", chats[0])
    second = linked_responder(product, admin, f"{name}-2", chats[1])
    service_id = two_level_service(product, admin, first, second, level_seconds=300, auto_close_seconds=3600)
    return dict(ok(product.get(f"/services/{service_id}", headers=admin)))


def key_of(product: Runner, admin: dict[str, str], service_id: str) -> str:
    return str(ok(product.post(f"/services/{service_id}/rotate-key", headers=admin))["integration_key"])


def trigger(product: Runner, key: str, dedup_key: str, summary: str = "disk full on db-1") -> None:
    body = {
        "routing_key": key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "db-1", "severity": "critical"},
    }
    got = product.post("/v2/enqueue", body)
    assert got.status_code == 202, got.text


def incidents(product: Runner, admin: dict[str, str], service_id: str) -> list[dict[str, Any]]:
    return list(ok(product.get("/incidents", headers=admin, params={"service_id": service_id}))["items"])


def now_of(product: Runner) -> Any:
    return at(ok(product.get("/_local/clock"))["now"])


def test_an_alert_in_a_maintenance_window_pages_nobody_and_after_it_pages(product: Runner) -> None:
    admin = signed_in(product, ADMIN)
    service = service_of(product, admin, "mw", (7101, 7102))
    key = key_of(product, admin, service["id"])
    now = now_of(product)
    window = {"start": now.isoformat(), "end": (now + timedelta(hours=1)).isoformat(), "reason": "kernel upgrade"}
    ok(product.post(f"/services/{service['id']}/maintenance-windows", window, headers=admin), 201)

    trigger(product, key, "disk-db-1")
    listed = ok(product.get("/alerts", headers=admin, params={"service_id": service["id"], "outcome": "suppressed"}))
    [kept] = listed["items"]
    assert kept["dedup_key"] == "disk-db-1" and kept["decision"]["suppressed"]["reason"] == (
        "maintenance window: kernel upgrade"
    )
    assert incidents(product, admin, service["id"]) == []

    advance(product, "PT61M")
    admin = signed_in(product, ADMIN)
    trigger(product, key, "disk-db-1")
    [opened] = eventually(lambda: incidents(product, admin, service["id"]), what="the incident after the window")
    eventually(lambda: pages(product, 7101, opened["id"]), timeout=PROMPT_S, what="the page after the window")
    # nothing was sent while the window was on: the one message to the on-call is this incident's page
    everything = ok(product.get("/_local/telegram/outbox", params={"chat_id": 7101}))["items"]
    assert [m for m in everything if m["method"] == "sendMessage" and "disk" in str(m).lower()] == pages(
        product, 7101, opened["id"]
    )


def test_low_urgency_outside_support_hours_tells_once_never_escalates_then_is_raised(product: Runner) -> None:
    admin = signed_in(product, ADMIN)
    service = service_of(product, admin, "lu", (7201, 7202))
    key = key_of(product, admin, service["id"])
    now = now_of(product)
    # support hours start three hours from now (UTC, every day) and last one hour
    opens = (now + timedelta(hours=3)).replace(second=0, microsecond=0)
    closes = opens + timedelta(hours=1)
    hours = {
        "time_zone": "UTC",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "from": opens.strftime("%H:%M"),
        "to": closes.strftime("%H:%M"),
    }
    body = {"mode": "support_hours", "support_hours": hours, "raise_at_support_hours_start": True}
    ok(product.put(f"/services/{service['id']}/urgency", body, headers=admin))

    trigger(product, key, "low-1", "queue depth growing")
    [incident] = eventually(lambda: incidents(product, admin, service["id"]), what="the low-urgency incident")
    assert incident["urgency"] == "low"
    told = eventually(lambda: pages(product, 7201, incident["id"]), timeout=PROMPT_S, what="the low-urgency notice")
    assert len(told) == 1

    # past every level's timeout (two levels of five minutes): nobody else is woken, nothing escalates
    eventually(lambda: waiting_in(product, incident["id"], "Page"), what="the notice's wait running")
    advance(product, "PT6M")
    eventually(lambda: waiting_in(product, incident["id"], "Hold"), timeout=PROMPT_S, what="holding at low urgency")
    advance(product, "PT11M")
    admin = signed_in(product, ADMIN)
    assert pages(product, 7202, incident["id"]) == []
    assert len(pages(product, 7201, incident["id"])) == 1
    entries = ok(product.get(f"/incidents/{incident['id']}/timeline", headers=admin))["items"]
    assert "escalated" not in [e["kind"] for e in entries]

    # support hours start: raised to high, paged anew from level 1, then escalated as before
    advance(product, "PT3H")

    def raised() -> bool:
        return len(pages(product, 7201, incident["id"])) == 2

    eventually(raised, timeout=PROMPT_S, what="level 1 paged again at high urgency")
    admin = signed_in(product, ADMIN)
    assert ok(product.get(f"/incidents/{incident['id']}", headers=admin))["urgency"] == "high"
    eventually(lambda: waiting_in(product, incident["id"], "Page"), what="level 1's wait running")
    advance(product, "PT6M")
    eventually(lambda: pages(product, 7202, incident["id"]), timeout=PROMPT_S, what="escalated to level 2")
    admin = signed_in(product, ADMIN)
    entries = ok(product.get(f"/incidents/{incident['id']}/timeline", headers=admin))["items"]
    kinds = [e["kind"] for e in entries]
    assert "urgency" in kinds and "escalated" in kinds


def test_analytics_follow_incidents_through_the_bus_and_the_stats_function(product: Runner) -> None:
    """Not routing, but the same runner: an incident opened and acknowledged through the API reaches the statistics
    rollups by the product's own path (outbox → stream → publisher → bus → ``incident-stats`` → ``stats``)."""
    admin = signed_in(product, ADMIN)
    service = service_of(product, admin, "st", (7301, 7302))

    def summary() -> dict[str, Any]:
        return dict(ok(product.get("/analytics/summary", headers=admin, params={"service_id": service["id"]})))

    assert summary()["count"] == 0
    body = {"title": "Queue consumers stalled", "service_id": service["id"], "severity": "high"}
    incident = ok(product.post("/incidents", body, headers=admin), 201)
    ok(product.post(f"/incidents/{incident['id']}/acknowledge", headers=admin))
    counted = eventually(
        lambda: (s := summary())["mtta"]["count"] == 1 and s, timeout=PROMPT_S, what="the acknowledgement counted"
    )
    assert counted["count"] == 1 and counted["by_status"]["acknowledged"] == 1 and counted["by_severity"]["high"] == 1
