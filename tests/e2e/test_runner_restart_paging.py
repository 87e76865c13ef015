"""Paging survives a restart: Ctrl-C with five incidents escalating, ``make run`` again on the same data folder, and
every incident's next level is paged through the Telegram sandbox, with no network error anywhere in the log.

The emulator resumes the interrupted executions while it starts, before the gateway serves; a worker started then
without the sandbox's address would fail every page it sends, and each incident would run through its levels to
``exhausted`` with nobody told.
"""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

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

ADMIN = {"username": "restart-admin", "password": "restart admin passphrase"}
ENV = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"], **FAST_KDF}
INCIDENTS = 5
FIRST_CHAT, SECOND_CHAT = 7101, 7102


def _no_network_errors(runner: Runner) -> None:
    log = runner.log()
    assert "URLError" not in log and "network error" not in log, log[-4000:]


def test_every_later_level_is_paged_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_runner(tmp_path / "first", topology=PRODUCT_TOPOLOGY, data_dir=data, env=ENV)
    try:
        admin = signed_in(first, ADMIN)
        fay = linked_responder(first, admin, "restart-fay", FIRST_CHAT)
        gus = linked_responder(first, admin, "restart-gus", SECOND_CHAT)
        service = two_level_service(first, admin, fay, gus, level_seconds=600, auto_close_seconds=3600)
        incidents = [open_incident(first, admin, service, f"Queue backlog {n}") for n in range(INCIDENTS)]
        for incident in incidents:
            eventually(lambda incident=incident: pages(first, FIRST_CHAT, incident), what=f"{incident} level 1")
        # the restart keeps the clock's offset, and the resumed functions must tell time by it
        advance(first, "PT2M")
    finally:
        # Ctrl-C in a terminal: the whole process group
        assert first.stop(signal.SIGINT, group=True) == 0, first.log()[-3000:]
    _no_network_errors(first)

    second = start_runner(tmp_path / "second", topology=PRODUCT_TOPOLOGY, data_dir=data, env=ENV)
    try:
        # resumed from the start: level 1 again (its page already went out, so it is not repeated), waiting 10 min
        for incident in incidents:
            eventually(lambda incident=incident: waiting_in(second, incident, "Page"), what=f"{incident} resumed")
        assert all(pages(second, SECOND_CHAT, incident) == [] for incident in incidents)
        before_jump = advance(second, "PT11M")
        for incident in incidents:
            eventually(lambda incident=incident: pages(second, SECOND_CHAT, incident), what=f"{incident} level 2")
            assert len(pages(second, FIRST_CHAT, incident)) == 1, "level 1 paged twice"

        admin = signed_in(second, ADMIN)
        for incident in incidents:
            got = ok(second.get(f"/incidents/{incident}", headers=admin))
            assert got["status"] == "triggered" and got["escalation_level"] == 2 and not got["exhausted"], got
            entries = ok(second.get(f"/incidents/{incident}/timeline", headers=admin))["items"]
            level_two = [e["data"] for e in entries if e["kind"] == "page" and e["data"].get("level") == 2]
            # a page held back by Telegram's rate limit is recorded as queued, then as sent
            assert {page["user_id"] for page in level_two} == {gus}, entries
            statuses = {page["status"] for page in level_two}
            assert "sent" in statuses and not statuses & {"failed", "no_channel"}, entries
            escalated = next(e for e in entries if e["kind"] == "escalated")
            assert at(escalated["at"]) >= before_jump + timedelta(minutes=11), (before_jump, escalated)
        _no_network_errors(second)
    finally:
        assert second.stop() == 0, second.log()[-3000:]
