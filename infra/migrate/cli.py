"""``python -m infra.migrate`` (``make import SOURCE=pagerduty ARGS=...``).

    PAGERDUTY_TOKEN=... python -m infra.migrate pagerduty --as admin            # dry run: the plan, nothing written
    PAGERDUTY_TOKEN=... python -m infra.migrate pagerduty --as admin --apply --verify
    python -m infra.migrate pagerduty --from-dir ./pd-export --as admin --json plan.json
    python -m infra.migrate pagerduty --local http://127.0.0.1:5000 --as admin  # the local runner's emulator
    python -m infra.migrate export --out oncall.yaml                             # the setup as code (make export)
    python -m infra.migrate config --file oncall.yaml --apply                    # apply it (make apply FILE=...)

The token is read from ``PAGERDUTY_TOKEN`` (``OPSGENIE_API_KEY``, ``GRAFANA_ONCALL_TOKEN``) or the first line of
stdin (``--token-stdin``), never from the command line. Where OnCall Hub runs: the tables the environment names
(``ONCALL_TABLE_*``), else the local runner's emulator (``--local URL``), else the deployed stack (``--stack``, found
with your AWS credentials as ``make admin`` does).
Exit status: 0 done, 1 a schedule the model maps exactly differs from the source, 2 an object failed, 3 the source
could not be read (nothing written).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from infra.local.loader import LAYER_PATH
from infra.migrate.model import SourceError

DEFAULT_STACK_NAME = "OnCallHub"
SOURCES = ("pagerduty", "opsgenie", "grafana-oncall")
#: where each source's token is read from (or the first line of stdin with --token-stdin)
TOKEN_VARIABLES = {
    "pagerduty": "PAGERDUTY_TOKEN",
    "opsgenie": "OPSGENIE_API_KEY",
    "grafana-oncall": "GRAFANA_ONCALL_TOKEN",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra.migrate", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "source",
        choices=(*SOURCES, "config", "export"),
        help="a tool to import from; config: a file; export: write one",
    )
    p.add_argument("--file", type=Path, help="config: the YAML file to apply")
    p.add_argument("--out", help="export: where to write the YAML (default: stdout)")
    p.add_argument("--apply", action="store_true", help="perform the plan (default: dry run, nothing written)")
    p.add_argument("--verify", action="store_true", help="compare who is on call, source vs ours, every hour")
    p.add_argument("--days", type=int, default=14, help="how many days --verify compares (default %(default)s)")
    p.add_argument("--as", dest="actor", default="admin", help="the admin the import acts as (default %(default)s)")
    p.add_argument("--from-dir", type=Path, help="read exported JSON answers from this directory, not the API")
    p.add_argument("--base-url", help="the source API's base URL (default: the vendor's; see --eu)")
    p.add_argument("--eu", action="store_true", help="the vendor's EU service region")
    p.add_argument("--token-stdin", action="store_true", help="read the API token from the first line of stdin")
    p.add_argument("--json", dest="json_out", help="also write the plan/result as JSON to this file ('-': stdout)")
    p.add_argument("--public-url", default=os.environ.get("ONCALL_PUBLIC_URL"), help="OnCall Hub's public URL")
    p.add_argument("--local", metavar="ENDPOINT", help="the local runner's emulator endpoint (its banner prints it)")
    p.add_argument("--stack", default=DEFAULT_STACK_NAME, help="the deployed stack (default %(default)s)")
    p.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    return p


class ConfigSource:
    """A configuration file (``make export`` writes one) as a source; it has no on-call answer to verify against."""

    name = "config"

    def __init__(self, file: Path) -> None:
        import yaml

        try:
            self.doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SourceError(f"cannot read {file}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise SourceError(f"{file} is not valid YAML: {exc}") from None

    def read(self, now: Any) -> Any:
        from infra.migrate.config import account

        return account(self.doc)

    def on_call(self, *args: Any) -> Any:
        raise SourceError("a configuration file has no on-call answer to compare with; --verify is for sources")


def source_for(args: argparse.Namespace) -> Any:
    if args.source == "config":
        if args.file is None:
            raise SourceError("config: pass --file <the YAML file> (make apply FILE=...)")
        return ConfigSource(args.file)
    from infra.migrate import grafana_oncall, opsgenie, pagerduty
    from infra.migrate.http import DirectoryReader

    name = {"pagerduty": "PagerDuty", "opsgenie": "Opsgenie", "grafana-oncall": "Grafana OnCall"}[args.source]
    if args.from_dir is not None:
        saved = DirectoryReader(args.from_dir, name)
        if args.source == "grafana-oncall":
            return grafana_oncall.GrafanaOnCallSource(grafana_oncall.saved_reader(saved))
        return (pagerduty.PagerDutySource if args.source == "pagerduty" else opsgenie.OpsgenieSource)(saved)
    variable = TOKEN_VARIABLES[args.source]
    token = sys.stdin.readline().strip() if args.token_stdin else os.environ.get(variable, "").strip()
    if not token:
        raise SourceError(f"no {name} token: set {variable} or pass --token-stdin (or use --from-dir)")
    if args.source == "grafana-oncall":
        if not args.base_url:
            raise SourceError("Grafana OnCall: pass --base-url (Grafana Cloud: the OnCall API URL its settings show)")
        return grafana_oncall.GrafanaOnCallSource(grafana_oncall.api_reader(token, args.base_url))
    vendor = pagerduty if args.source == "pagerduty" else opsgenie
    base = args.base_url or (vendor.EU_BASE_URL if args.eu else vendor.DEFAULT_BASE_URL)
    source = pagerduty.PagerDutySource if args.source == "pagerduty" else opsgenie.OpsgenieSource
    return source(vendor.api_reader(token, base))


def target_environment(args: argparse.Namespace) -> None:
    """Point the wiring at OnCall Hub's tables, as its API function is given them."""
    if os.environ.get("ONCALL_TABLE_CATALOG") and not args.local:
        return
    if args.local:
        from infra.local.resources import function_environment
        from infra.topology import function

        for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            os.environ.setdefault(var, value)
        os.environ.update(function_environment(function("api")))
        os.environ["AWS_ENDPOINT_URL"] = args.local
        return
    import boto3

    region = args.region or boto3.session.Session().region_name or "us-east-1"
    cfn: Any = boto3.client("cloudformation", region_name=region)
    lam: Any = boto3.client("lambda", region_name=region)
    wanted = ("ONCALL_TABLE_CATALOG", "ONCALL_TABLE_SCHEDULES", "ONCALL_TABLE_USERS")
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=args.stack):
        for res in page["StackResourceSummaries"]:
            if res["ResourceType"] != "AWS::Lambda::Function":
                continue
            env = (lam.get_function_configuration(FunctionName=res["PhysicalResourceId"]).get("Environment") or {}).get(
                "Variables", {}
            )
            if all(env.get(v) for v in wanted):
                os.environ.update({k: str(v) for k, v in env.items() if k.startswith(("ONCALL_", "POWERTOOLS_"))})
                os.environ["AWS_REGION"] = region
                return
    raise SystemExit(f"no function in stack {args.stack} is given the catalog, schedules and users tables")


class OnCall:
    """Who holds each of our schedules at an instant, from the shifts the schedule service lists for the whole window
    (one listing per schedule, not one query per hour: the same stored shifts ``GET /schedules/{id}/oncall`` reads)."""

    def __init__(self, hub: Any, now: Any, days: int) -> None:
        self.hub = hub
        self.window = (now, now + timedelta(days=days, hours=2))
        self.shifts: dict[str, list[Any]] = {}

    def __call__(self, schedule_id: str, at: Any) -> str | None:
        if schedule_id not in self.shifts:
            listed: list[Any] = []
            cursor = None
            while True:
                page, cursor = self.hub.schedules.list_shifts(schedule_id, *self.window, 500, cursor)
                listed += page
                if cursor is None:
                    break
            self.shifts[schedule_id] = listed
        held = [s.user_id for s in self.shifts[schedule_id] if s.start <= at < s.end]
        return held[0] if held else None


def acting_admin(hub: Any, username: str) -> Any:
    from oncall.domain.users import Role

    actor_id = hub.user_store.id_for_username(username)
    actor = hub.user_store.get(actor_id) if actor_id else None
    return actor if actor is not None and actor.role is Role.ADMIN and actor.active else None


def export_to(args: argparse.Namespace) -> int:
    import yaml

    from infra.migrate.config import export
    from infra.migrate.outcome import Hub

    hub = Hub.from_wiring()
    actor = acting_admin(hub, args.actor)
    if actor is None:
        print(f"--as {args.actor}: no active admin of that username here", file=sys.stderr)
        return 2
    text = "# OnCall Hub on-call setup (make export); make apply FILE=<this file> applies it\n" + yaml.safe_dump(
        export(hub, actor), sort_keys=False, allow_unicode=True
    )
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))
    target_environment(args)

    from infra.migrate.importer import Importer
    from infra.migrate.ledger import Ledger
    from infra.migrate.outcome import Hub
    from infra.migrate.report import keys_table, table, verification_table
    from infra.migrate.verify import verify
    from oncall.settings import get_settings
    from oncall.wiring.seam import clock

    now = clock()()
    if args.source == "export":
        return export_to(args)
    try:
        source = source_for(args)
        account = source.read(now)
    except SourceError as exc:
        print(f"cannot read the source: {exc}", file=sys.stderr)
        return 3
    hub = Hub.from_wiring()
    actor = acting_admin(hub, args.actor)
    if actor is None:
        print(f"--as {args.actor}: no active admin of that username here", file=sys.stderr)
        return 2
    outcome = Importer(account, hub, Ledger(get_settings().table("catalog")), actor, apply=args.apply).run()
    print(table(outcome))
    print(keys_table(outcome, args.public_url or "https://<your OnCall Hub URL>"))
    result: dict[str, Any] = outcome.to_dict()
    status = 2 if any(a.op == "failed" for a in outcome.actions) else 0
    if args.verify:
        try:
            spans = source.on_call([s.id for s in account.schedules], now, now + timedelta(days=args.days, hours=2))
        except SourceError as exc:
            print(f"cannot read the source's on-call answer: {exc}", file=sys.stderr)
            return 3

        checks = verify(account, spans, outcome.ids, OnCall(hub, now, args.days), now, args.days, outcome.changed)
        print(verification_table(checks))
        result["verification"] = [c.to_dict() for c in checks]
        if any(c.exact and c.mismatches for c in checks):
            status = max(status, 1)
    if args.json_out:
        text = json.dumps(result, indent=2, sort_keys=True)
        if args.json_out == "-":
            print(text)
        else:
            Path(args.json_out).write_text(text + "\n", encoding="utf-8")
    return status
