"""``make deploy-local``: the real ``cdk bootstrap`` and ``cdk deploy`` (the pinned CLI) into moto's server on a free
loopback port, with the shim, then the deployed account inspected. Exits 1 on a failed step or any failed check.

    python -m infra.local.deploy [--stack OnCallHub] [--every-check] [--keep] [-- extra cdk deploy arguments]

``--inspect-only`` deploys nothing and inspects the account of the shell's AWS credentials (a real deployment, after
``make deploy``), or the one at ``--endpoint-url``. The alarms and the dashboard are checked against the settings
the stack is deployed with: ``cdk.json``'s context and the ``-c key=value`` among the extra arguments (give the same
ones with ``--inspect-only``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from typing import Any

import boto3

from infra.local.deploy import shim
from infra.local.deploy.inspect import Inspector
from infra.local.deploy.publish import ACCOUNT, REGION
from infra.settings import StackSettings, from_context
from infra.topology import ROOT, TOPOLOGY

#: the CLI pinned in infra/cli (the Makefile's CDK)
CDK = "npx --prefix infra/cli cdk"


def _environment(endpoint: str) -> dict[str, str]:
    """The CLI's environment: the emulator's endpoint and credentials moto accepts, never the shell's profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "CDK_DEFAULT_ACCOUNT": ACCOUNT,
            "CDK_DEFAULT_REGION": REGION,
        }
    )
    return env


def _run(step: str, command: list[str], env: dict[str, str]) -> float:
    print(f"== {step}: {shlex.join(command)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"deploy-local: {step} failed (exit {result.returncode}) after {seconds:.1f} s")
    print(f"== {step}: done in {seconds:.1f} s", flush=True)
    return seconds


def stack_settings(cdk_args: list[str]) -> StackSettings:
    """The stack's knobs as ``cdk deploy`` with these arguments synthesizes them: ``cdk.json``'s context, then each
    ``-c``/``--context key=value`` (values are strings there, as the CLI passes them)."""
    context: dict[str, Any] = dict(json.loads((ROOT / "cdk.json").read_text()).get("context", {}))
    args = iter(cdk_args)
    for arg in args:
        if arg in ("-c", "--context"):
            pair = next(args, "")
        elif arg.startswith("--context="):
            pair = arg.removeprefix("--context=")
        else:
            continue
        key, _, given = pair.partition("=")
        context[key] = given
    return from_context(context).stack


def _inspect(session: Any, endpoint: str | None, stack: str, settings: StackSettings, *, every_check: bool) -> int:
    made: dict[str, Any] = {}

    def clients(service: str) -> Any:
        if service not in made:
            made[service] = session.client(service, endpoint_url=endpoint)
        return made[service]

    started = time.perf_counter()
    report = Inspector(clients, stack, TOPOLOGY, settings).run()
    print(report.table(every_check=every_check))
    print(f"== inspected in {time.perf_counter() - started:.1f} s", flush=True)
    return 1 if report.failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="OnCallHub", help="the stack name (oncall:stackName), default OnCallHub")
    parser.add_argument("--cdk", default=CDK, help=f"the CDK command line (default: {CDK})")
    parser.add_argument("--every-check", action="store_true", help="list every check, not only the failed ones")
    parser.add_argument("--keep", action="store_true", help="keep the emulator serving after the inspection")
    parser.add_argument("--inspect-only", action="store_true", help="inspect the credentials' account, deploy nothing")
    parser.add_argument("--endpoint-url", help="with --inspect-only: the endpoint to inspect (default: AWS)")
    parser.add_argument("cdk_args", nargs="*", help="more arguments for cdk deploy (after --)")
    args = parser.parse_args(argv)
    settings = stack_settings(args.cdk_args)
    if args.inspect_only:
        return _inspect(boto3.Session(), args.endpoint_url, args.stack, settings, every_check=args.every_check)

    from infra.local.motoserver import start_server

    for noisy in ("werkzeug", "moto"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    shim.install()
    server, port = start_server("127.0.0.1", 0)
    endpoint = f"http://127.0.0.1:{port}"
    # the secret parameters' handler runs inside the server and calls its SSM as the function would in AWS
    shim.serve_handlers_through(endpoint)
    print(f"== moto server (with the deploy shim) on {endpoint}", flush=True)
    env = _environment(endpoint)
    cdk = shlex.split(args.cdk)
    try:
        _run("cdk bootstrap", [*cdk, "bootstrap", f"aws://{ACCOUNT}/{REGION}"], env)
        _run("cdk deploy", [*cdk, "deploy", args.stack, "--require-approval", "never", *args.cdk_args], env)
        session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )
        status = _inspect(session, endpoint, args.stack, settings, every_check=args.every_check)
        if args.keep:
            print(f"== serving on {endpoint} (AWS_ENDPOINT_URL={endpoint}); Ctrl-C stops it", flush=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        return status
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
