"""SQS queues built one way: SSE, TLS-only, 14-day retention, and a dead-letter queue unless they are one."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnOutput, Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.nag import acknowledge
from infra.constructs.naming import cid as logical_id
from infra.topology import Queue

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


def work_queue(
    scope: Construct, cid: str, *, max_receive_count: int = 5, visibility_timeout: Duration | None = None
) -> sqs.Queue:
    dlq = dead_letter_queue(scope, f"{cid}Dlq", what=f"queue {cid} (after {max_receive_count} receives)")
    return sqs.Queue(
        scope,
        cid,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
        visibility_timeout=visibility_timeout or Duration.minutes(5),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=max_receive_count),
        removal_policy=RemovalPolicy.DESTROY,
    )


class DeclaredQueues(Construct):
    """The topology's queues (each with its DLQ); consumers are attached once the functions exist (``consume``)."""

    def __init__(self, scope: Construct, construct_id: str, *, queues: tuple[Queue, ...]) -> None:
        super().__init__(scope, construct_id)
        self.decls = {q.name: q for q in queues}
        self.by_name: dict[str, sqs.Queue] = {}
        for decl in queues:
            queue = work_queue(
                self,
                logical_id(decl.name),
                max_receive_count=decl.max_receive_count,
                visibility_timeout=Duration.seconds(decl.visibility_timeout_s),
            )
            self.by_name[decl.name] = queue
            CfnOutput(Stack.of(self), f"Queue{logical_id(decl.name)}Url", value=queue.queue_url)

    def consume(self, functions: Mapping[str, lambda_.Function], reservations: Mapping[str, int]) -> None:
        """SQS event source mappings reporting partial batch failures: only failed messages are retried. Their
        maximum concurrency is the declared one, never above the consumer's reserved concurrency: a mapping polling
        faster than its function may run has batches throttled back onto the queue, each costing a receive."""
        for name, decl in self.decls.items():
            limit = decl.max_concurrency
            reserved = reservations.get(decl.consumer)
            if reserved is not None and limit is not None:
                limit = max(2, min(limit, reserved))
            functions[decl.consumer].add_event_source(
                sources.SqsEventSource(
                    self.by_name[name],
                    batch_size=decl.batch_size,
                    report_batch_item_failures=True,
                    max_concurrency=limit,
                )
            )
