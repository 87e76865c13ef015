"""Cold import time of each function's handler vs bare ``import boto3``.

Each sample is a fresh interpreter that imports the handler module the way Lambda's init phase does (layer and code
folder on ``sys.path``) and reports ``time.perf_counter()`` around the import. The table shows the median over N runs
and the ratio to ``import boto3`` (the floor every Python function pays) and to ``import boto3`` + one client.

    python bench/cold_start.py [--runs 9]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.local.resources import function_environment  # noqa: E402
from infra.topology import TOPOLOGY  # noqa: E402

PROBE = """
import sys, time, json
sys.path[:0] = {paths!r}
t0 = time.perf_counter()
{stmt}
print(json.dumps({{"ms": (time.perf_counter() - t0) * 1000}}))
"""


def sample(stmt: str, paths: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-X", "frozen_modules=on", "-c", PROBE.format(paths=paths, stmt=stmt)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        times.append(json.loads(out.stdout.strip().splitlines()[-1])["ms"])
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    base_env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "PYTHONDONTWRITEBYTECODE": "0",
    }
    layer = str(ROOT / "layers" / "common" / "python")
    boto = sample("import boto3", [], base_env, args.runs)
    boto_client = sample("import boto3; boto3.client('dynamodb')", [], base_env, args.runs)
    rows = [("import boto3", boto), ("import boto3 + 1 client", boto_client)]
    for fn in TOPOLOGY.functions:
        env = {**base_env, **function_environment(fn)}
        rows.append((f"functions/{fn.name}", sample("import handler", [layer, str(fn.code_dir)], env, args.runs)))
    print(f"cold import, median of {args.runs} fresh interpreters ({sys.version.split()[0]})")
    print(f"{'module':<28}{'ms':>10}{'× boto3':>10}{'× boto3+client':>16}")
    for name, ms in rows:
        print(f"{name:<28}{ms:>10.1f}{ms / boto:>10.2f}{ms / boto_client:>16.2f}")


if __name__ == "__main__":
    main()
