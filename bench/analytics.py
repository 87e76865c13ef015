"""Analytics cost as incidents grow: DynamoDB calls and items read per analytics request, from the statistics
rollups, at 100, 1,000, 10,000 and 100,000 incidents; and, for comparison, the exact computation the API made before
(every incident of the window read) at 100 and 1,000 (at 10,000 it takes minutes on the emulator).

The incidents are 30 days of a deployment with 2 teams, 10 services and 4 severities. Their cells are written as the
stats store lays them out (each incident's contribution computed by ``oncall.domain.stats``, summed per cell, written
in batches), since what is measured is what the reads cost, not how the cells were kept; the old computation reads
incidents written as the incident store lays them out.

    .venv/bin/python bench/analytics.py [--sizes 100,10000,100000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

import tests.conftest  # noqa: E402,F401  (test-only credentials and a cheap KDF: this runs against the emulator)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SERVICES = [f"svc-{i}" for i in range(10)]


class Counting:
    """A DynamoDB client that counts calls and the items each returned."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: Counter[str] = Counter()
        self.items = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            out = method(*args, **kwargs)
            if isinstance(out, dict):
                self.items += len(out.get("Items", [])) + (1 if "Item" in out else 0)
            return out

        return call

    def get_paginator(self, name: str) -> Any:
        return self.client.get_paginator(name)


def incidents(count: int, teams: list[str]) -> list[Any]:
    from oncall.domain.incidents import Incident, Severity, Source, Status

    out = []
    span = int(timedelta(days=30).total_seconds())
    for n in range(count):
        created = NOW - timedelta(seconds=span * (n + 1) // (count + 1))
        acked = n % 4 != 0
        resolved = n % 3 != 0
        out.append(
            Incident(
                id=f"inc{n:07d}",
                title=f"Alert {n}",
                service_id=SERVICES[n % len(SERVICES)],
                severity=list(Severity)[n % 4],
                source=Source.API,
                status=Status.RESOLVED if resolved else Status.ACKNOWLEDGED if acked else Status.TRIGGERED,
                created_at=created,
                updated_at=created,
                acknowledged_at=created + timedelta(seconds=30 + n % 600) if acked or resolved else None,
                resolved_at=created + timedelta(seconds=900 + n % 7200) if resolved else None,
                team_id=teams[n % len(teams)],
            )
        )
    return out


def write_cells(found: list[Any], client: Any, table: str) -> int:
    from oncall.adapters.dynamodb import kit
    from oncall.adapters.dynamodb.stats import cell_key
    from oncall.domain.stats import Contribution

    cells: dict[Any, Counter[str]] = {}
    teams: set[str] = set()
    for incident in found:
        contribution = Contribution.of(incident.snapshot())
        teams.add(contribution.team)
        for cell, counters in contribution.cells().items():
            cells.setdefault(cell, Counter()).update(counters)
    items = [{**cell_key(cell), **{k: {"N": str(v)} for k, v in c.items()}} for cell, c in cells.items()]
    items += [kit.key("TEAMS", team) for team in teams]
    kit.batch_write(client, table, [{"PutRequest": {"Item": i}} for i in items])
    return len(cells)


def measure(size: int, exact: bool) -> list[tuple[str, int, int, float]]:
    import boto3
    from moto import mock_aws

    from infra.local.resources import create_tables, function_environment
    from infra.topology import FUNCTIONS
    from oncall import wiring
    from oncall.adapters.dynamodb import kit
    from oncall.adapters.dynamodb.incident_items import alerts_item, incident_item
    from oncall.adapters.dynamodb.stats import DynamoStatsStore
    from oncall.domain.users import Role
    from oncall.services.stats import StatsService
    from oncall.settings import get_settings
    from tests.support.analytics_oracle import IncidentAnalytics
    from tests.support.identity import make_user

    rows: list[tuple[str, int, int, float]] = []
    with mock_aws():
        raw = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(raw)
        for fn in FUNCTIONS:
            os.environ.update(function_environment(fn))
        get_settings.cache_clear()
        wiring.reset()
        wiring.override(clock=lambda: NOW)
        admin = make_user(Role.ADMIN)
        found = incidents(size, ["team-a", "team-b"])
        cells = write_cells(found, raw, get_settings().table("stats"))
        counting = Counting(raw)
        stats = StatsService(DynamoStatsStore(get_settings().table("stats"), counting), None, lambda: NOW)
        month = (NOW - timedelta(days=30), NOW)
        for label, request in (
            ("summary, 30 days", lambda: stats.summary(admin, *month)),
            ("summary, 30 days, by service", lambda: stats.summary(admin, *month, by="service")),
            ("trends, 7 days by hour", lambda: stats.trends(admin, NOW, timedelta(days=7), timedelta(hours=1))),
            ("trends, 30 days by day", lambda: stats.trends(admin, NOW, timedelta(days=30), timedelta(days=1))),
            ("mttr-distribution, 30 days", lambda: stats.mttr_distribution(admin, *month)),
            # GET /metrics: its counters and histograms (the rest of a scrape reads services and schedules)
            ("metrics scrape: all-time cells", stats.all_time),
        ):
            counting.calls.clear()
            counting.items = 0
            started = time.perf_counter()
            request()
            took = (time.perf_counter() - started) * 1000
            rows.append(
                (f"rollups: {label} ({cells} cells stored)", sum(counting.calls.values()), counting.items, took)
            )
        if exact:
            items = [x for i in found for x in (incident_item(i), alerts_item(i))]
            kit.batch_write(raw, get_settings().table("incidents"), [{"PutRequest": {"Item": i}} for i in items])
            service = wiring.incidents.incident_service()
            service.store.client = Counting(raw)  # type: ignore[attr-defined]
            oracle = IncidentAnalytics(service)
            started = time.perf_counter()
            oracle.summary(admin, *month)
            took = (time.perf_counter() - started) * 1000
            counted = service.store.client  # type: ignore[attr-defined]
            rows.append(
                ("before: summary, 30 days (every incident read)", sum(counted.calls.values()), counted.items, took)
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    args = parser.parse_args()
    print(f"{'incidents':>9}   {'request':64} {'calls':>5} {'items read':>10} {'ms':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        for label, calls, items, took in measure(size, exact=size <= 1000):
            print(f"{size:>9}   {label:64} {calls:>5} {items:>10} {took:>8.1f}")


if __name__ == "__main__":
    main()
