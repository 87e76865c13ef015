"""Cold import time of each function's handler vs bare ``import boto3``, as Lambda pays it.

Each sample is a fresh interpreter that imports the handler module the way Lambda's init phase does (layer and code
folder on ``sys.path``) and reports the CPU time of the import (``time.process_time()``: its wall time on an idle
core, and steady on a busy machine, where wall time measures the neighbours). Lambda's code and layer directories
are read-only, so no interpreter there writes bytecode: every sample runs with ``-B`` and reads bytecode only from
a cache directory of its own (``-X pycache_prefix``), filled beforehand with

- **bytecode**: everything the import needs, as shipped with the assets (``infra.bytecode``), and
- **source**: only what the runtime itself ships compiled (the standard library and the SDK: ``import boto3`` + a
  client), so our code and the dependency layer compile at each start, as assets without bytecode did.

The table shows the median over N runs and the ratio to ``import boto3`` (the floor every Python function pays) and
to ``import boto3`` + one client. The API registers a request's routes when the request comes (``routes.SEGMENTS``),
so its row counts what its first ``GET /incidents`` loads too; the rows below it add the client that request
creates (the whole import side of a first answer, against the floor of ``import boto3`` + one client) and what
loading every route costs (the API document, or a container that has served every resource).

    python bench/cold_start.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.local.resources import function_environment  # noqa: E402
from infra.topology import TOPOLOGY  # noqa: E402

PROBE = """
import sys, time, json
sys.path[:0] = {paths!r}
t0 = time.process_time()
{stmt}
print(json.dumps({{"ms": (time.process_time() - t0) * 1000}}))
"""

_API, _CLIENT = "import handler", "import boto3; boto3.client('dynamodb')"
_INCIDENTS = "handler.routes.register_for(handler.app, '/incidents')"
#: what a function imports beyond its handler module before it answers its first request, where that is more
FIRST_REQUEST = {
    "api": (
        ("functions/api", f"{_API}; {_INCIDENTS}"),
        ("  + its DynamoDB client", f"{_API}; {_INCIDENTS}; {_CLIENT}"),
        ("  every route", f"{_API}; handler.routes.register_all(handler.app)"),
    ),
}


def sample(stmt: str, paths: list[str], env: dict[str, str], runs: int, cache: Path) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [
                sys.executable, "-B", "-X", "frozen_modules=on", "-X", f"pycache_prefix={cache}",
                "-c", PROBE.format(paths=paths, stmt=stmt),
            ],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )  # fmt: skip
        times.append(json.loads(out.stdout.strip().splitlines()[-1])["ms"])
    return statistics.median(times)


def fill(cache: Path, stmt: str, paths: list[str], env: dict[str, str]) -> None:
    """Compile what ``stmt`` imports into ``cache`` (one run that may write bytecode)."""
    probe = PROBE.format(paths=paths, stmt=stmt)
    cmd = [sys.executable, "-X", "frozen_modules=on", "-X", f"pycache_prefix={cache}", "-c", probe]
    subprocess.run(cmd, capture_output=True, env=env, check=True)  # our own interpreter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    base_env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)
    layer = str(ROOT / "layers" / "common" / "python")
    floor = "import boto3; boto3.client('dynamodb')"
    with tempfile.TemporaryDirectory() as tmp:
        runtime_only, shipped = Path(tmp) / "runtime", Path(tmp) / "shipped"
        for cache in (runtime_only, shipped):
            fill(cache, floor, [], base_env)
        boto = sample("import boto3", [], base_env, args.runs, shipped)
        boto_client = sample(floor, [], base_env, args.runs, shipped)
        rows = [("import boto3", boto, boto), ("import boto3 + 1 client", boto_client, boto_client)]
        for fn in TOPOLOGY.functions:
            env = {**base_env, **function_environment(fn)}
            paths = [layer, str(fn.code_dir)]
            for label, stmt in FIRST_REQUEST.get(fn.name, ((f"functions/{fn.name}", "import handler"),)):
                fill(shipped, stmt, paths, env)
                source = sample(stmt, paths, env, args.runs, runtime_only)
                compiled = sample(stmt, paths, env, args.runs, shipped)
                rows.append((label, source, compiled))
    print(f"cold import, median of {args.runs} fresh interpreters ({sys.version.split()[0]}), read-only like Lambda")
    print(f"{'module':<26}{'source ms':>10}{'bytecode ms':>13}{'× boto3':>9}{'× boto3+client':>16}{'(source)':>10}")
    for name, source, compiled in rows:
        print(
            f"{name:<26}{source:>10.1f}{compiled:>13.1f}{compiled / boto:>9.2f}"
            f"{compiled / boto_client:>16.2f}{source / boto_client:>10.2f}"
        )


if __name__ == "__main__":
    main()
