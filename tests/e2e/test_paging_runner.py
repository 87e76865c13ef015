"""Paging under stress through the local runner, as a team would meet it: alerts over HTTP (PagerDuty Events v2),
the real lifecycle on the emulator, the escalation workers, the page queue, and Telegram either as the runner's
sandbox (outbox mode) or as a fake Bot API on 127.0.0.1 that is down.

- A storm: 20 alerts with distinct keys at once for one on-call person → every incident reaches that person (alone
  or in a digest) within 25 s (Telegram allows about one message a second in a chat: 20 single pages would need
  20 s at best, digests a few), none is left rate limited; when level 1 times out, level 2 receives them the same way.
- Telegram down (every sendMessage 502; refused connections are covered by the functional tests) → the page goes
  to the person's email (the runner's mail outbox) within seconds; a person with no other channel → the level
  escalates at once, and the timeline says why.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner
from tests.support.fake_telegram import FakeTelegram

pytestmark = pytest.mark.e2e

ADMIN = {"username": "paging-admin", "password": "paging admin passphrase"}
#: the bound this product promises for a storm of 20 pages to one person (see the module docstring)
STORM_BOUND_S = 25.0


def signed_in(product: Runner) -> dict[str, str]:
    token = ok(product.post("/auth/login", ADMIN))["access_token"]
    return {"Authorization": f"Bearer {token}"}


def responder(product: Runner, admin: dict[str, str], name: str, **extra: Any) -> str:
    body = {"username": name, "password": f"{name} passphrase!", "role": "responder", "display_name": name.title()}
    return str(ok(product.post("/users", {**body, **extra}, headers=admin), 201)["id"])


def service_for(product: Runner, admin: dict[str, str], name: str, levels: list[dict[str, Any]]) -> dict[str, Any]:
    policy = ok(product.post("/escalation-policies", {"name": name, "levels": levels}, headers=admin), 201)
    body = {"name": name, "escalation_policy_id": policy["id"]}
    return dict(ok(product.post("/services", body, headers=admin), 201))


def level(user_id: str, timeout: int) -> dict[str, Any]:
    return {"targets": [{"type": "user", "id": user_id}], "timeout_seconds": timeout}


def trigger(product: Runner, routing_key: str, dedup_key: str, summary: str) -> int:
    body = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "node-exporter", "severity": "critical"},
    }
    return requests.post(f"{product.http}/v2/enqueue", json=body, timeout=60).status_code


def incidents_of(product: Runner, admin: dict[str, str], service_id: str) -> list[dict[str, Any]]:
    return list(ok(product.get("/incidents", params={"service_id": service_id, "limit": 100}, headers=admin))["items"])


def timeline(product: Runner, admin: dict[str, str], incident_id: str) -> list[dict[str, Any]]:
    return list(ok(product.get(f"/incidents/{incident_id}/timeline", headers=admin))["items"])


def ids_in(record: dict[str, Any]) -> set[str]:
    rows = (record.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["callback_data"].split(":", 2)[2] for row in rows for b in row if b["callback_data"].startswith("inc:")}


# -- a storm, Telegram in the runner's sandbox ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    r = start_runner(tmp_path_factory.mktemp("paging-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def linked(product: Runner, admin: dict[str, str], name: str, chat: int) -> str:
    user_id = responder(product, admin, name)
    code = ok(product.post(f"/users/{user_id}/telegram-link", headers=admin), 201)["code"]
    ok(product.post("/_local/telegram/send", {"chat_id": chat, "text": f"/start {code}"}))
    return user_id


def on_phone(product: Runner, chat: int) -> tuple[set[str], int]:
    """Incidents whose buttons reached the chat, and how many messages carried them."""
    records = ok(product.get("/_local/telegram/outbox", params={"chat_id": chat}))["items"]
    sent = [r for r in records if r["method"] == "sendMessage" and ids_in(r)]
    seen: set[str] = set()
    for record in sent:
        seen |= ids_in(record)
    return seen, len(sent)


def test_a_storm_of_20_alerts_reaches_the_on_call_person_within_the_bound_then_level_2(product: Runner) -> None:
    admin = signed_in(product)
    olga_chat, pete_chat = 7101, 7102
    olga = linked(product, admin, "olga", olga_chat)
    pete = linked(product, admin, "pete", pete_chat)
    service = service_for(product, admin, "storage", [level(olga, 20), level(pete, 600)])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(
            pool.map(lambda i: trigger(product, service["integration_key"], f"disk-{i}", f"disk {i}"), range(20))
        )
    assert codes == [202] * 20
    incidents = eventually(
        lambda: (found := incidents_of(product, admin, service["id"])) and len(found) == 20 and found,
        what="20 incidents",
    )
    ids = {i["id"] for i in incidents}
    eventually(lambda: on_phone(product, olga_chat)[0] >= ids, timeout=STORM_BOUND_S, what="all 20 on Olga's phone")
    olga_took = time.monotonic() - started
    _, olga_messages = on_phone(product, olga_chat)
    assert olga_messages < 20, "no digest: one message per incident"
    for incident_id in ids:

        def pages(i: str = incident_id) -> list[dict[str, Any]]:
            return [e for e in timeline(product, admin, i) if e["kind"] == "page"]

        # the timeline hears of a queued page's delivery just after the phone does
        eventually(lambda: any(p["data"]["status"] == "sent" for p in pages()), timeout=10, what="sent on timeline")
        assert all(p["data"]["status"] in ("sent", "queued") for p in pages()), pages()

    # nobody acknowledges: after level 1's 20 s every incident escalates to Pete, who gets them the same way
    eventually(lambda: on_phone(product, pete_chat)[0] >= ids, timeout=20 + STORM_BOUND_S, what="all 20 for Pete")
    for incident_id in ids:
        kinds = [e["kind"] for e in timeline(product, admin, incident_id)]
        assert "nobody_reachable" not in kinds
        got = ok(product.get(f"/incidents/{incident_id}", headers=admin))
        assert got["escalation_level"] == 2
    print(f"storm: all 20 on Olga's phone in {olga_took:.1f} s, {olga_messages} messages")


# -- Telegram down --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture(scope="module")
def product_with_telegram(tmp_path_factory: pytest.TempPathFactory, fake_telegram: FakeTelegram) -> Iterator[Runner]:
    env = {
        "ONCALL_ADMIN_USERNAME": ADMIN["username"],
        "ONCALL_ADMIN_PASSWORD": ADMIN["password"],
        # a real Bot API as far as the product knows: the functions call it over HTTP
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_BOT_TOKEN": fake_telegram.token,
        "TELEGRAM_API_URL": fake_telegram.url,
        "TELEGRAM_WEBHOOK_SECRET": "paging-test-secret",
    }
    r = start_runner(tmp_path_factory.mktemp("paging-tg-down"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def link_through_webhook(product: Runner, admin: dict[str, str], user_id: str, chat: int) -> None:
    code = ok(product.post(f"/users/{user_id}/telegram-link", headers=admin), 201)["code"]
    update = {
        "update_id": chat,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "T"},
            "text": f"/start {code}",
        },
    }
    headers = {"X-Telegram-Bot-Api-Secret-Token": "paging-test-secret"}
    ok(product.post("/telegram/webhook", update, headers=headers))


def mail_to(product: Runner, address: str) -> list[dict[str, Any]]:
    items = ok(product.get("/_local/mail"))["items"]
    return [m for m in items if address in str(m.get("to") or m.get("destinations") or m)]


def test_telegram_down_pages_go_to_email_or_escalate_naming_the_failure(
    product_with_telegram: Runner, fake_telegram: FakeTelegram
) -> None:
    product = product_with_telegram
    admin = signed_in(product)
    quinn = responder(product, admin, "quinn", email="quinn@example.org")
    link_through_webhook(product, admin, quinn, 7201)
    rafa = responder(product, admin, "rafa")  # Telegram only
    link_through_webhook(product, admin, rafa, 7202)
    sam = responder(product, admin, "sam", email="sam@example.org")
    with_mail = service_for(product, admin, "billing", [level(quinn, 600)])
    telegram_only = service_for(product, admin, "search", [level(rafa, 600), level(sam, 600)])

    fake_telegram.fail("sendMessage", 502, times=10_000)
    started = time.monotonic()
    assert trigger(product, with_mail["integration_key"], "billing-1", "Invoices fail") == 202
    eventually(lambda: mail_to(product, "quinn@example.org"), timeout=20, what="Quinn's page by mail")
    assert time.monotonic() - started < 15
    [billing] = incidents_of(product, admin, with_mail["id"])
    page = next(e for e in timeline(product, admin, billing["id"]) if e["kind"] == "page")
    assert page["data"]["status"] == "sent" and page["data"]["channel"] == "email"

    # Rafa has no other channel: his level is unreachable at once and level 2 (Sam, by mail) is paged
    assert trigger(product, telegram_only["integration_key"], "search-1", "Search is down") == 202
    eventually(lambda: mail_to(product, "sam@example.org"), timeout=25, what="level 2 (Sam) by mail")
    [search] = incidents_of(product, admin, telegram_only["id"])
    entries = timeline(product, admin, search["id"])
    unreachable = [e for e in entries if e["kind"] == "nobody_reachable"]
    assert unreachable and "telegram" in unreachable[0]["text"] and "502" in unreachable[0]["text"], unreachable
    failed = next(e for e in entries if e["kind"] == "page" and e["data"]["user_id"] == rafa)
    assert failed["data"]["status"] == "failed"
    assert "URLError" not in product.log()
