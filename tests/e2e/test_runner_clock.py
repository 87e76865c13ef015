"""One clock for everything time-based in the runner: ``POST /_local/clock`` ends a 30-minute escalation level and an
auto-close period at once, and the API's ``now`` moves with it, through the real product in Telegram outbox mode.

Nothing here waits for the minutes it talks about: each jump is answered within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner
from tests.e2e.paging import (
    FAST_KDF,
    advance,
    at,
    linked_responder,
    open_incident,
    pages,
    signed_in,
    two_level_service,
    waiting_in,
)

pytestmark = pytest.mark.e2e

ADMIN = {"username": "clock-admin", "password": "clock admin passphrase"}
#: an advance is answered, and the waits it ends have moved on, within this many real seconds
PROMPT_S = 20.0


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"], **FAST_KDF}
    r = start_runner(tmp_path_factory.mktemp("clock-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def test_a_clock_jump_escalates_a_30_minute_level_and_auto_closes(product: Runner) -> None:
    admin = signed_in(product, ADMIN)
    ann_chat, ben_chat = 6101, 6102
    ann = linked_responder(product, admin, "clock-ann", ann_chat)
    ben = linked_responder(product, admin, "clock-ben", ben_chat)
    service = two_level_service(product, admin, ann, ben, level_seconds=1800, auto_close_seconds=3600)
    incident = open_incident(product, admin, service, "Disk full on db-1")
    eventually(lambda: pages(product, ann_chat, incident), what="level 1 paged")
    eventually(lambda: waiting_in(product, incident, "Page"), what="level 1's 30-minute wait running")
    assert pages(product, ben_chat, incident) == []

    jumped = time.monotonic()
    before_jump = advance(product, "PT31M")
    eventually(lambda: pages(product, ben_chat, incident), timeout=PROMPT_S, what="level 2 paged after the jump")
    assert time.monotonic() - jumped < PROMPT_S

    # the API tells time by the same clock: the 15-minute access token from before the jump has expired
    expired = product.get("/me", headers=admin)
    assert expired.status_code == 401, expired.text
    admin = signed_in(product, ADMIN)
    got = ok(product.get(f"/incidents/{incident}", headers=admin))
    assert got["escalation_level"] == 2 and got["status"] == "triggered"
    entries = ok(product.get(f"/incidents/{incident}/timeline", headers=admin))["items"]
    escalated = next(e for e in entries if e["kind"] == "escalated")
    # the escalation function's now is the runner's, not the wall clock's
    assert at(escalated["at"]) >= before_jump + timedelta(minutes=31)

    resolved = ok(product.post(f"/incidents/{incident}/resolve", headers=admin))
    assert resolved["status"] == "resolved"
    eventually(lambda: waiting_in(product, incident, "Hold"), what="the auto-close wait running")
    jumped = time.monotonic()
    before_close = advance(product, "PT61M")
    admin = signed_in(product, ADMIN)

    def closed() -> dict[str, Any] | None:
        body = ok(product.get(f"/incidents/{incident}", headers=admin))
        return body if body["status"] == "closed" else None

    final = eventually(closed, timeout=PROMPT_S, what="auto-closed after the jump")
    assert time.monotonic() - jumped < PROMPT_S
    assert at(final["closed_at"]) >= before_close + timedelta(minutes=61)
    assert "URLError" not in product.log() and "network error" not in product.log()
