"""The web console through the local runner: page weight, requests per page, time to first byte cold and warm, and
what the console adds to the API function's cold start.

Starts ``python -m infra.local`` (ephemeral, free ports, the product topology) with a small organisation (a schedule
with a shift, a service, a few incidents), signs in through the sign-in form, and for each page prints:

- bytes of HTML and of its assets (stylesheet, script), and the requests a first visit makes (a later visit makes
  one: asset URLs carry a content hash and are cached for a year);
- time to first byte, median and p90: cold (the API function's idle workers stopped first, so the worker imports the
  handler and, on the first console request, the console's templates) and warm;

and the cold import of the API handler alone vs the handler plus the console's modules (Jinja2 and the pages), in
fresh interpreters: the price the first console request pays, which API-only cold starts do not.

    python bench/console.py [--cold 5] [--warm 30]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.cold_start import sample  # noqa: E402
from infra.local.resources import function_environment  # noqa: E402
from infra.topology import TOPOLOGY  # noqa: E402
from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, start_runner  # noqa: E402

ADMIN = {"username": "bench-admin", "password": "bench admin passphrase"}
ASSET = re.compile(r'(?:href|src)="(/console/static/[^"]+)"')


class Client:
    """Keeps the console's cookies by hand: requests' jar will not send ``Secure`` cookies over plain http, which a
    browser does for 127.0.0.1."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}

    def get(self, path: str) -> requests.Response:
        return self._send("GET", path)

    def _send(self, method: str, path: str, data: dict[str, str] | None = None) -> requests.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        resp = self.http.request(
            method, self.base + path, data=data, headers={"Cookie": cookie}, allow_redirects=False, timeout=60
        )
        for line in resp.raw.headers.getlist("Set-Cookie"):
            name, _, rest = line.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return resp

    def sign_in(self) -> None:
        page = self.get("/console/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        got = self._send("POST", "/console/login", {**ADMIN, "csrf": csrf.group(1), "next": "/console"})
        assert got.status_code == 303, got.text


def seed(runner: Runner) -> dict[str, str]:
    token = runner.post("/auth/login", ADMIN).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    me = runner.get("/me", headers=auth).json()
    schedule = runner.post("/schedules", {"name": "Platform", "timezone": "UTC"}, headers=auth).json()
    runner.post(
        f"/schedules/{schedule['id']}/rotations",
        {"participants": [me["id"]], "start": "2026-01-05T09:00:00Z", "period": "weekly", "name": "weekly"},
        headers=auth,
    )
    levels = [{"timeout_seconds": 300, "targets": [{"type": "user", "id": me["id"]}]}]
    policy = runner.post("/escalation-policies", {"name": "Platform", "levels": levels}, headers=auth).json()
    service = runner.post("/services", {"name": "checkout", "escalation_policy_id": policy["id"]}, headers=auth).json()
    incident = ""
    for n in range(5):
        body = {"title": f"Checkout errors #{n + 1}", "service_id": service["id"], "severity": "high"}
        incident = runner.post("/incidents", body, headers=auth).json()["id"]
    return {"schedule": schedule["id"], "incident": incident}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", type=int, default=5)
    parser.add_argument("--warm", type=int, default=30)
    args = parser.parse_args()
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    with tempfile.TemporaryDirectory() as tmp:
        runner = start_runner(Path(tmp), topology=PRODUCT_TOPOLOGY, env=env)
        try:
            ids = seed(runner)
            client = Client(runner.http)
            client.sign_in()
            pages = {
                "sign-in": "/console/login",
                "now": "/console",
                "incidents": "/console/incidents",
                "incident": f"/console/incidents/{ids['incident']}",
                "calendar (week)": f"/console/schedules/{ids['schedule']}",
                "calendar (month)": f"/console/schedules/{ids['schedule']}?view=month",
                "services": "/console/services",
                "analytics (7 d)": "/console/analytics",
                "me": "/console/me",
            }
            print(
                f"console through the runner: cold = API workers stopped first ({args.cold} runs), warm ({args.warm})"
            )
            print(
                f"{'page':<18}{'html B':>8}{'assets B':>10}{'requests':>10}"
                f"{'cold p50 ms':>13}{'cold p90':>10}{'warm p50 ms':>13}{'warm p90':>10}"
            )
            for name, path in pages.items():
                first = client.get(path)
                assert first.status_code == 200, (path, first.status_code, first.text[:300])
                assets = ASSET.findall(first.text)
                asset_bytes = sum(len(client.get(a).content) for a in assets)
                cold, warm = [], []
                for _ in range(args.cold):
                    client.http.post(f"{runner.http}/_local/workers/reset", params={"function": "api"}, timeout=30)
                    cold.append(client.get(path).elapsed.total_seconds() * 1000)
                for _ in range(args.warm):
                    warm.append(client.get(path).elapsed.total_seconds() * 1000)
                print(
                    f"{name:<18}{len(first.content):>8}{asset_bytes:>10}{1 + len(assets):>10}"
                    f"{statistics.median(cold):>13.1f}{percentile(cold, 0.9):>10.1f}"
                    f"{statistics.median(warm):>13.1f}{percentile(warm, 0.9):>10.1f}"
                )
        finally:
            runner.stop()
    api = next(f for f in TOPOLOGY.functions if f.name == "api")
    layer = str(ROOT / "layers" / "common" / "python")
    base_env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    fn_env = {**os.environ, **base_env, **function_environment(api)}
    paths = [layer, str(api.code_dir)]
    alone = sample("import handler", paths, fn_env, 7)
    with_console = sample(
        "import handler; import console.dispatch, console.pages; console.render.environment()", paths, fn_env, 7
    )
    print("\ncold import, median of 7 fresh interpreters")
    print(f"{'functions/api handler':<40}{alone:>8.1f} ms")
    print(f"{'… + console (Jinja2, pages)':<40}{with_console:>8.1f} ms  (+{with_console - alone:.1f} ms, first hit)")


if __name__ == "__main__":
    main()
