"""Reminder tick cost vs reminders stored: items read per tick at 1,000 and 100,000 stored reminders with the same
number due. The due index is sparse (only pending reminders are in it) and partitioned by hour, so a tick reads the
cursor and the due items, whatever lies around them; moto's wall time grows with the table (its Query scans), which
is why the table reports DynamoDB items read and calls, the figures that cost money and latency in AWS.

    .venv/bin/python bench/reminders.py [--sizes 1000,100000] [--due 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _environment() -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "ONCALL_ARGON2_TIME_COST": "1",
            "ONCALL_ARGON2_MEMORY_KIB": "64",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    for var in ("TELEGRAM_BOT_TOKEN", "ONCALL_SECRET_TELEGRAM_BOT_TOKEN"):
        os.environ.pop(var, None)


def _load(client: Any, table: str, stored: int, due: int, user_ids: list[str]) -> None:
    """``stored`` reminders: ``due`` pending and due now, the rest pending in the coming weeks or already handled."""
    from oncall.adapters.dynamodb.reminders import _item
    from oncall.domain.reminders import ReminderStatus
    from oncall.services.reminders import Reminder

    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch:
            client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": i}} for i in batch]})
            batch.clear()

    for n in range(stored):
        if n < due:
            start, status = NOW + timedelta(minutes=10), ReminderStatus.PENDING
            offset = 10
        elif n % 3 == 0:
            start, status = NOW + timedelta(minutes=30 + n % 40_000), ReminderStatus.PENDING
            offset = 10
        else:
            start, status = NOW - timedelta(minutes=n % 40_000), ReminderStatus.SENT
            offset = 120
        reminder = Reminder(
            shift_id=f"shift{n:07d}",
            schedule_id="bench-schedule",
            user_id=user_ids[n % len(user_ids)],
            offset_minutes=offset,
            due_at=start - timedelta(minutes=offset),
            shift_start=start,
            shift_end=start + timedelta(hours=8),
            shift_version=1,
            status=status,
            sent_at=start - timedelta(minutes=offset) if status is ReminderStatus.SENT else None,
        )
        batch.append(_item(reminder))
        if len(batch) == 25:
            flush()
    flush()


def measure(stored: int, due: int) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from infra.local.resources import create_tables, function_environment
    from infra.topology import FUNCTIONS

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client)
        for fn in FUNCTIONS:
            os.environ.update(function_environment(fn))
        # no bot token: the notification service has no channel, each due reminder ends "no_channel" (still a
        # claim, a send attempt and a finish: the same reminder-table work as a real send)
        for var in [v for v in os.environ if v.startswith("ONCALL_SECRET_TELEGRAM")]:
            os.environ.pop(var)
        from oncall import wiring
        from oncall.services.users import NewUser
        from oncall.settings import get_settings

        get_settings.cache_clear()
        wiring.reset()
        users = [
            wiring.core.user_service().provision(NewUser(username=f"bench{i}", password="a long enough password"))
            for i in range(min(due, 20))
        ]
        table = get_settings().table("reminders")
        loaded = time.perf_counter()
        _load(client, table, stored, due, [u.id for u in users])
        load_s = time.perf_counter() - loaded
        service = wiring.reminders.reminder_service()
        store = service.store
        # the previous minute's tick: sets the cursor, finds nothing due yet
        service.tick(NOW - timedelta(minutes=1))
        store.reads = store.calls = 0  # type: ignore[attr-defined]
        started = time.perf_counter()
        report = service.tick(NOW)
        tick_ms = (time.perf_counter() - started) * 1000
        reads, calls = store.reads, store.calls  # type: ignore[attr-defined]
        store.reads = store.calls = 0  # type: ignore[attr-defined]
        quiet = service.tick(NOW + timedelta(minutes=1))
        return {
            "stored": stored,
            "due": report.candidates,
            "handled": report.no_channel + report.sent + report.cancelled,
            "reads": reads,
            "calls": calls,
            "quiet_reads": store.reads,  # type: ignore[attr-defined]
            "quiet_calls": store.calls,  # type: ignore[attr-defined]
            "quiet_due": quiet.candidates,
            "tick_ms": tick_ms,
            "load_s": load_s,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--due", type=int, default=20)
    args = parser.parse_args()
    _environment()
    rows = [measure(int(s), args.due) for s in args.sizes.split(",")]
    print(f"reminder tick cost vs reminders stored ({args.due} due; moto {_moto_version()}, in-process)")
    print()
    print(
        "| reminders stored | due this tick | handled | items read (reminders table) | DynamoDB calls "
        "| next tick: items read / calls | tick wall ms (moto) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['stored']:,} | {r['due']} | {r['handled']} | {r['reads']} | {r['calls']} "
            f"| {r['quiet_reads']} / {r['quiet_calls']} | {r['tick_ms']:.0f} |"
        )
    print()
    print(
        "items read = the cursor item + every item the due-index Query returned; they do not grow with what is "
        "stored. Wall time on moto does (its Query scans the table); DynamoDB's does not."
    )


def _moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


if __name__ == "__main__":
    main()
