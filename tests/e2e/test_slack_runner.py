"""Slack and SMS through the local runner, as a team would meet them: a workspace member added to the runner's Slack
sandbox links with ``/oncall link`` (signed by the runner as Slack signs) and verifies a phone number by the code in
``/_local/sms``, asking for pages in Slack and by SMS too; an alert over HTTP (PagerDuty Events v2) pages that person
(a Slack direct message and an SMS) and a Telegram person; pressing Acknowledge in Slack acknowledges the incident as
that person and the Telegram copy of the page is rewritten too, as is the incident's one message in the service's
Slack channel; ``/oncall`` answers through the same path."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner
from tests.e2e.paging import FAST_KDF, linked_responder, signed_in

pytestmark = pytest.mark.e2e

ADMIN = {"username": "slack-admin", "password": "slack admin passphrase"}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"], **FAST_KDF}
    r = start_runner(tmp_path_factory.mktemp("slack-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def slack_outbox(product: Runner, channel: str) -> list[dict[str, Any]]:
    return list(ok(product.get("/_local/slack/outbox", params={"channel": channel}))["items"])


def with_sms_copies(product: Runner, credentials: dict[str, str], number: str) -> None:
    """Verify ``number`` with the code texted to it, and ask for a copy of every page by SMS."""
    mine = signed_in(product, credentials)
    assert product.put("/me/phone", {"number": number}, headers=mine).status_code == 202
    (text,) = [m["text"] for m in ok(product.get("/_local/sms", params={"to": number}))["items"]]
    code = text.split("code is ")[1][:6]
    ok(product.post("/me/phone/verify", {"code": code}, headers=mine))
    ok(product.put("/me/notification-rules", {"rules": {}, "also": {"page": ["sms"]}}, headers=mine))


def test_alert_pages_in_slack_and_by_sms_and_acknowledge_in_slack_rewrites_the_telegram_copy(product: Runner) -> None:
    admin = signed_in(product, ADMIN)
    body = {
        "username": "sam",
        "password": "sam passphrase!",
        "role": "responder",
        "display_name": "Sam",
        "email": "sam@example.org",
    }
    sam = ok(product.post("/users", body, headers=admin), 201)["id"]
    member = ok(product.post("/_local/slack/users", {"email": "sam@example.org", "name": "sam"}), 201)["id"]
    linked = ok(product.post("/_local/slack/command", {"user": member, "command": "/oncall", "text": "link"}))
    assert linked["status"] == 200 and "Linked" in linked["reply"]["text"], linked
    number = "+15550107001"
    with_sms_copies(product, {"username": "sam", "password": "sam passphrase!"}, number)
    tara = linked_responder(product, admin, "tara", 4242)

    targets = [{"type": "user", "id": who} for who in (sam, tara)]
    level = {"targets": targets, "timeout_seconds": 600}
    policy = ok(product.post("/escalation-policies", {"name": "slack-e2e", "levels": [level]}, headers=admin), 201)
    channel = "C0E2EPAGES"
    body = {"name": "slack-e2e", "escalation_policy_id": policy["id"], "slack_channel": channel}
    service = ok(product.post("/services", body, headers=admin), 201)
    alert = {
        "routing_key": service["integration_key"],
        "event_action": "trigger",
        "dedup_key": f"slack-e2e-{time.monotonic_ns()}",
        "payload": {"summary": "Checkout error rate above 5%", "source": "web-1", "severity": "critical"},
    }
    assert requests.post(f"{product.http}/v2/enqueue", json=alert, timeout=60).status_code == 202

    started = time.monotonic()
    dm = f"D{member[1:]}"

    def slack_page() -> dict[str, Any] | None:
        return next((m for m in slack_outbox(product, dm) if "Checkout error rate" in m["text"]), None)

    page = eventually(slack_page, what="the Slack page")
    slack_latency = time.monotonic() - started
    labels = [e["text"]["text"] for b in page["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Acknowledge", "Resolve"]
    incident_id = page["blocks"][-1]["elements"][0]["value"].split(":")[2]

    def telegram_page() -> dict[str, Any] | None:
        items = ok(product.get("/_local/telegram/outbox", params={"chat_id": 4242}))["items"]
        return next((m for m in items if m["method"] == "sendMessage" and incident_id in str(m)), None)

    tg_page = eventually(telegram_page, what="the Telegram page")
    # the service's channel: one message, with both buttons
    (posted,) = eventually(lambda: slack_outbox(product, channel), what="the channel message")
    assert incident_id in str(posted["blocks"]) and "Acknowledge" in str(posted["blocks"])

    def sms_page() -> list[dict[str, Any]]:
        items = ok(product.get("/_local/sms", params={"to": number}))["items"]
        return [m for m in items if incident_id[-8:].upper() in m["text"]]

    # the same person's copy by SMS (a runner on a port picked at start has no public URL, so no ack link in it)
    (sms,) = eventually(sms_page, what="the SMS copy")
    assert len(sms["text"]) <= 160 and "Checkout error rate" in sms["text"]

    started = time.monotonic()
    button = {"user": member, "channel": dm, "ts": page["ts"], "button": "Acknowledge"}
    pressed = ok(product.post("/_local/slack/press", button))
    press_latency = time.monotonic() - started
    assert pressed["status"] == 200, pressed
    # Slack shows the person an error when the answer takes over 3 seconds (a first press meets a cold worker)
    assert press_latency < 3.0, press_latency
    incident = ok(product.get(f"/incidents/{incident_id}", headers=admin))
    assert incident["status"] == "acknowledged" and incident["acknowledged_by"] == sam
    rewritten = next(m for m in slack_outbox(product, dm) if m["ts"] == page["ts"])
    assert "Acknowledged by Sam" in rewritten["text"]

    def telegram_rewritten() -> bool:
        items = ok(product.get("/_local/telegram/outbox", params={"chat_id": 4242}))["items"]
        return any(
            m["method"] == "editMessageText"
            and m.get("message_id") == tg_page.get("message_id")
            and "Acknowledged by Sam" in str(m.get("text"))
            for m in items
        )

    eventually(telegram_rewritten, what="the Telegram copy rewritten")

    def channel_rewritten() -> bool:
        items = slack_outbox(product, channel)
        return len(items) == 1 and "Acknowledged by Sam" in items[0]["text"]

    eventually(channel_rewritten, what="the channel message rewritten")

    # /oncall answers through the same signed path; a press without a signature never reaches the function
    answer = ok(product.post("/_local/slack/command", {"user": member, "command": "/oncall"}))
    assert answer["status"] == 200 and answer["reply"]["text"]
    forged = requests.post(
        f"{product.http}/integrations/slack/interactions",
        data={"payload": "{}"},
        headers={"x-slack-request-timestamp": str(int(time.time())), "x-slack-signature": "v0=00"},
        timeout=30,
    )
    assert forged.status_code == 401
    print(f"alert → Slack page: {slack_latency:.2f} s; press answered in {press_latency:.2f} s")
