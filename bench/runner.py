"""What the local runner costs on top of the emulator, and what a cold start costs on top of a warm invocation.

Starts ``python -m infra.local`` (ephemeral, free ports, the e2e fixture topology for its one-write route) and prints:

1. throughput of one conditional ``PutItem``: straight to the emulator's port (boto3, as a worker does) vs through
   the runner's HTTP API (gateway → event → worker process → the same ``PutItem``), with 1 and 4 client threads,
   and their ratio;
2. client-side latency of cold invocations (idle workers stopped first via ``POST /_local/workers/reset``) vs warm
   ones, median and p90, for the API function (``GET /health``) and the one-write fixture;
3. what keeping every acknowledged write costs: the same write route, 1 and 4 client threads, on a runner with a data
   folder under each ``--durability`` mode (``fsync``, the default: journaled and on disk before the answer;
   ``write``: journaled, survives kill -9 but not a power cut; ``off``: snapshots only, what a crash could lose).

    python bench/runner.py [--seconds 4] [--cold 7] [--warm 40] [--only durability]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench._load import rate  # noqa: E402
from tests.e2e.launch import Runner, start_runner  # noqa: E402


def emulator_put(runner: Runner) -> Callable[[], None]:
    ddb = runner.client("dynamodb")

    def call() -> None:
        ddb.put_item(
            TableName="oncall-fixture",
            Item={"pk": {"S": f"raw#{uuid.uuid4().hex}"}, "sk": {"S": "item"}},
            ConditionExpression="attribute_not_exists(pk)",
        )

    return call


def api_put(runner: Runner) -> Callable[[], None]:
    session = requests.Session()

    def call() -> None:
        resp = session.post(f"{runner.http}/_fixture/write/{uuid.uuid4().hex}", timeout=30)
        if resp.status_code != 201:
            raise RuntimeError(f"write route answered {resp.status_code}: {resp.text[:200]}")

    return call


def latency(
    runner: Runner, function: str, request: Callable[[requests.Session], int], cold: bool, n: int
) -> list[float]:
    session = requests.Session()
    samples = []
    request(session)  # the first warm sample should not pay the import
    for _ in range(n):
        if cold:
            session.post(f"{runner.http}/_local/workers/reset", params={"function": function}, timeout=30)
        t0 = time.perf_counter()
        status = request(session)
        samples.append((time.perf_counter() - t0) * 1000)
        if status >= 400:
            raise RuntimeError(f"{function} answered {status}")
    return samples


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def durability(seconds: float) -> None:
    """Write throughput through the runner under each durability mode; the runners are started one after another
    (each on its own data folder) and measured in interleaved rounds, so machine noise hits every mode alike."""
    modes = ("fsync", "write", "off")
    with tempfile.TemporaryDirectory() as tmp:
        runners = {}
        try:
            for mode in modes:
                runners[mode] = start_runner(
                    Path(tmp) / f"run-{mode}", data_dir=Path(tmp) / f"data-{mode}", args=(f"--durability={mode}",)
                )
                api_put(runners[mode])()  # warm
            print(
                "\none write through the runner, kept across a crash?   threads   "
                + "   ".join(f"{m + ' req/s':>11}" for m in modes)
                + "   fsync/off"
            )
            for threads in (1, 4):
                got: dict[str, list[float]] = {m: [] for m in modes}
                for _ in range(3):
                    for mode in modes:
                        got[mode].append(rate(threads, seconds / 3, lambda _i, m=mode: api_put(runners[m])))
                med = {m: statistics.median(v) for m, v in got.items()}
                print(
                    f"{'':52} {threads:>7}   "
                    + "   ".join(f"{med[m]:>11.0f}" for m in modes)
                    + f"   {med['fsync'] / med['off']:>9.2f}"
                )
        finally:
            for r in runners.values():
                r.stop()
    print(
        "(fsync: every acknowledged write on disk; write: survives kill -9; off: snapshots only, a crash loses "
        "what came after the last one)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--cold", type=int, default=7)
    parser.add_argument("--warm", type=int, default=40)
    parser.add_argument("--only", choices=("durability",), default=None)
    args = parser.parse_args()

    if args.only == "durability":
        durability(args.seconds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        runner = start_runner(Path(tmp))
        print(f"runner ready in {runner.startup_s:.2f} s (process start to ready file)\n")
        try:
            # warm both paths so the first measured second is not an import
            emulator_put(runner)()
            api_put(runner)()
            rows = []
            for threads in (1, 4):
                # Interleaved short rounds, so a burst of load from elsewhere on the machine hits both sides.
                raws, apis = [], []
                for _ in range(3):
                    raws.append(rate(threads, args.seconds / 3, lambda _i: emulator_put(runner)))
                    apis.append(rate(threads, args.seconds / 3, lambda _i: api_put(runner)))
                rows.append((threads, statistics.median(raws), statistics.median(apis)))
            print("one conditional PutItem                  threads   emulator ops/s   runner API req/s   API/emulator")
            for threads, raw, api in rows:
                print(f"{'':40} {threads:>7}   {raw:>14.0f}   {api:>16.0f}   {api / raw:>12.2f}")

            health = lambda s: s.get(f"{runner.http}/health", timeout=30).status_code  # noqa: E731
            write = lambda s: s.post(f"{runner.http}/_fixture/write/{uuid.uuid4().hex}", timeout=30).status_code  # noqa: E731
            print(
                "\nclient-side latency, ms                  function          cold p50   cold p90   warm p50   warm p90"
            )
            for label, function, request in (
                ("GET /health", "api", health),
                ("POST /_fixture/write/{key}", "fixture-write", write),
            ):
                cold = latency(runner, function, request, cold=True, n=args.cold)
                warm = latency(runner, function, request, cold=False, n=args.warm)
                print(
                    f"{label:40} {function:<15} {statistics.median(cold):>10.1f} {p(cold, 0.9):>10.1f} "
                    f"{statistics.median(warm):>10.1f} {p(warm, 0.9):>10.1f}"
                )
        finally:
            runner.stop()
        print(
            f"\n(total {time.monotonic() - began:.0f} s; throughput = median of 3 interleaved rounds; "
            "cold = idle workers stopped before each request)"
        )
    durability(args.seconds)


if __name__ == "__main__":
    main()
