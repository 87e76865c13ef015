"""Identity through the local runner over HTTP, as a user drives it: the configured first admin logs in, refresh
rotation holds across real worker processes, and 20 parallel creates of one username yield exactly one user."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, start_runner

pytestmark = pytest.mark.e2e

ADMIN = {"username": "e2e-admin", "password": "e2e admin passphrase"}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    r = start_runner(tmp_path_factory.mktemp("auth-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_login_refresh_and_protection(product: Runner):
    assert product.get("/users").status_code == 401
    login = product.post("/auth/login", ADMIN)
    assert login.status_code == 200, login.text
    tokens = login.json()
    me = product.get("/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.json()["role"] == "admin"

    first = product.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    again = product.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]})  # a second tab, same instant
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()

    viewer = {"username": "e2e-viewer", "password": "viewer passphrase!", "role": "viewer"}
    assert product.post("/users", viewer, headers=bearer(tokens["access_token"])).status_code == 201
    vlogin = product.post("/auth/login", {"username": viewer["username"], "password": viewer["password"]})
    assert vlogin.status_code == 200
    denied = product.post(
        "/users", {"username": "nope-user", "password": "x" * 16}, headers=bearer(vlogin.json()["access_token"])
    )
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"


def test_twenty_parallel_creates_of_one_username_make_one_user(product: Runner):
    token = product.post("/auth/login", ADMIN).json()["access_token"]
    body = {"username": "race-e2e", "password": "race passphrase 123"}

    def create(_: int) -> int:
        # one connection per request (requests.Session is not meant to be shared across threads)
        return requests.post(product.http + "/users", json=body, headers=bearer(token), timeout=60).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(create, range(20)))
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == 19, statuses
    users = product.get("/users?limit=200", headers=bearer(token)).json()["items"]
    assert [u["username"] for u in users].count("race-e2e") == 1
