"""Auth cost: login (Argon2id at production parameters), per-request token verification, and what an authenticated
request costs in DynamoDB calls and items read (counted with botocore event hooks; the budget is one read).

Runs the real API handler in-process against moto. Wall times include moto's in-process overhead, so the DynamoDB
column is the figure that carries over to AWS; the KDF rows are pure CPU and do.

    .venv/bin/python bench/auth.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
)
for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "ONCALL_ARGON2_TIME_COST", "ONCALL_ARGON2_MEMORY_KIB"):
    os.environ.pop(var, None)


class DynamoMeter:
    """Counts DynamoDB operations and items read, for every client created after ``install``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.items_read = 0

    def install(self) -> None:
        from botocore.handlers import BUILTIN_HANDLERS

        BUILTIN_HANDLERS.append(("before-call.dynamodb", self._before))
        BUILTIN_HANDLERS.append(("after-call.dynamodb", self._after))

    def reset(self) -> None:
        self.calls.clear()
        self.items_read = 0

    def _before(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _after(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        name = model.name
        if name == "GetItem":
            self.items_read += 1 if parsed.get("Item") else 0
        elif name in ("Query", "Scan"):
            self.items_read += int(parsed.get("Count", 0))
        elif name == "BatchGetItem":
            self.items_read += sum(len(v) for v in parsed.get("Responses", {}).values())
        elif name == "TransactGetItems":
            self.items_read += sum(1 for r in parsed.get("Responses", []) if r.get("Item"))

    @property
    def reads(self) -> int:
        return sum(n for op, n in self.calls.items() if op in ("GetItem", "Query", "Scan", "BatchGetItem"))

    def summary(self) -> str:
        return ", ".join(f"{op}×{n}" for op, n in sorted(self.calls.items())) or "none"


def timed(fn: Any, rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.9))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    meter = DynamoMeter()
    meter.install()

    import boto3
    from moto import mock_aws

    from infra.local.resources import create_tables, function_environment
    from infra.topology import function
    from oncall.security.keys import generate_keyset_json

    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"))
        os.environ.update(function_environment(function("api")))
        os.environ["ONCALL_JWT_KEYS"] = generate_keyset_json()
        # the bench fails logins on purpose, many times: keep the lockout out of the measurement
        os.environ["ONCALL_AUTH_LOGIN_FAILURES_PER_USER"] = os.environ["ONCALL_AUTH_LOGIN_FAILURES_PER_IP"] = "100000"

        from infra.local.apigw import http_event
        from infra.local.context import LambdaContext
        from infra.local.loader import load_handler
        from oncall import wiring
        from oncall.domain.tokens import TokenKind
        from oncall.domain.users import Role
        from oncall.services.users import NewUser
        from oncall.settings import get_settings

        get_settings.cache_clear()
        wiring.reset()
        handler = load_handler("api")
        password = "bench passphrase 1234"
        wiring.core.user_service().provision(NewUser(username="bench", password=password, role=Role.RESPONDER))
        hasher = wiring.core.hasher()
        params = hasher.parameters

        def call(method: str, path: str, **kw: Any) -> dict[str, Any]:
            result: dict[str, Any] = handler(http_event(method, path, **kw), LambdaContext(function_name="api"))
            return result

        login_body = {"username": "bench", "password": password}
        unknown_body = {"username": "nobody", "password": password}
        wrong_body = {"username": "bench", "password": "not the passphrase"}
        import json

        tokens = json.loads(call("POST", "/auth/login", body=login_body)["body"])
        auth_header = {"authorization": f"Bearer {tokens['access_token']}"}
        encoded = hasher.hash(password)

        rows: list[tuple[str, str, str, str]] = []

        def row(name: str, fn: Any, rounds: int, note: str = "") -> None:
            fn()  # warm: first use builds services, loads keys, computes the dummy hash
            meter.reset()
            fn()
            dynamo = f"{meter.reads} reads / {meter.items_read} items ({meter.summary()})"
            median, p90 = timed(fn, rounds)
            rows.append((name, f"{median:8.2f}", f"{p90:8.2f}", note or dynamo))

        row("KDF verify (argon2id, pure CPU)", lambda: hasher.verify(encoded, password), args.rounds, params)
        row("POST /auth/login (known user)", lambda: call("POST", "/auth/login", body=login_body), args.rounds)
        row("POST /auth/login (wrong password)", lambda: call("POST", "/auth/login", body=wrong_body), args.rounds)
        row("POST /auth/login (unknown user)", lambda: call("POST", "/auth/login", body=unknown_body), args.rounds)
        codec = wiring.core.token_codec()
        clock = wiring.clock()
        row(
            "access token verify (JWT only)",
            lambda: codec.decode(tokens["access_token"], TokenKind.ACCESS, clock()),
            args.rounds * 50,
            "no I/O",
        )
        auth = wiring.core.auth_service()
        row("authenticate (JWT + user read)", lambda: auth.authenticate(tokens["access_token"]), args.rounds * 5)
        row("GET /me via handler", lambda: call("GET", "/me", headers=auth_header), args.rounds * 5)
        store = wiring.core.user_store()
        user = store.get(store.id_for_username("bench") or "")
        assert user is not None
        minted = wiring.core.api_token_service().create(user, user.id, "bench", ["users:read"])
        token_header = {"authorization": f"Bearer {minted.secret}"}
        row("GET /me, API token (remembered)", lambda: call("GET", "/me", headers=token_header), args.rounds * 5)
        os.environ["ONCALL_AUTH_API_TOKEN_CACHE_SECONDS"] = "0"
        get_settings.cache_clear()
        wiring.reset()
        row("GET /me, API token (cache off)", lambda: call("GET", "/me", headers=token_header), args.rounds * 5)

        meter.reset()
        status = call("GET", "/me", headers=auth_header)["statusCode"]
        assert status == 200, status
        per_request_reads, per_request_items = meter.reads, meter.items_read

    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}} | {'p50 ms':>8} | {'p90 ms':>8} | DynamoDB per call / parameters")
    print(f"{'-' * width}-+-{'-' * 8}-+-{'-' * 8}-+-{'-' * 40}")
    for name, p50, p90, note in rows:
        print(f"{name:<{width}} | {p50} | {p90} | {note}")
    verdict = "OK" if per_request_reads <= 1 and per_request_items <= 1 else "OVER BUDGET"
    print(
        f"\nauthenticated request (GET /me): {per_request_reads} DynamoDB read call(s), {per_request_items} item(s) "
        f"read; budget 1 → {verdict}"
    )
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    raise SystemExit(main())
