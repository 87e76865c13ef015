"""A big outage through the real API handler, with the real lifecycle paging a Telegram user (the fake Bot API on
127.0.0.1): one Alertmanager group of 150 and of 1,000 alerts (150 nodes down, grouped by ``alertname`` as
Alertmanager does by default) opens ONE incident that pages, the same body retried changes nothing but counts, and
the group's resolutions resolve it. The per-service rate (120 new incidents a minute by default) is never in the way:
the whole group is one new incident."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from oncall.domain.users import Role
from tests.support.alerts import incident_metas, items
from tests.support.identity import Session, login_as
from tests.support.incidents import make_policy, make_service, ok, user_level
from tests.support.lambdas import call_api
from tests.support.lifecycle import Stack, lifecycle_stack, wait_until
from tests.support.telegram import linked_user


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with lifecycle_stack() as s:
        yield s


@pytest.fixture
def admin(stack: Stack) -> Session:
    return login_as(Role.ADMIN)


def group(size: int, status: str, name: str) -> dict[str, Any]:
    """One Alertmanager v4 delivery: ``size`` alerts of the group ``name``, each its own fingerprint."""
    labels = {"alertname": name, "job": "node"}
    return {
        "receiver": "oncall",
        "status": status,
        "groupLabels": labels,
        "commonLabels": {**labels, "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example.com:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{name}", job="node"}}',
        "truncatedAlerts": 0,
        "alerts": [
            {
                "status": status,
                "labels": {**labels, "instance": f"node-{i}", "severity": "critical"},
                "annotations": {"summary": f"node-{i} is down"},
                "startsAt": "2026-11-22T02:16:38Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com/graph?g0.expr=up",
                "fingerprint": f"{name}-{i:05d}",
            }
            for i in range(size)
        ],
    }


def post(key: str, body: dict[str, Any]) -> dict[str, Any]:
    got = call_api(
        "POST",
        "/integrations/alertmanager",
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
        body=json.dumps(body),
    )
    assert got.status == 200, got.raw[:300]
    return ok(got)  # type: ignore[no-any-return]


def pages(stack: Stack, chat: int, incident_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in stack.telegram.sent(chat)
        if any(
            b.get("callback_data") == f"inc:ack:{incident_id}"
            for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row
        )
    ]


def outage(stack: Stack, admin: Session, size: int) -> float:
    """The whole outage for one group of ``size``; the seconds the three deliveries took."""
    name = f"HostDown{size}"
    responder, chat = linked_user()
    policy = make_policy(admin.headers, [user_level(responder.id, 600)], name=f"nodes-{size}")
    service = make_service(admin.headers, policy["id"], name=f"nodes-{size}")
    key = service["integration_key"]
    mine = lambda: [m for m in incident_metas() if m["service_id"]["S"] == service["id"]]  # noqa: E731
    began = time.monotonic()

    fired = post(key, group(size, "firing", name))
    assert fired["accepted"] == size
    assert Counter(r["result"] for r in fired["results"]) == Counter({"created": 1, "attached": size - 1})
    [meta] = mine()
    incident_id = meta["id"]["S"]
    assert {r["incident_id"] for r in fired["results"]} == {incident_id}
    wait_until(lambda: pages(stack, chat, incident_id), timeout=30, what=f"the page for {incident_id}")

    # Alertmanager sends the same body again (a retry, or repeat_interval): no second incident, no second page
    again = post(key, group(size, "firing", name))
    assert Counter(r["result"] for r in again["results"]) == Counter({"attached": size})
    assert len(mine()) == 1

    resolved = post(key, group(size, "resolved", name))
    assert Counter(r["result"] for r in resolved["results"]) == Counter({"released": size - 1, "resolved": 1})
    took = time.monotonic() - began
    [meta] = mine()
    assert meta["incident_status"]["S"] == "resolved"
    [claim] = [c for c in items("alerts", "GRP#") if c["incident_id"]["S"] == incident_id]
    assert "open_keys" not in claim or claim["open_keys"]["SS"] == [], "every alert of the group released"
    triggered = [e for e in items("outbox") if e["detail_type"]["S"] == "incident.triggered"]
    assert sum(1 for e in triggered if incident_id in e["detail"]["S"]) == 1
    time.sleep(0.5)
    assert len(pages(stack, chat, incident_id)) == 1, "the group's other alerts paged nobody again"
    return took


def test_a_150_alert_group_opens_one_incident_that_pages_and_resolves_with_the_group(
    stack: Stack, admin: Session
) -> None:
    outage(stack, admin, 150)


def test_a_1000_alert_group_opens_one_incident_that_pages_and_resolves_with_the_group(
    stack: Stack, admin: Session
) -> None:
    took = outage(stack, admin, 1000)
    assert took < 60, f"the 1,000-alert outage took {took:.0f} s on the emulator"
