"""What the local runner costs while nothing happens: CPU of the whole runner (its process and every worker process)
over a quiet minute, with no incident open and with ``--incidents`` open incidents whose lifecycles wait on their
first level (an hour), as a small team's laptop or server would hold them between alerts.

Starts ``python -m infra.local`` (ephemeral, free ports, the product topology), opens the incidents through
``POST /v2/enqueue`` (distinct keys, one service, one on-call person, under the service's rate of new incidents),
waits until every one is open, lets the runner settle (each lifecycle pages and waits on its level), then reads the
CPU time of the process tree from ``/proc`` before and after each quiet window.

    python bench/idle.py [--incidents 200] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, ok, start_runner  # noqa: E402
from tests.e2e.paging import FAST_KDF, linked_responder, signed_in  # noqa: E402

ADMIN = {"username": "bench-admin", "password": "bench admin passphrase"}
TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """user + system CPU of ``pid`` and every process below it (reaped children included), from ``/proc``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = (Path("/proc") / str(current) / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime (fields 14-17 of stat; 12-15 after the command)
        total += sum(int(f) for f in fields[11:15]) / TICKS
        todo.extend(children.get(current, []))
    return total


def quiet_share(runner: Runner, seconds: float) -> float:
    """The runner's CPU over ``seconds`` of nothing, as a share of one core."""
    before, started = tree_cpu_seconds(runner.proc.pid), time.monotonic()
    time.sleep(seconds)
    return (tree_cpu_seconds(runner.proc.pid) - before) / (time.monotonic() - started)


def open_incidents(runner: Runner, admin: dict[str, str], count: int) -> None:
    person = linked_responder(runner, admin, f"idle-{uuid.uuid4().hex[:6]}", 770000 + count)
    levels = [{"targets": [{"type": "user", "id": person}], "timeout_seconds": 3600}]
    policy = ok(runner.post("/escalation-policies", {"name": "idle", "levels": levels}, headers=admin), 201)
    service = ok(runner.post("/services", {"name": "idle", "escalation_policy_id": policy["id"]}, headers=admin), 201)
    for n in range(count):
        body = {
            "routing_key": service["integration_key"],
            "event_action": "trigger",
            "dedup_key": f"idle-{n}",
            "payload": {"summary": f"disk {n} filling", "source": "bench", "severity": "warning"},
        }
        ok(runner.post("/v2/enqueue", body), 202)
        if n % 100 == 99:
            time.sleep(61)  # the service opens at most 120 incidents a minute; beyond, alerts join its storm incident
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        opened, cursor = 0, None
        while True:
            params = {"status": "triggered", "limit": 200, **({"cursor": cursor} if cursor else {})}
            page = ok(runner.get("/incidents", headers=admin, params=params))
            opened += len(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        if opened >= count:
            return
        time.sleep(1)
    raise RuntimeError("the incidents did not open within 5 minutes")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--settle", type=float, default=15.0, help="seconds left to settle before each window")
    args = parser.parse_args()
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"], **FAST_KDF}
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        runner = start_runner(Path(tmp), topology=PRODUCT_TOPOLOGY, env=env)
        try:
            admin = signed_in(runner, ADMIN)
            time.sleep(args.settle)
            rows.append(("no incident open", quiet_share(runner, args.seconds)))
            open_incidents(runner, admin, args.incidents)
            time.sleep(args.settle)
            rows.append((f"{args.incidents} incidents open, lifecycles waiting", quiet_share(runner, args.seconds)))
        finally:
            runner.stop()
    print(f"the runner idle: CPU of its whole process tree over {args.seconds:g} s, share of one core")
    print(f"{'state':45} {'CPU':>8}")
    for label, share in rows:
        print(f"{label:45} {share:>8.1%}")


if __name__ == "__main__":
    main()
