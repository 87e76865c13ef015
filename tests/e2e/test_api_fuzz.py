"""Schemathesis over every operation of ``/openapi.json``, against the local runner, as an admin and as a responder.

Checks: no 5xx (``not_a_server_error``), every answer's status documented (``status_code_conformance``) and its body
what the document says (``response_schema_conformance``). Generated data is valid and invalid alike (schemathesis'
``all`` mode: examples, coverage of each schema's edges, then random fuzzing). Webhook subscriptions may only reach
127.0.0.1, where a real receiver listens; logging in and refreshing are fuzzed too (without a token, as clients do).

Bounded for CI (two cores): a fixed number of cases per operation and a seed, so a failure reproduces; the command
that failed is printed with schemathesis' own report of the failing case (``--report-pytest`` writes a reproducer).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, ok, start_runner
from tests.support.receivers import WebhookReceiver

pytestmark = pytest.mark.e2e

ADMIN = {"username": "fuzz-admin", "password": "fuzzing admin passphrase"}
RESPONDER = {"username": "fuzz-responder", "password": "fuzzing responder passphrase"}
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
#: random cases per operation in the fuzzing phase (the examples and coverage phases are not capped by it): ~90
#: operations, three callers, about two minutes on two cores at 10; ONCALL_FUZZ_EXAMPLES=50 for a deeper run
MAX_EXAMPLES = int(os.environ.get("ONCALL_FUZZ_EXAMPLES", "10"))
SEED = int(os.environ.get("ONCALL_FUZZ_SEED", "20261205"))


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver) -> Iterator[Runner]:
    env = {
        "ONCALL_ADMIN_USERNAME": ADMIN["username"],
        "ONCALL_ADMIN_PASSWORD": ADMIN["password"],
        "ONCALL_WEBHOOK_ALLOWLIST": "127.0.0.1/32",
        "ONCALL_WEBHOOK_RETRY_SCHEDULE": "1",
        "ONCALL_WEBHOOK_TIMEOUT_SECONDS": "2",
        # generated logins fail by the hundred from one address: the lockout (a documented 429) must not stop
        # the run from logging in its own people
        "ONCALL_AUTH_LOGIN_FAILURES_PER_IP": "100000",
        "ONCALL_AUTH_LOGIN_FAILURES_PER_USER": "100000",
    }
    r = start_runner(tmp_path_factory.mktemp("fuzz-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def _token(product: Runner, who: dict[str, str]) -> str:
    return str(ok(product.post("/auth/login", who))["access_token"])


@pytest.fixture(scope="module")
def tokens(product: Runner, receiver: WebhookReceiver) -> dict[str, str]:
    admin = _token(product, ADMIN)
    auth = {"Authorization": f"Bearer {admin}"}
    ok(product.post("/users", {**RESPONDER, "role": "responder"}, headers=auth), 201)
    # something for the generated ids to find next to what they do not: a schedule, a policy, a subscription
    ok(product.post("/schedules", {"name": "fuzzed", "timezone": "UTC"}, headers=auth), 201)
    ok(product.post("/webhooks", {"url": receiver.url, "events": ["incident.triggered"]}, headers=auth), 201)
    return {"admin": admin, "responder": _token(product, RESPONDER)}


def _fuzz(product: Runner, tmp: Path, name: str, token: str | None, *extra: str) -> None:
    cmd = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{product.http}/openapi.json",
        f"--checks={CHECKS}",
        "--phases=examples,coverage,fuzzing",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--workers=2",
        "--request-timeout=20",
        "--suppress-health-check=all",
        "--no-shrink",
        "--report=junit",
        f"--report-dir={tmp / name}",
        "--warnings=off",
        *([f"--header=Authorization: Bearer {token}"] if token else []),
        *extra,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if os.environ.get("ONCALL_FUZZ_SHOW"):
        print(done.stdout[-6000:])
    assert done.returncode == 0, (
        f"schemathesis found failures as {name}:\n{done.stdout[-12000:]}\n{done.stderr[-3000:]}"
    )


def test_every_operation_fuzzed_by_role(product: Runner, tokens: dict[str, str], tmp_path: Path) -> None:
    """One test, in a fixed order: the admin's run may (rightly) edit, demote or delete anyone it finds in a list,
    the responder included, so it goes last; logout would end the session the rest runs with, so it has its own."""
    _fuzz(product, tmp_path, "responder", tokens["responder"], "--exclude-path=/auth/logout")
    # the run was authenticated to the end: not thousands of documented 401s passing for a test
    ok(product.get("/me", headers={"Authorization": f"Bearer {tokens['responder']}"}))
    _fuzz(
        product, tmp_path, "anonymous", None, "--include-path-regex=^/(auth/(login|refresh)|health|v2/|integrations/)"
    )
    _fuzz(product, tmp_path, "logout", _token(product, RESPONDER), "--include-path=/auth/logout")
    _fuzz(product, tmp_path, "admin", tokens["admin"], "--exclude-path=/auth/logout")
