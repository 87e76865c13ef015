"""Create (or reset) an admin in a deployed stack, with the operator's own AWS credentials.

    make admin USERNAME=alice                      # prompts for the password twice
    python -m infra.admin --username alice --password-stdin < secret.txt
    python -m infra.admin --username alice --generate          # prints a generated password once
    python -m infra.admin --username alice --reset             # new password for an existing user (sessions end)

No password ever passes through Lambda environment variables or CloudFormation: this process hashes it (Argon2id,
the API's parameters) and writes the user item and username guard to the stack's ``users`` table directly. The table
is found from the stack: the API function's ``ONCALL_TABLE_USERS`` (or pass ``--table``).
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
from typing import Any

from infra.local.loader import LAYER_PATH

DEFAULT_STACK_NAME = "OnCallHub"  # infra/app.py's default; not imported, so this CLI does not need aws-cdk-lib


def function_variables(stack: str, region: str | None, *names: str) -> tuple[str, ...] | None:
    """The values of ``names`` in the environment of the first function of ``stack`` that has them all (the stack's
    physical table names, as the functions are given them); None when none has."""
    import boto3

    cfn: Any = boto3.client("cloudformation", region_name=region)
    lam: Any = boto3.client("lambda", region_name=region)
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        for res in page["StackResourceSummaries"]:
            if res["ResourceType"] != "AWS::Lambda::Function":
                continue
            config = lam.get_function_configuration(FunctionName=res["PhysicalResourceId"])
            env = (config.get("Environment") or {}).get("Variables", {})
            if all(env.get(name) for name in names):
                return tuple(str(env[name]) for name in names)
    return None


def find_users_table(stack: str, region: str | None) -> str:
    found = function_variables(stack, region, "ONCALL_TABLE_USERS")
    if found is None:
        raise SystemExit(f"no function in stack {stack} has ONCALL_TABLE_USERS; pass --table")
    return found[0]


def read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated?)."""
    if args.generate:
        return secrets.token_urlsafe(18), True
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if not sys.stdin.isatty():
        raise SystemExit("no terminal to prompt on: use --password-stdin or --generate")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("passwords differ")
    return first, False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.admin", description=__doc__.split("\n\n")[0])
    parser.add_argument("--username", required=True)
    parser.add_argument("--role", default="admin", choices=["admin", "responder", "viewer"])
    parser.add_argument("--stack", default=DEFAULT_STACK_NAME, help="CloudFormation stack (default %(default)s)")
    parser.add_argument("--table", help="the users table's physical name (skips the stack lookup)")
    parser.add_argument("--region", help="AWS region (default: your AWS configuration's)")
    parser.add_argument("--endpoint-url", help="a non-AWS endpoint, e.g. the local emulator")
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    how.add_argument("--generate", action="store_true", help="generate a password and print it once")
    parser.add_argument("--reset", action="store_true", help="set a new password if the user exists")
    args = parser.parse_args(argv)

    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))
    import boto3

    from oncall.adapters.dynamodb import kit
    from oncall.adapters.dynamodb.identity import DynamoUserStore
    from oncall.domain.errors import DomainError
    from oncall.domain.users import Role, UsernameTaken
    from oncall.security.passwords import Argon2Hasher
    from oncall.services.users import UserService
    from oncall.settings import AuthSettings
    from oncall.wiring.seam import utc_now

    region = args.region or boto3.session.Session().region_name or "us-east-1"
    table = args.table or find_users_table(args.stack, region)
    store = DynamoUserStore(table, kit.client(endpoint_url=args.endpoint_url, region=region))
    auth = AuthSettings()
    hasher = Argon2Hasher(auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)
    service = UserService(store, hasher, auth, utc_now)

    password, generated = read_password(args)
    try:
        done = service.ensure_admin(
            args.username, password, existing="reset" if args.reset else "refuse", role=Role(args.role)
        )
    except UsernameTaken:
        print(f"{args.username} exists; pass --reset to give it a new password", file=sys.stderr)
        return 1
    except DomainError as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        return 2
    if done.created:
        print(f"created {done.user.role.value} {done.user.username} (id {done.user.id}) in {table}")
    else:
        print(f"password reset for {args.username}; their sessions have ended")
    if generated:
        print(f"password (shown once): {password}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
