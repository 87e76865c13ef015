"""Team-scoped lists: what one team's list costs in DynamoDB calls and items read as another team's data grows.

Runs the real API handler in-process against moto. Team A holds 500 incidents on one service; team B's incidents
grow from 0 to ``--max`` on its own service. For each size it counts, for one request each: a responder of A's first
page of ``GET /incidents`` (limit 50), the same filtered to ``status=acknowledged``, ``GET /services`` and
``GET /schedules``; and an admin's unfiltered first page for comparison. Counts are per request, authentication's one
GetItem included. A team's list reads its services' keys of ``by-service`` (filtered to the team), and a catalog list
reads its team's keys of ``by-team``: neither grows with the other team's items.

    .venv/bin/python bench/teams.py [--max 2000]

Measured (defaults): team A's incident page 5 calls / 305 items read (its service's key read up to 4 × the page, as
every filtered list is, then the page's 50 incidents whole: META and counter), its status page 5 / 172, services 2 / 2,
schedules 2 / 2, alike at 0, 500 and 2,000 incidents of team B; the admin's unfiltered page 11 calls / 501 items
throughout (9 list shards, each read up to the page size).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

from bench.auth import DynamoMeter  # noqa: E402  (sets the emulator's environment too)
from tests.support.incidents import stored_incidents  # noqa: E402

START = datetime(2031, 7, 1, tzinfo=UTC)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max", type=int, default=2000)
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
        os.environ["ONCALL_ARGON2_MEMORY_KIB"] = "1024"  # the KDF is not what this measures

        from infra.local.apigw import http_event
        from infra.local.context import LambdaContext
        from infra.local.loader import load_handler
        from oncall import wiring
        from oncall.domain.users import Role
        from oncall.services.users import NewUser
        from oncall.settings import get_settings

        get_settings.cache_clear()
        wiring.reset()
        handler = load_handler("api")
        password = "bench passphrase 1234"

        def call(method: str, path: str, token: str | None = None, body: Any = None) -> Any:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            result = handler(http_event(method, path, headers=headers, body=body), LambdaContext(function_name="api"))
            assert 200 <= result["statusCode"] < 300, (path, result["statusCode"], result["body"][:300])
            return json.loads(result["body"]) if result.get("body") else None

        def login(name: str, role: Role, teams: dict[str, str] | None) -> str:
            wiring.core.user_service().provision(NewUser(username=name, password=password, role=role, teams=teams))
            return str(call("POST", "/auth/login", body={"username": name, "password": password})["access_token"])

        admin = login("bench.admin", Role.ADMIN, None)
        teams = {name: call("POST", "/teams", admin, {"name": name})["id"] for name in ("A", "B")}
        services = {}
        for name, team in teams.items():
            policy = call(
                "POST",
                "/escalation-policies",
                admin,
                {
                    "name": name,
                    "team_id": team,
                    "levels": [{"targets": [{"type": "schedule", "id": "x"}], "timeout_seconds": 60}],
                },
            )
            services[name] = call(
                "POST", "/services", admin, {"name": name, "escalation_policy_id": policy["id"], "team_id": team}
            )["id"]
            call("POST", "/schedules", admin, {"name": name, "timezone": "UTC", "team_id": team})
        responder = login("bench.responder", Role.RESPONDER, {teams["A"]: "responder"})
        stored_incidents(teams["A"], services["A"], 500, START)

        requests = [
            ("A: GET /incidents?limit=50", responder, "/incidents?limit=50"),
            ("A: GET /incidents?status=acknowledged&limit=50", responder, "/incidents?status=acknowledged&limit=50"),
            ("A: GET /services", responder, "/services"),
            ("A: GET /schedules", responder, "/schedules"),
            ("admin: GET /incidents?limit=50", admin, "/incidents?limit=50"),
        ]
        sizes = sorted({0, 500, args.max})
        table: dict[str, list[str]] = {name: [] for name, _, _ in requests}
        seeded = 0
        for size in sizes:
            stored_incidents(teams["B"], services["B"], size - seeded, START, offset=10_000 + seeded)
            seeded = size
            for name, token, path in requests:
                call("GET", path, token)  # warm
                meter.reset()
                call("GET", path, token)
                table[name].append(f"{sum(meter.calls.values())} / {meter.items_read}")

    width = max(len(n) for n in table)
    header = " | ".join(f"B = {s:>5}" for s in sizes)
    print("DynamoDB calls / items read per request, team A holding 500 incidents, team B growing\n")
    print(f"| {'request':<{width}} | {header} |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * 11 for _ in sizes) + "|")
    for name, cells in table.items():
        print(f"| {name:<{width}} | " + " | ".join(f"{c:>9}" for c in cells) + " |")
    grew = [name for name, cells in table.items() if name.startswith("A:") and len(set(cells)) > 1]
    print(f"\nteam A's requests that grew with team B's data: {grew or 'none'}")
    return 1 if grew else 0


if __name__ == "__main__":
    raise SystemExit(main())
