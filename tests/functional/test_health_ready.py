"""``GET /health/ready`` through the real API handler on moto: who may ask (the metrics token or an admin; anyone else
401 or 403), what a ready deployment answers (every table the api is given, the bus and the lifecycle state machine,
each timed), and what a broken one answers (503 naming the failing check by code, never an error's message). The
last test proves the per-call timeouts against a port that accepts connections and never answers."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from oncall.domain.users import Role
from tests.support.identity import FakeClock, Session, login_as
from tests.support.lambdas import HttpResult, call_api

TOKEN = "metrics-" + "k3y" * 12
MONITOR = {"authorization": f"Bearer {TOKEN}"}
FIXED = {"bus", "state-machine:incident-lifecycle"}


@pytest.fixture
def deployed(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The ``aws`` fixture's tables plus what it leaves out, the bus and the state machines, and a metrics token."""
    import boto3

    from infra.local.resources import create_state_machines
    from infra.topology import TOPOLOGY
    from oncall import wiring

    boto3.client("events", region_name="us-east-1").create_event_bus(Name=TOPOLOGY.bus_name)
    create_state_machines(boto3.client("stepfunctions", region_name="us-east-1"), TOPOLOGY)
    monkeypatch.setenv("ONCALL_METRICS_TOKEN", TOKEN)
    # the token is read once per cold start: a cold start for this test
    wiring.reset()
    wiring.override(clock=clock)
    yield
    wiring.reset()


def ready(headers: dict[str, str] | None = None) -> HttpResult:
    return call_api("GET", "/health/ready", headers=headers or {})


def checks(result: HttpResult) -> dict[str, dict[str, object]]:
    return {c["name"]: c for c in result.json["checks"]}


def expected_names() -> set[str]:
    from oncall.settings import get_settings

    return {f"table:{name}" for name in get_settings().tables} | FIXED


def assert_no_leak(result: HttpResult) -> None:
    text = result.raw.decode()
    for leak in ("Traceback", 'File "', "arn:", "oncall-", "123456789012", "does not exist", "Exception:"):
        assert leak not in text, (leak, text)


def test_ready_for_the_metrics_token_with_every_check_timed(deployed: None) -> None:
    from infra.topology import TOPOLOGY

    got = ready(MONITOR)
    assert got.status == 200, got.raw
    assert got.json["status"] == "ready"
    by_name = checks(got)
    assert set(by_name) == expected_names()
    # at least every table the api is declared with, by logical name
    assert {f"table:{t}" for t in TOPOLOGY.function("api").tables} <= set(by_name)
    for check in by_name.values():
        assert check["ok"] is True, check
        assert isinstance(check["latency_ms"], float | int) and 0 <= check["latency_ms"] < 2500, check
        assert "error" not in check, check
    assert got.header("Cache-Control") == "no-store"
    assert_no_leak(got)


def test_ready_for_a_signed_in_admin(deployed: None, admin: Session) -> None:
    got = ready(admin.headers)
    assert got.status == 200, got.raw
    assert got.json["status"] == "ready"
    assert set(checks(got)) == expected_names()


def test_no_token_is_401(deployed: None) -> None:
    got = ready()
    assert got.status == 401
    assert got.header("WWW-Authenticate") == 'Bearer realm="oncall"'
    assert "checks" not in got.json


def test_a_wrong_token_is_401(deployed: None) -> None:
    for wrong in (TOKEN + "x", TOKEN[:-1], "metrics-guess", "och_not.a.token"):
        got = ready({"authorization": f"Bearer {wrong}"})
        assert got.status == 401, (wrong, got.raw)
        assert "checks" not in got.json


@pytest.mark.parametrize("role", [Role.RESPONDER, Role.VIEWER])
def test_a_person_who_is_not_an_admin_is_403(deployed: None, clock: FakeClock, role: Role) -> None:
    got = ready(login_as(role).headers)
    assert got.status == 403, got.raw
    assert got.json["error"]["details"]["required"] == ["admin"]


def test_an_admins_api_token_is_refused(deployed: None, admin: Session) -> None:
    """Monitors present the metrics token; a person's API token, even an admin's, names no scope for this route."""
    from oncall import wiring

    minted = wiring.core.api_token_service().create(admin.user, admin.user.id, "ci", ["incidents:read"])
    got = ready({"authorization": f"Bearer {minted.secret}"})
    assert got.status == 403, got.raw


def test_without_a_configured_token_only_admins_get_in(
    deployed: None, admin: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring

    # neither the token inline nor a secret naming it
    monkeypatch.delenv("ONCALL_METRICS_TOKEN")
    monkeypatch.delenv("ONCALL_SECRET_METRICS_TOKEN")
    wiring.reset()
    assert ready(MONITOR).status == 401
    assert ready(admin.headers).status == 200


def test_a_missing_table_is_503_naming_that_check(deployed: None) -> None:
    import boto3

    from oncall.settings import get_settings

    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=get_settings().table("stats"))
    got = ready(MONITOR)
    assert got.status == 503, got.raw
    assert got.json["status"] == "not_ready"
    by_name = checks(got)
    assert set(by_name) == expected_names()
    assert by_name["table:stats"]["ok"] is False
    assert by_name["table:stats"]["error"] == "ResourceNotFoundException"
    assert isinstance(by_name["table:stats"]["latency_ms"], float | int)
    assert [name for name, c in by_name.items() if not c["ok"]] == ["table:stats"]
    assert_no_leak(got)


def test_a_table_variable_naming_no_table_is_503(deployed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncall import wiring

    monkeypatch.setenv("ONCALL_TABLE_USERS", "oncall-users-gone")
    wiring.reset()
    got = ready(MONITOR)
    assert got.status == 503, got.raw
    assert checks(got)["table:users"]["error"] == "ResourceNotFoundException"
    assert "users-gone" not in got.raw.decode()
    assert_no_leak(got)


def test_a_missing_bus_and_state_machine_are_503(deployed: None) -> None:
    import boto3

    from infra.local.resources import state_machine_arn
    from infra.topology import TOPOLOGY

    boto3.client("events", region_name="us-east-1").delete_event_bus(Name=TOPOLOGY.bus_name)
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    sfn.delete_state_machine(stateMachineArn=state_machine_arn("incident-lifecycle"))
    got = ready(MONITOR)
    assert got.status == 503, got.raw
    failing = {name: c["error"] for name, c in checks(got).items() if not c["ok"]}
    assert failing == {
        "bus": "ResourceNotFoundException",
        "state-machine:incident-lifecycle": "StateMachineDoesNotExist",
    }
    assert_no_leak(got)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers: a dependency that hangs."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def test_a_hung_dependency_times_out_once_without_retries(silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncall.adapters.readiness import TIMEOUT_S, AwsProbes, error_code
    from oncall.services.readiness import Probe, ReadinessCheck

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"http://127.0.0.1:{silent_port}")
    probes = AwsProbes("us-east-1")
    check = ReadinessCheck([Probe("table:users", probes.table("users"))], describe=error_code)
    started = time.monotonic()
    (result,) = check.run().checks
    took = time.monotonic() - started
    assert result.ok is False
    assert result.error == "ReadTimeoutError"
    # one attempt of TIMEOUT_S: the SDK's default retries would have taken three times as long
    assert TIMEOUT_S * 0.9 <= took < TIMEOUT_S * 1.5, took
