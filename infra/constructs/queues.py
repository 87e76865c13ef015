"""SQS queues built one way: SSE, TLS-only, 14-day retention, and a dead-letter queue unless they are one."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.nag import acknowledge

RETENTION = Duration.days(14)


def dead_letter_queue(scope: Construct, cid: str, *, what: str) -> sqs.Queue:
    queue = sqs.Queue(
        scope,
        cid,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
        removal_policy=RemovalPolicy.DESTROY,
    )
    acknowledge(
        queue,
        "AwsSolutions-SQS3",
        f"This queue is itself the dead-letter queue for {what}; a DLQ of a DLQ would only move the same messages.",
    )
    return queue


def work_queue(scope: Construct, cid: str, *, max_receive_count: int = 5) -> sqs.Queue:
    dlq = dead_letter_queue(scope, f"{cid}Dlq", what=f"queue {cid} (after {max_receive_count} receives)")
    return sqs.Queue(
        scope,
        cid,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
        visibility_timeout=Duration.minutes(5),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=max_receive_count),
        removal_policy=RemovalPolicy.DESTROY,
    )
