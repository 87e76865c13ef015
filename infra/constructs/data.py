"""DynamoDB tables from the topology: on-demand, PITR, TTL, declared GSIs, streams where a consumer is declared, warm
throughput where declared (the base table: its indexes take a few writes per incident, not per alert, and DynamoDB's
defaults are the minimum one may declare)."""

from __future__ import annotations

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from infra.constructs.naming import cid
from infra.topology import Index, Table


def _projection(index: Index) -> tuple[dynamodb.ProjectionType, list[str] | None]:
    if index.include is None:
        return dynamodb.ProjectionType.ALL, None
    if not index.include:
        return dynamodb.ProjectionType.KEYS_ONLY, None
    return dynamodb.ProjectionType.INCLUDE, list(index.include)


class Tables(Construct):
    """Every declared table. Tables are RETAINed: a ``cdk destroy`` must never take incident history with it."""

    def __init__(self, scope: Construct, construct_id: str, *, tables: tuple[Table, ...]) -> None:
        super().__init__(scope, construct_id)
        self.by_name: dict[str, dynamodb.Table] = {}
        for decl in tables:
            warm = (
                dynamodb.WarmThroughput(
                    read_units_per_second=decl.warm_throughput[0], write_units_per_second=decl.warm_throughput[1]
                )
                if decl.warm_throughput
                else None
            )
            table = dynamodb.Table(
                self,
                cid(decl.name),
                partition_key=dynamodb.Attribute(name=decl.pk, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=decl.sk, type=dynamodb.AttributeType.STRING) if decl.sk else None,
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                time_to_live_attribute=decl.ttl_attribute,
                stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES if decl.stream_consumer else None,
                removal_policy=RemovalPolicy.RETAIN,
                warm_throughput=warm,
            )
            for index in decl.indexes:
                projection, non_key = _projection(index)
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(name=index.pk, type=dynamodb.AttributeType.STRING),
                    sort_key=dynamodb.Attribute(name=index.sk, type=dynamodb.AttributeType.STRING)
                    if index.sk
                    else None,
                    projection_type=projection,
                    non_key_attributes=non_key,
                )
            self.by_name[decl.name] = table
            # on the stack itself, so the output key stays readable (TableOutboxName) for scripts and `make admin`
            CfnOutput(
                Stack.of(self),
                f"Table{cid(decl.name)}Name",
                value=table.table_name,
                description=f"DynamoDB table '{decl.name}' ({decl.env_var})",
            )
