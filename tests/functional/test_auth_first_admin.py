"""The first admin: the runner's bootstrap (env or generated password) and the operator CLI for a deployed stack,
both against a moto server on a free port, then a login through the real API handler."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from tests.support.lambdas import call_api


@pytest.fixture
def endpoint(aws) -> Iterator[str]:
    """A moto server in this process: it serves the same backends the in-process handler uses."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from oncall import wiring

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    wiring.reset()
    yield f"http://{host}:{port}"
    server.stop()
    wiring.reset()  # bootstrap bound the models to the server's URL; the next test rebinds


def login(username: str, password: str):
    from oncall import wiring

    wiring.reset()  # rebind the identity models to in-process moto (bootstrap pointed them at the server)
    return call_api("POST", "/auth/login", body={"username": username, "password": password})


def test_generated_admin_is_printed_once_then_nothing(endpoint):
    from infra.local.bootstrap import ensure_first_admin

    first = ensure_first_admin(endpoint, {})
    assert first is not None and first["username"] == "admin" and len(first["password"]) >= 20
    assert ensure_first_admin(endpoint, {}) is None  # an admin exists: no new password, nothing printed
    result = login("admin", first["password"])
    assert result.status == 200
    me = call_api("GET", "/me", headers={"authorization": f"Bearer {result.json['access_token']}"})
    assert me.json["role"] == "admin"


def test_configured_admin_from_env_and_password_follows_the_env(endpoint):
    from infra.local.bootstrap import ensure_first_admin

    env = {"ONCALL_ADMIN_USERNAME": "Root", "ONCALL_ADMIN_PASSWORD": "first configured passphrase"}
    assert ensure_first_admin(endpoint, env) == {"username": "root"}
    assert ensure_first_admin(endpoint, env) == {"username": "root"}  # idempotent
    assert login("root", "first configured passphrase").status == 200
    env["ONCALL_ADMIN_PASSWORD"] = "second configured passphrase"
    ensure_first_admin(endpoint, env)
    assert login("root", "first configured passphrase").status == 401
    assert login("root", "second configured passphrase").status == 200


def test_a_password_alone_is_the_admin_users(endpoint):
    from infra.local.bootstrap import ensure_first_admin

    assert ensure_first_admin(endpoint, {"ONCALL_ADMIN_PASSWORD": "only the password set"}) == {"username": "admin"}
    assert login("admin", "only the password set").status == 200


def test_runner_keyword_form(endpoint):
    from infra.local.bootstrap import ensure_first_admin

    got = ensure_first_admin(endpoint, {}, username="ops", password="keyword passphrase!")
    assert got == {"username": "ops"}
    assert login("ops", "keyword passphrase!").status == 200


def test_admin_cli_creates_and_resets(endpoint, monkeypatch, capsys):
    from infra import admin

    table = "oncall-users"
    monkeypatch.setattr("sys.stdin", io.StringIO("cli chosen passphrase\n"))
    argv = ["--username", "opsadmin", "--table", table, "--endpoint-url", endpoint, "--password-stdin"]
    assert admin.main(argv) == 0
    assert "created admin opsadmin" in capsys.readouterr().out
    assert login("opsadmin", "cli chosen passphrase").status == 200

    monkeypatch.setattr("sys.stdin", io.StringIO("another passphrase\n"))
    assert admin.main(argv) == 1  # exists, no --reset
    assert admin.main([*argv[:-1], "--generate", "--reset"]) == 0
    out = capsys.readouterr().out
    generated = out.split("password (shown once): ")[1].strip()
    assert login("opsadmin", "cli chosen passphrase").status == 401
    assert login("opsadmin", generated).status == 200

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert admin.main(["--username", "weak", "--table", table, "--endpoint-url", endpoint, "--password-stdin"]) == 2
