"""What the emulator itself costs: start/stop, DynamoDB with the lock shim (in-process vs over the port, 1 vs 4
threads), and the latency of each trigger path with an in-process invoker (so handler cost is ~0 and the figure is
the emulator's own delivery overhead).

    python bench/emulator.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

import boto3  # noqa: E402

from infra.local.emulator import Emulator  # noqa: E402
from tests.fixtures.topology import fixture_topology  # noqa: E402
from tests.support.invoker import InProcessInvoker  # noqa: E402


def ops_per_second(make_client: Callable[[], Any], threads: int, seconds: float) -> float:
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        ddb = make_client()
        while time.monotonic() < stop:
            ddb.put_item(
                TableName="oncall-fixture-entities",
                Item={"pk": {"S": uuid.uuid4().hex}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            done[i] += 1

    ts = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(done) / seconds


def latency(fn: Callable[[], None], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.9) - 1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    rows: list[tuple[str, str]] = []
    with InProcessInvoker(fixture_topology()) as invoker:
        t = time.perf_counter()
        emu = Emulator(invoker.topology, invoker, port=0, stream_poll_seconds=0.02)
        emu.start()
        rows.append(("start (first in process, imports included)", f"{(time.perf_counter() - t) * 1000:.0f} ms"))
        try:
            session_client = lambda **kw: boto3.session.Session(region_name="us-east-1").client("dynamodb", **kw)  # noqa: E731
            for threads in (1, 4):
                rate = ops_per_second(session_client, threads, args.seconds)
                rows.append((f"conditional PutItem in-process, {threads} thread(s)", f"{rate:.0f} ops/s"))
                rate = ops_per_second(lambda: session_client(endpoint_url=emu.endpoint_url), threads, args.seconds)
                rows.append((f"conditional PutItem over the port, {threads} thread(s)", f"{rate:.0f} ops/s"))

            events = emu.client("events")

            def bus_to_lambda() -> None:
                marker = uuid.uuid4().hex
                events.put_events(
                    Entries=[
                        {
                            "Source": "oncall.test",
                            "DetailType": "echo.me",
                            "Detail": json.dumps({"m": marker}),
                            "EventBusName": "oncall",
                        }
                    ]
                )
                invoker.wait_for("echo", lambda c: c.event.get("detail", {}).get("m") == marker)

            med, p90 = latency(bus_to_lambda, args.samples)
            rows.append(("PutEvents → rule → Lambda target", f"median {med:.1f} ms, p90 {p90:.1f} ms"))

            from oncall.adapters.outbox import transact_put
            from oncall.domain.events import DomainEvent

            ddb = emu.client("dynamodb")

            def outbox_chain() -> None:
                eid = uuid.uuid4().hex
                ev = DomainEvent(
                    entity_type="testentity",
                    entity_id=eid,
                    version=1,
                    detail_type="testentity.created",
                    snapshot={"id": eid},
                    occurred_at=emu.now(),
                )
                ddb.transact_write_items(TransactItems=[transact_put(ev)])
                invoker.wait_for("echo", lambda c: c.event.get("detail", {}).get("id") == eid)

            med, p90 = latency(outbox_chain, args.samples)
            rows.append(("outbox write → stream → publisher → bus → Lambda", f"median {med:.1f} ms, p90 {p90:.1f} ms"))

            med, p90 = latency(lambda: emu.advance_clock(timedelta(minutes=1)) and None, args.samples)
            rows.append(
                ("advance_clock(1 min): fire + run scheduled handlers", f"median {med:.1f} ms, p90 {p90:.1f} ms")
            )

            sfn = emu.client("stepfunctions")
            machine = emu.state_machine_arn("fixture-simple")

            def one_task_execution() -> None:
                arn = sfn.start_execution(stateMachineArn=machine, name=uuid.uuid4().hex, input="{}")["executionArn"]
                while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                    time.sleep(0.005)

            med, p90 = latency(one_task_execution, args.samples)
            rows.append(("StartExecution → one Lambda task → SUCCEEDED", f"median {med:.1f} ms, p90 {p90:.1f} ms"))
        finally:
            t = time.perf_counter()
            emu.stop()
            rows.append(("stop (snapshot off)", f"{(time.perf_counter() - t) * 1000:.0f} ms"))
        t = time.perf_counter()
        again = Emulator(invoker.topology, invoker, port=0)
        again.start()
        rows.append(("start again (warm imports)", f"{(time.perf_counter() - t) * 1000:.0f} ms"))
        again.stop()
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 30}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
