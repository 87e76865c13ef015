"""DynamoDB stream → consumer function mappings: partial batch failures, bisect on error, bounded retries, and an
SQS dead-letter queue for records that still fail (the record's shard position lives 24 h in the stream)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from constructs import Construct

from infra.constructs.functions import XRAY_ACTIONS
from infra.constructs.nag import acknowledge_wildcard_resource
from infra.constructs.naming import cid
from infra.constructs.queues import dead_letter_queue
from infra.topology import Table

STREAM_READ = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"]
#: a poison record is retried this often (after bisecting down to it), then parked in the DLQ
RETRY_ATTEMPTS = 5
MAX_RECORD_AGE = Duration.hours(6)


class StreamConsumers(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: tuple[Table, ...],
        table_resources: Mapping[str, dynamodb.Table],
        functions: Mapping[str, lambda_.Function],
        roles: Mapping[str, iam.Role],
    ) -> None:
        super().__init__(scope, construct_id)
        for decl in tables:
            if not decl.stream_consumer:
                continue
            table = table_resources[decl.name]
            fn = functions[decl.stream_consumer]
            role = roles[decl.stream_consumer]
            stream_arn = table.table_stream_arn
            assert stream_arn is not None
            role.add_to_policy(iam.PolicyStatement(actions=STREAM_READ, resources=[stream_arn]))
            role.add_to_policy(iam.PolicyStatement(actions=["dynamodb:ListStreams"], resources=["*"]))
            # replaces the function's X-Ray-only acknowledgment: one finding id per role, so one complete reason
            acknowledge_wildcard_resource(role, [*XRAY_ACTIONS, "dynamodb:ListStreams"])
            dlq = dead_letter_queue(self, f"{cid(decl.name)}StreamDlq", what=f"the '{decl.name}' table stream")
            lambda_.EventSourceMapping(
                self,
                f"{cid(decl.name)}Stream",
                target=fn,
                event_source_arn=stream_arn,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=100,
                max_batching_window=Duration.seconds(1),
                bisect_batch_on_error=True,
                retry_attempts=RETRY_ATTEMPTS,
                max_record_age=MAX_RECORD_AGE,
                report_batch_item_failures=True,
                on_failure=sources.SqsDlq(dlq),
            )
