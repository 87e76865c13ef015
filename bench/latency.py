"""Alert → page latency through the local runner: from ``POST /v2/enqueue`` returning to the page appearing in the
Telegram sandbox (its ``at_epoch``, the same machine's wall clock), for alerts with distinct keys, so each opens an
incident and pages its on-call person.

Two loads, as the performance goals state them: **1 alert/s** to one service with one on-call person, and **5
alerts/s** over five services with five different people (so Telegram's one-message-per-second-per-chat limit is
not what is measured). Each page travels the product's whole path: the API writes the incident and its outbox event
in one transaction; the stream hands it to the publisher, which starts the lifecycle execution itself (no bus hop);
its first task pages through the escalation function and the Telegram channel.

    .venv/bin/python bench/latency.py [--alerts 100] [--rates 1,5] [--warm-seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

import requests  # noqa: E402

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, start_runner  # noqa: E402
from tests.e2e.paging import FAST_KDF, linked_responder, signed_in  # noqa: E402

ADMIN = {"username": "bench-admin", "password": "bench admin passphrase"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p * len(ordered) + 0.5) - 1))]


class Pages:
    """Watches the sandbox's outbox: when the first message naming each marker arrived."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.seen: dict[str, float] = {}
        self.markers: set[str] = set()
        self._stop = threading.Event()
        self._after = 0
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            items = session.get(f"{self.runner.http}/_local/telegram/outbox", params={"after": self._after}).json()[
                "items"
            ]
            for item in items:
                self._after = max(self._after, int(item["seq"]))
                if item["method"] != "sendMessage":
                    continue
                for marker in list(self.markers):
                    if marker in item["text"] and marker not in self.seen:
                        self.seen[marker] = float(item["at_epoch"])
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def scenario(
    runner: Runner, admin: dict[str, str], services: int, rate: float, alerts: int, warm: int = 0
) -> list[float]:
    """Latencies (ms) of ``alerts`` alerts sent at ``rate``/s over ``services`` services, after ``warm`` alerts of
    the same load sent and paged first: every function on the path then has as many warm workers as the load keeps
    busy, as Lambda has environments after the first seconds of a steady load (a pool that grows mid-run makes its
    pages wait for the new processes' starts, on the same two cores)."""
    keys = []
    for s in range(services):
        tag = uuid.uuid4().hex[:6]
        person = linked_responder(runner, admin, f"lat-{tag}", 880000 + int(tag, 16) % 100000)
        levels = [{"targets": [{"type": "user", "id": person}], "timeout_seconds": 3600}]
        policy = runner.post("/escalation-policies", {"name": f"lat-{tag}", "levels": levels}, headers=admin).json()
        created = runner.post(
            "/services", {"name": f"lat-{tag}-{s}", "escalation_policy_id": policy["id"]}, headers=admin
        )
        keys.append(created.json()["integration_key"])
    pages = Pages(runner)
    returned: dict[str, float] = {}
    session = requests.Session()
    start = time.monotonic()
    for n in range(warm + alerts):
        if n == warm and warm:
            deadline = time.monotonic() + 60
            while len(pages.seen) < warm and time.monotonic() < deadline:
                time.sleep(0.1)
            pages.markers.clear()
            pages.seen.clear()
            returned.clear()
            time.sleep(2)  # the warm-up's pages leave the per-chat window
            start = time.monotonic() - n / rate
        marker = f"bench-{uuid.uuid4().hex[:10]}"
        pages.markers.add(marker)
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        body = {
            "routing_key": keys[n % services],
            "event_action": "trigger",
            "dedup_key": marker,
            "payload": {"summary": f"Checkout 5xx {marker}", "source": "bench", "severity": "critical"},
        }
        resp = session.post(f"{runner.http}/v2/enqueue", json=body, timeout=30)
        returned[marker] = time.time()
        if resp.status_code != 202:
            raise RuntimeError(f"{resp.status_code}: {resp.text[:200]}")
    deadline = time.monotonic() + 60
    while not set(returned) <= set(pages.seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    pages.stop()
    missing = len(set(returned) - set(pages.seen))
    if missing:
        raise RuntimeError(f"{missing} of {alerts} alerts never paged within 60 s")
    return [(pages.seen[m] - returned[m]) * 1000 for m in returned]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--rates", default="1,5")
    parser.add_argument(
        "--warm-seconds",
        type=float,
        default=10.0,
        help="seconds of the same load sent and paged before measuring (the pools grow to what the load keeps busy)",
    )
    args = parser.parse_args()
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"], **FAST_KDF}
    with tempfile.TemporaryDirectory() as tmp:
        runner = start_runner(Path(tmp), topology=PRODUCT_TOPOLOGY, env=env)
        try:
            admin = signed_in(runner, ADMIN)
            rows: list[tuple[str, list[float]]] = []
            for rate in (float(r) for r in args.rates.split(",")):
                services = 1 if rate <= 1 else int(rate)
                got = scenario(
                    runner, admin, services, rate, args.alerts, warm=max(services, int(rate * args.warm_seconds))
                )
                rows.append((f"{rate:g} alert/s, {services} service(s), {services} on-call", got))
        finally:
            runner.stop()
    print(f"alert → page through the runner ({args.alerts} alerts per load, distinct keys)")
    print(f"{'load':40} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'mean ms':>8}")
    for label, values in rows:
        print(
            f"{label:40} {percentile(values, 0.5):>8.0f} {percentile(values, 0.9):>8.0f} "
            f"{percentile(values, 0.99):>8.0f} {max(values):>8.0f} {statistics.mean(values):>8.0f}"
        )


if __name__ == "__main__":
    main()
