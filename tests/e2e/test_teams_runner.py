"""Teams through the runner, as people would meet them: a responder of another team can neither acknowledge an
incident over HTTP nor with a forged Telegram button press carrying the page's callback data; the incident stays
triggered and its own team's responder is the one who acknowledges it. The page, the press and the refusal all travel
through the runner's functions, emulator and Bot API sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner
from tests.e2e.paging import FAST_KDF, pages, signed_in

pytestmark = pytest.mark.e2e

ADMIN = {"username": "teams-admin", "password": "teams admin passphrase"}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"], **FAST_KDF}
    r = start_runner(tmp_path_factory.mktemp("teams-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def member(product: Runner, admin: dict[str, str], name: str, teams: dict[str, str], chat: int) -> dict[str, Any]:
    """A person in ``teams``, linked to Telegram ``chat``, signed in."""
    body = {"username": name, "password": f"{name} passphrase!", "display_name": name.title(), "teams": teams}
    user = ok(product.post("/users", body, headers=admin), 201)
    code = ok(product.post(f"/users/{user['id']}/telegram-link", headers=admin), 201)["code"]
    assert (
        ok(product.post("/_local/telegram/send", {"chat_id": chat, "text": f"/start {code}"}))["webhook_status"] == 200
    )
    return {
        "id": user["id"],
        "chat": chat,
        "headers": signed_in(product, {"username": name, "password": body["password"]}),
    }


def test_another_teams_responder_cannot_acknowledge_by_api_or_by_a_forwarded_button(product: Runner) -> None:
    admin = signed_in(product, ADMIN)
    payments = ok(product.post("/teams", {"name": "Payments"}, headers=admin), 201)["id"]
    search = ok(product.post("/teams", {"name": "Search"}, headers=admin), 201)["id"]
    ann = member(product, admin, "ann", {payments: "responder"}, 8101)
    bob = member(product, admin, "bob", {search: "responder"}, 8102)

    level = {"targets": [{"type": "user", "id": ann["id"]}], "timeout_seconds": 600}
    policy = ok(
        product.post("/escalation-policies", {"name": "pay", "levels": [level], "team_id": payments}, headers=admin),
        201,
    )
    service = ok(
        product.post(
            "/services", {"name": "cards", "escalation_policy_id": policy["id"], "team_id": payments}, headers=admin
        ),
        201,
    )
    body = {"title": "Card payments fail", "service_id": service["id"], "severity": "critical"}
    incident = ok(product.post("/incidents", body, headers=admin), 201)
    assert incident["team_id"] == payments
    page = eventually(lambda: pages(product, ann["chat"], incident["id"]), what="Ann's page")[0]

    # Bob, of another team: the incident does not exist for him, over HTTP...
    refused = product.post(f"/incidents/{incident['id']}/acknowledge", headers=bob["headers"])
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "not_found"
    assert product.get(f"/incidents/{incident['id']}", headers=bob["headers"]).status_code == 404
    assert ok(product.get("/incidents", headers=bob["headers"]))["items"] == []
    # ...nor on Telegram: a forged press of Acknowledge (the page's own callback data, sent by a modified client on a
    # message the bot did send to Bob: his "linked" reply)
    data = next(b["callback_data"] for row in page["reply_markup"]["inline_keyboard"] for b in row)
    bobs = ok(product.get("/_local/telegram/outbox", params={"chat_id": bob["chat"]}))["items"]
    forged = {"chat_id": bob["chat"], "callback_data": data, "message_id": bobs[-1]["message_id"]}
    pressed = ok(product.post("/_local/telegram/send", forged))
    assert [r["method"] for r in pressed["replies"]] == ["answerCallbackQuery"], pressed
    assert "not found" in pressed["replies"][0]["text"]
    assert ok(product.get(f"/incidents/{incident['id']}", headers=admin))["status"] == "triggered"

    # Ann, of the incident's team, acknowledges it with the same button
    pressed = ok(product.post("/_local/telegram/send", {"chat_id": ann["chat"], "callback_data": data}))
    assert [r["method"] for r in pressed["replies"]] == ["answerCallbackQuery", "editMessageText"], pressed
    got = ok(product.get(f"/incidents/{incident['id']}", headers=ann["headers"]))
    assert got["status"] == "acknowledged" and got["acknowledged_by"] == ann["id"]
    timeline = ok(product.get(f"/incidents/{incident['id']}/timeline", headers=admin))["items"]
    assert [e["actor_id"] for e in timeline if e["kind"] == "acknowledge"] == [ann["id"]]
