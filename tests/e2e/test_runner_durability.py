"""Faults injected into a running runner, judged by what is stored afterwards: nothing it acknowledged is lost.

- kill -9 of the whole runner right after N writes answered 201 (well inside the 30 s between snapshots): all N are
  there after a restart on the same data folder (the write-ahead journal, ``infra/local/journal.py``);
- Ctrl-C during a burst of shift creations: every shift has its reminders after the restart (stream records,
  asynchronous invocations and queue messages in flight are kept and delivered, at least once);
- kill -9 of a worker mid-request: a clean 5xx envelope, a fresh worker for the next request, nothing lost.

The restart of a runner with executions waiting is ``test_runner_restart_paging.py``.
"""

from __future__ import annotations

import os
import signal
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner

pytestmark = pytest.mark.e2e

ADMIN = {"username": "durable-admin", "password": "durable admin passphrase"}
ADMIN_ENV = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}


def _kill_hard(runner: Runner) -> None:
    """kill -9 of the runner and its workers at once: no handler, no snapshot, no goodbye."""
    os.killpg(runner.proc.pid, signal.SIGKILL)
    runner.proc.wait(timeout=10)


def _fixture_keys(runner: Runner) -> set[str]:
    ddb = runner.client("dynamodb")
    keys: set[str] = set()
    for page in ddb.get_paginator("scan").paginate(TableName="oncall-fixture", ConsistentRead=True):
        keys |= {item["pk"]["S"] for item in page["Items"]}
    return keys


def test_kill_9_after_acknowledged_writes_keeps_every_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_runner(tmp_path / "first", data_dir=data)
    keys = [uuid.uuid4().hex for _ in range(120)]

    def write(key: str) -> int:
        with requests.Session() as session:
            return session.post(f"{first.http}/_fixture/write/{key}", timeout=30).status_code

    try:
        with ThreadPoolExecutor(4) as pool:
            statuses = list(pool.map(write, keys))
        assert statuses == [201] * len(keys)
    finally:
        _kill_hard(first)
    assert first.startup_s < 25, "the writes must fall between two snapshots (every 30 s) to prove the journal"

    second = start_runner(tmp_path / "second", data_dir=data)
    try:
        missing = {f"write#{k}" for k in keys} - _fixture_keys(second)
        assert not missing, f"{len(missing)} of {len(keys)} acknowledged writes lost\n{second.log()[-3000:]}"
        assert "replayed" in second.log()
        # and the restarted runner keeps writing (its journal continues in a new generation)
        assert second.post(f"/_fixture/write/{uuid.uuid4().hex}").status_code == 201
    finally:
        assert second.stop() == 0, second.log()[-3000:]


def _auth(runner: Runner) -> dict[str, str]:
    login = ok(runner.post("/auth/login", ADMIN))
    return {"authorization": f"Bearer {login['access_token']}"}


def _planned(runner: Runner, shift_ids: list[str]) -> set[str]:
    """Shifts with at least one reminder planned."""
    ddb = runner.client("dynamodb")
    out: set[str] = set()
    for page in ddb.get_paginator("scan").paginate(TableName="oncall-reminders", ConsistentRead=True):
        for item in page["Items"]:
            pk, sk = item["pk"]["S"], item["sk"]["S"]
            if pk.startswith("SHIFT#") and sk.startswith("R#"):
                out.add(pk.removeprefix("SHIFT#"))
    return out & set(shift_ids)


def test_ctrl_c_during_a_burst_of_shifts_leaves_no_shift_without_reminders(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_runner(tmp_path / "first", topology=PRODUCT_TOPOLOGY, data_dir=data, env=ADMIN_ENV)
    shift_ids: list[str] = []
    try:
        headers = _auth(first)
        people = [
            ok(
                first.post(
                    "/users",
                    {"username": f"burst-{n}", "password": "a long enough password", "role": "responder"},
                    headers=headers,
                ),
                201,
            )["id"]
            for n in range(4)
        ]
        schedules = [
            ok(first.post("/schedules", {"name": f"Burst {n}", "timezone": "UTC"}, headers=headers), 201)["id"]
            for n in range(4)
        ]
        now = datetime.fromisoformat(ok(first.get("/_local/clock"))["now"].replace("Z", "+00:00")).astimezone(UTC)
        base = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=3)

        def create(n: int) -> str:
            schedule, person = schedules[n % 4], people[n % 4]
            start = base + timedelta(hours=2 * (n // 4))
            body = {"user_id": person, "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
            with requests.Session() as session:
                for attempt in range(3):
                    resp = session.post(
                        f"{first.http}/schedules/{schedule}/shifts", json=body, headers=headers, timeout=30
                    )
                    if resp.status_code == 201:
                        return str(resp.json()["id"])
                    # a timed-out create may have been stored: the retry's overlap names it, as for any client
                    if attempt and resp.status_code == 409 and resp.json()["error"]["code"] == "shift_overlap":
                        (conflict,) = resp.json()["error"]["details"]["conflicts"]
                        return str(conflict["id"])
                    assert first.timed_out(resp), resp.text
            raise AssertionError(f"shift {n}: timed out three times")

        with ThreadPoolExecutor(4) as pool:
            shift_ids = list(pool.map(create, range(80)))
    finally:
        # Ctrl-C in a terminal right after the burst: planning is still on its way through stream, bus and planner
        assert first.stop(signal.SIGINT, group=True) == 0, first.log()[-3000:]
    assert "failed for good" not in first.log(), first.log()[-3000:]

    second = start_runner(tmp_path / "second", topology=PRODUCT_TOPOLOGY, data_dir=data, env=ADMIN_ENV)
    try:
        eventually(
            lambda: len(_planned(second, shift_ids)) == len(shift_ids),
            timeout=90,
            what=f"reminders for all {len(shift_ids)} shifts",
        )
    finally:
        assert second.stop() == 0, second.log()[-3000:]


def test_kill_9_of_a_worker_mid_request_is_a_clean_500_and_a_fresh_worker(tmp_path: Path) -> None:
    runner = start_runner(tmp_path / "runner", data_dir=tmp_path / "data")
    try:
        before = uuid.uuid4().hex
        assert runner.post(f"/_fixture/write/{before}").status_code == 201
        # the race fixture holds its worker ~150 ms before writing: long enough to kill it in the middle
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(runner.session.post, f"{runner.http}/_fixture/race/{uuid.uuid4().hex}", timeout=30)
            victim = eventually(
                lambda: _busy_worker(runner, "fixture-race"), timeout=10, what="a busy worker", every=0.01
            )
            os.kill(victim, signal.SIGKILL)
            resp = pending.result()
        if resp.status_code != 201:  # it may have finished first on a fast machine: then the kill hit an idle one
            assert resp.status_code == 500, resp.text
            error = resp.json()["error"]
            assert error["code"] == "internal_error" and "request_id" in error["details"]
            assert "Traceback" not in resp.text
        again = runner.post(f"/_fixture/race/{uuid.uuid4().hex}")
        assert again.status_code == 201, again.text
        assert again.json()["pid"] != victim
        assert f"write#{before}" in _fixture_keys(runner)
    finally:
        assert runner.stop() == 0, runner.log()[-3000:]


def _busy_worker(runner: Runner, function: str) -> int | None:
    """The pid of the function's only worker while it is busy."""
    for pool in runner.get("/_local/workers").json()["items"]:
        if pool["function"] == function and pool["workers"] > pool["idle"] and len(pool["pids"]) == 1:
            return int(pool["pids"][0])
    return None
