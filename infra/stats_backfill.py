"""Count what was stored before the statistics rollups existed (or recount everything), with the operator's own AWS
credentials or against the local emulator.

    make backfill-stats                                     # the deployed stack OnCallHub
    python -m infra.stats_backfill --endpoint-url http://127.0.0.1:4566 --since 2025-01-01

Every incident created since ``--since`` (default: 400 days ago) is counted as it is stored now, month by month,
through the same idempotent step the ``stats`` function applies to each event: a rerun, or events arriving
meanwhile, count nothing twice. The tables are found from the stack: the API function's ``ONCALL_TABLE_INCIDENTS``
and ``ONCALL_TABLE_STATS`` (or pass ``--incidents-table`` and ``--stats-table``).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.local.loader import LAYER_PATH

DEFAULT_STACK_NAME = "OnCallHub"
MONTH = timedelta(days=31)


def stack_tables(stack: str, region: str | None) -> tuple[str, str]:
    from infra.admin import function_variables

    found = function_variables(stack, region, "ONCALL_TABLE_INCIDENTS", "ONCALL_TABLE_STATS")
    if found is None:
        raise SystemExit(f"no function in stack {stack} names both tables; pass --incidents-table and --stats-table")
    return found[0], found[1]


def backfill(incidents_table: str, stats_table: str, since: datetime, until: datetime, client: Any) -> dict[str, int]:
    sys.path.insert(0, str(LAYER_PATH))
    from oncall.adapters.dynamodb.incidents import DynamoIncidentStore
    from oncall.adapters.dynamodb.stats import DynamoStatsStore
    from oncall.services.stats import StatsService

    incidents = DynamoIncidentStore(incidents_table, client)
    stats = StatsService(DynamoStatsStore(stats_table, client), None, lambda: datetime.now(UTC))
    totals = {"applied": 0, "stale": 0}
    start = since
    while start < until:
        end = min(start + MONTH, until)
        for outcome, n in stats.backfill(incidents.created_between(start, end)).items():
            totals[outcome] += n
        start = end
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.stats_backfill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default=DEFAULT_STACK_NAME, help="CloudFormation stack (default %(default)s)")
    parser.add_argument("--incidents-table")
    parser.add_argument("--stats-table")
    parser.add_argument("--since", help="YYYY-MM-DD (default: 400 days ago)")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    parser.add_argument("--endpoint-url", help="a non-AWS endpoint, e.g. the local emulator")
    args = parser.parse_args(argv)
    import boto3

    if args.incidents_table and args.stats_table:
        tables = (args.incidents_table, args.stats_table)
    elif args.endpoint_url:
        tables = ("oncall-incidents", "oncall-stats")
    else:
        tables = stack_tables(args.stack, args.region)
    now = datetime.now(UTC)
    since = datetime.fromisoformat(args.since).replace(tzinfo=UTC) if args.since else now - timedelta(days=400)
    client = boto3.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    totals = backfill(*tables, since, now + timedelta(minutes=1), client)
    print(f"counted {totals['applied']} incidents; {totals['stale']} were already counted as they are")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
