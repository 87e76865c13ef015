"""Webhook delivery cost: AWS calls per event and per attempt, and what the default retry schedule costs in SQS hops.

Runs the notifier's service in-process on moto with a real receiver on 127.0.0.1, counts every DynamoDB and SQS call
botocore makes (the figures that cost money and latency in AWS; moto's wall time is not AWS's), and prints:

1. per event fanned out to S subscriptions: DynamoDB calls and SQS sends;
2. per attempt (success, and failure with a retry queued);
3. the default schedule: attempts, horizon and SQS messages a delivery that always fails goes through (waits longer
   than 15 minutes are chained hops).

    .venv/bin/python bench/webhooks.py [--subscriptions 1,5,20] [--events 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

NOW = datetime.now(UTC)


def _environment() -> None:
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "ONCALL_WEBHOOK_ALLOWLIST": "127.0.0.1/32",
            "ONCALL_WEBHOOK_RETRY_SCHEDULE": "1",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)


class Calls:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, event_name: str, **kwargs: Any) -> None:
        # before-call.<service>.<Operation>
        _, service, operation = event_name.split(".", 2)
        self.counts[f"{service}.{operation}"] += 1

    def take(self) -> Counter[str]:
        out, self.counts = self.counts, Counter()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscriptions", default="1,5,20")
    parser.add_argument("--events", type=int, default=20)
    args = parser.parse_args()
    _environment()

    import boto3
    from moto import mock_aws

    from infra.local.resources import create_queues, create_tables, function_environment
    from infra.topology import TOPOLOGY
    from oncall import wiring
    from oncall.domain.webhooks import DEFAULT_RETRY_SCHEDULE, MAX_QUEUE_DELAY_S, horizon
    from oncall.settings import get_settings
    from tests.support.receivers import WebhookReceiver

    calls = Calls()
    with mock_aws(), WebhookReceiver() as ok_receiver, WebhookReceiver(always=503) as down:
        create_tables(boto3.client("dynamodb"))
        create_queues(boto3.client("sqs"), TOPOLOGY)
        os.environ.update(function_environment(TOPOLOGY.function("notifier")))
        get_settings.cache_clear()
        wiring.reset()
        service = wiring.webhooks.webhook_service()
        # every client (boto3's and pynamodb's) goes through BaseClient._make_api_call: count there
        import botocore.client

        original = botocore.client.BaseClient._make_api_call

        def counted(client: Any, operation: str, params: Any) -> Any:
            calls(f"before-call.{client.meta.service_model.service_name}.{operation}")
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]

        print("fan-out: AWS calls per event (the subscriptions' GSI read is shared by the event)")
        print(f"{'subscriptions':>13} | {'DynamoDB':>8} | {'SQS sends':>9}")
        total = 0
        for size in [int(s) for s in args.subscriptions.split(",")]:
            while total < size:
                service.create(ok_receiver.url, ["incident.*"], NOW)
                total += 1
            calls.take()
            for _ in range(args.events):
                event = {"id": str(uuid.uuid4()), "detail-type": "incident.triggered", "time": NOW.isoformat()}
                service.fan_out({**event, "detail": {"id": "inc-1", "version": 1}}, NOW)
            c = calls.take()
            ddb = sum(v for k, v in c.items() if k.startswith("dynamodb."))
            print(f"{size:>13} | {ddb / args.events:>8.1f} | {c['sqs.SendMessage'] / args.events:>9.1f}")

        def attempt_cost(url: str) -> Counter[str]:
            """One subscription only, one event, then its first attempt."""
            store: Any = service.store
            for other in list(store.all()):
                store.delete(other.id)
            sub = service.create(url, ["incident.triggered"], NOW)
            event = {"id": str(uuid.uuid4()), "detail-type": "incident.triggered", "time": NOW.isoformat()}
            service.fan_out({**event, "detail": {"id": "inc-2", "version": 1}}, NOW)
            (delivery,) = store.deliveries(sub.id, 10, None)[0]
            job = {
                "kind": "webhook.attempt",
                "subscription_id": sub.id,
                "delivery_id": delivery.id,
                "attempts_made": 0,
                "due": NOW.isoformat(),
            }
            calls.take()
            service.attempt(job, datetime.now(UTC))
            return calls.take()

        print()
        print("one attempt: AWS calls")
        print(f"{'outcome':>24} | {'DynamoDB':>8} | {'SQS sends':>9}")
        for label, url in (("2xx", ok_receiver.url), ("503, retry queued", down.url)):
            c = attempt_cost(url)
            ddb = sum(v for k, v in c.items() if k.startswith("dynamodb."))
            print(f"{label:>24} | {ddb:>8} | {c['sqs.SendMessage']:>9}")

    hops = sum(-(-d // MAX_QUEUE_DELAY_S) for d in DEFAULT_RETRY_SCHEDULE)
    print()
    print("default schedule, a receiver that never answers 2xx")
    print(f"{'attempts':>8} | {'horizon':>16} | {'SQS messages (incl. chained hops)':>34}")
    print(f"{len(DEFAULT_RETRY_SCHEDULE) + 1:>8} | {horizon(DEFAULT_RETRY_SCHEDULE)!s:>16} | {hops + 1:>34}")


if __name__ == "__main__":
    main()
