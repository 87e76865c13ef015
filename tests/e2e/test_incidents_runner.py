"""Incidents through the local runner over HTTP in Telegram outbox mode, as a user drives it: link a chat, open an
incident with HTTP, see the page (with Acknowledge / Resolve) in the sandbox outbox, press Acknowledge through the
sandbox, see the incident acknowledged, paging stopped and the message edited; then an unanswered page escalates.

Everything between is the product: outbox → stream → publisher → bus rule → starter → Step Functions (the real ASL)
→ escalation worker → notification service → the sandbox's Bot API; the press goes sandbox → webhook → bot → the
incident service → SendTaskSuccess.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner

pytestmark = pytest.mark.e2e

ADMIN = {"username": "inc-admin", "password": "incident admin passphrase"}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    r = start_runner(tmp_path_factory.mktemp("incidents-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()  # the emulator stops every running execution on the way down


def signed_in(product: Runner) -> dict[str, str]:
    token = ok(product.post("/auth/login", ADMIN))["access_token"]
    return {"Authorization": f"Bearer {token}"}


def linked_responder(product: Runner, admin: dict[str, str], name: str, chat: int) -> str:
    body = {"username": name, "password": f"{name} passphrase!", "role": "responder", "display_name": name.title()}
    user = ok(product.post("/users", body, headers=admin), 201)
    code = ok(product.post(f"/users/{user['id']}/telegram-link", headers=admin), 201)["code"]
    ok(product.post("/_local/telegram/send", {"chat_id": chat, "text": f"/start {code}"}))
    return str(user["id"])


def outbox(product: Runner, chat: int) -> list[dict[str, Any]]:
    return list(ok(product.get("/_local/telegram/outbox", params={"chat_id": chat}))["items"])


def pages(product: Runner, chat: int, incident_id: str) -> list[dict[str, Any]]:
    return [r for r in outbox(product, chat) if r["method"] == "sendMessage" and incident_id in r["text"]]


def test_page_in_the_outbox_ack_by_the_sandbox_button_edits_it(product: Runner) -> None:
    admin = signed_in(product)
    alice_chat, bob_chat = 5101, 5102
    alice = linked_responder(product, admin, "alice", alice_chat)
    bob = linked_responder(product, admin, "bob", bob_chat)
    levels = [
        {"targets": [{"type": "user", "id": alice}], "timeout_seconds": 3},
        {"targets": [{"type": "user", "id": bob}], "timeout_seconds": 3},
    ]
    policy = ok(product.post("/escalation-policies", {"name": "primary", "levels": levels}, headers=admin), 201)
    service = ok(
        product.post("/services", {"name": "checkout", "escalation_policy_id": policy["id"]}, headers=admin), 201
    )
    assert len(service["integration_key"]) == 32

    incident = ok(
        product.post(
            "/incidents",
            {"title": "Checkout returns 502", "service_id": service["id"], "severity": "critical"},
            headers=admin,
        ),
        201,
    )
    page = eventually(lambda: pages(product, alice_chat, incident["id"]), what="the page in the outbox")[0]
    buttons = [b["callback_data"] for row in page["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [f"inc:ack:{incident['id']}", f"inc:res:{incident['id']}"]

    pressed = ok(
        product.post("/_local/telegram/send", {"chat_id": alice_chat, "callback_data": f"inc:ack:{incident['id']}"})
    )
    methods = [r["method"] for r in pressed["replies"]]
    assert methods == ["answerCallbackQuery", "editMessageText"], pressed
    edit = pressed["replies"][1]
    assert edit["message_id"] == page["message_id"]
    assert "Acknowledged by Alice at" in edit["text"]

    got = ok(product.get(f"/incidents/{incident['id']}", headers=admin))
    assert got["status"] == "acknowledged" and got["acknowledged_by"] == alice
    assert got["mtta_seconds"] is not None and got["mtta_seconds"] >= 0
    time.sleep(4)  # past level 1's timeout: Bob is never paged
    assert pages(product, bob_chat, incident["id"]) == []
    kinds = [e["kind"] for e in ok(product.get(f"/incidents/{incident['id']}/timeline", headers=admin))["items"]]
    assert kinds[:4] == ["triggered", "paging", "page", "acknowledge"]

    # the execution is named after the incident and generation, and is waiting (Hold) rather than polling
    sfn = product.client("stepfunctions")
    machines = sfn.list_state_machines()["stateMachines"]
    arn = next(m["stateMachineArn"] for m in machines if m["name"].endswith("incident-lifecycle"))
    names = [e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]]
    assert f"{incident['id']}-1" in names


def test_an_unanswered_page_escalates_to_the_next_level(product: Runner) -> None:
    admin = signed_in(product)
    carol_chat, dave_chat = 5201, 5202
    carol = linked_responder(product, admin, "carol", carol_chat)
    dave = linked_responder(product, admin, "dave", dave_chat)
    levels = [
        {"targets": [{"type": "user", "id": carol}], "timeout_seconds": 2},
        {"targets": [{"type": "user", "id": dave}], "timeout_seconds": 60},
    ]
    policy = ok(product.post("/escalation-policies", {"name": "night", "levels": levels}, headers=admin), 201)
    service = ok(
        product.post("/services", {"name": "ledger", "escalation_policy_id": policy["id"]}, headers=admin), 201
    )
    incident = ok(
        product.post(
            "/incidents",
            {"title": "Ledger lag over 5 minutes", "service_id": service["id"], "severity": "high"},
            headers=admin,
        ),
        201,
    )
    eventually(lambda: pages(product, carol_chat, incident["id"]), what="level 1 page")
    eventually(lambda: pages(product, dave_chat, incident["id"]), what="level 2 page")
    got = ok(product.get(f"/incidents/{incident['id']}", headers=admin))
    assert got["escalation_level"] == 2 and got["status"] == "triggered"
    resolved = ok(product.post(f"/incidents/{incident['id']}/resolve", headers=admin))
    assert resolved["status"] == "resolved" and resolved["mttr_seconds"] >= 2
