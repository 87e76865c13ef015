"""Create, in an emulator, the resources the topology declares: the same ones ``cdk deploy`` creates in AWS."""

from __future__ import annotations

from typing import Any

from infra.topology import BUS_NAME, TABLES, Function, Table

PREFIX = "oncall-"


def table_name(table: Table) -> str:
    return PREFIX + table.name


def table_spec(table: Table) -> dict[str, Any]:
    attrs = {table.pk: "S"}
    keys = [{"AttributeName": table.pk, "KeyType": "HASH"}]
    if table.sk:
        attrs[table.sk] = "S"
        keys.append({"AttributeName": table.sk, "KeyType": "RANGE"})
    gsis = []
    for index in table.indexes:
        attrs.setdefault(index.pk, "S")
        ikeys = [{"AttributeName": index.pk, "KeyType": "HASH"}]
        if index.sk:
            attrs.setdefault(index.sk, "S")
            ikeys.append({"AttributeName": index.sk, "KeyType": "RANGE"})
        projection: dict[str, Any] = {"ProjectionType": "ALL"}
        if index.include is not None:
            projection = {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.include)}
            if not index.include:
                projection = {"ProjectionType": "KEYS_ONLY"}
        gsis.append({"IndexName": index.name, "KeySchema": ikeys, "Projection": projection})
    spec: dict[str, Any] = {
        "TableName": table_name(table),
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": v} for k, v in attrs.items()],
        "KeySchema": keys,
    }
    if gsis:
        spec["GlobalSecondaryIndexes"] = gsis
    if table.stream_consumer:
        spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    return spec


def create_tables(dynamodb: Any) -> None:
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for table in TABLES:
        if table_name(table) in existing:
            continue
        dynamodb.create_table(**table_spec(table))
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table_name(table),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def function_environment(fn: Function, region: str = "us-east-1") -> dict[str, str]:
    """The environment the runner gives a function: what CDK sets in AWS, pointed at the emulator's names."""
    env = {
        "ONCALL_STAGE": "local",
        "ONCALL_BUS_NAME": BUS_NAME,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "POWERTOOLS_SERVICE_NAME": f"oncall-{fn.name}",
        "POWERTOOLS_METRICS_NAMESPACE": "OnCallHub",
    }
    for name in fn.tables:
        env[Table(name=name, pk="").env_var] = PREFIX + name
    env.update(fn.environment)
    return env
