"""``make demo`` against a fresh runner: it builds the organisation, plays history and the scenario (checked on what
the API stores afterwards), adds nothing the second time, and refuses a target that is not the local runner."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.local import demo
from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, ok, start_runner

pytestmark = pytest.mark.e2e

ADMIN = {"username": "demo-admin", "password": "demo admin passphrase"}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    r = start_runner(tmp_path_factory.mktemp("demo-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def test_the_demo_fills_the_instance_once_and_plays_its_scenario(
    product: Runner, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--url", product.http, "--username", ADMIN["username"], "--password", ADMIN["password"], "--days", "1"]
    assert demo.main(args) == 0
    out = capsys.readouterr().out
    assert "3 incidents played" in out and "escalated: Paged" in out and "(level 2)" in out
    token = ok(product.post("/auth/login", ADMIN))["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    users = ok(product.get("/users", params={"limit": 100}, headers=auth))["items"]
    assert {u["username"] for u in users} >= {p[0] for p in demo.PEOPLE}
    assert all(u["telegram_linked"] for u in users if u["username"] in {p[0] for p in demo.PEOPLE})
    schedules = ok(product.get("/schedules", headers=auth))["items"]
    assert sorted(s["name"] for s in schedules) == sorted(s[0] for s in demo.SCHEDULES)
    for schedule in schedules:
        assert ok(product.get(f"/schedules/{schedule['id']}/oncall", headers=auth))["user_id"] is not None
    incidents = ok(product.get("/incidents", params={"limit": 100}, headers=auth))["items"]
    assert sum(i["status"] == "resolved" for i in incidents) == 4  # 3 played + the scenario's first
    summary = ok(product.get("/analytics/summary", headers=auth))
    assert summary["mtta"]["count"] >= 4 and summary["mttr"]["count"] >= 4

    assert demo.main(args) == 0  # idempotent: the organisation and history are found, not made again
    assert "0 incidents played" in capsys.readouterr().out
    again = ok(product.get("/users", params={"limit": 100}, headers=auth))["items"]
    assert len(again) == len(users)
    assert len(ok(product.get("/schedules", headers=auth))["items"]) == len(schedules)
    assert len(ok(product.get("/services", headers=auth))["items"]) == len(demo.SERVICES)


class _NotTheRunner(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # a production-looking API: no /_local
        self.send_response(404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


def test_the_demo_refuses_anything_but_the_local_runner(capsys: pytest.CaptureFixture[str]) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotTheRunner)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert demo.main(["--url", url, "--password", "x"]) == 2
        assert "is not a local runner" in capsys.readouterr().err
    finally:
        server.shutdown()
