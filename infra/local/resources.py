"""Create, in an emulator, the resources the topology declares: the same ones ``cdk deploy`` creates in AWS."""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from infra.topology import TABLES, TOPOLOGY, Function, Secret, StateMachine, Table, Target, Topology

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


def create_tables(dynamodb: Any, tables: Iterable[Table] = TABLES, *, streams: bool = True) -> None:
    """``streams=False`` leaves streams off so a restore can load items without emitting records (then
    ``enable_streams``)."""
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for table in tables:
        if table_name(table) in existing:
            continue
        spec = table_spec(table)
        if not streams:
            spec.pop("StreamSpecification", None)
        dynamodb.create_table(**spec)
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=table_name(table),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )


def enable_streams(dynamodb: Any, tables: Iterable[Table]) -> None:
    for table in tables:
        if not table.stream_consumer:
            continue
        desc = dynamodb.describe_table(TableName=table_name(table))["Table"]
        if not (desc.get("StreamSpecification") or {}).get("StreamEnabled"):
            dynamodb.update_table(
                TableName=table_name(table),
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )


def function_environment(
    fn: Function,
    region: str = "us-east-1",
    *,
    topology: Topology = TOPOLOGY,
    account: str = "123456789012",
) -> dict[str, str]:
    """The environment the runner gives a function: what CDK sets in AWS, pointed at the emulator's names."""
    env = {
        "ONCALL_STAGE": "local",
        "ONCALL_BUS_NAME": topology.bus_name,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "POWERTOOLS_SERVICE_NAME": f"oncall-{fn.name}",
        "POWERTOOLS_METRICS_NAMESPACE": "OnCallHub",
    }
    for name in fn.tables:
        env[Table(name=name, pk="").env_var] = PREFIX + name
    for sm_name in fn.state_machines:
        env[topology.state_machine(sm_name).env_var] = state_machine_arn(sm_name, account, region)
    for qname in fn.queues:
        env[topology.queue(qname).env_var] = queue_url(qname, account, region)
    for secret in topology.secrets:
        if secret.name in fn.secrets:
            env[secret.env_var] = secret_name(secret)
    env.update(fn.environment)
    return env


# --- everything else the topology declares (the emulator creates these; CDK creates the same in AWS) -------------

#: moto's default account; every client of the emulator (in-process, workers, aws cli) lands in it
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
LAMBDA_ROLE = "oncall-local-lambda"
STATES_ROLE = "oncall-local-states"


def function_physical_name(fn: Function | str) -> str:
    return PREFIX + (fn if isinstance(fn, str) else fn.name)


def function_arn(fn: Function | str, account: str = ACCOUNT_ID, region: str = REGION) -> str:
    return f"arn:aws:lambda:{region}:{account}:function:{function_physical_name(fn)}"


def state_machine_arn(sm: StateMachine | str, account: str = ACCOUNT_ID, region: str = REGION) -> str:
    name = sm if isinstance(sm, str) else sm.name
    return f"arn:aws:states:{region}:{account}:stateMachine:{PREFIX}{name}"


def queue_name(name: str) -> str:
    return PREFIX + name


def queue_arn(name: str, account: str = ACCOUNT_ID, region: str = REGION) -> str:
    return f"arn:aws:sqs:{region}:{account}:{queue_name(name)}"


def queue_url(name: str, account: str = ACCOUNT_ID, region: str = REGION) -> str:
    """The canonical URL; boto3 sends it to whatever endpoint the client has, and moto resolves it by name."""
    return f"https://sqs.{region}.amazonaws.com/{account}/{queue_name(name)}"


def dead_letter_queue_name(name: str) -> str:
    return queue_name(name) + "-dlq"


def rule_name(name: str) -> str:
    return PREFIX + name


#: where the runner keeps its secrets: SecureString parameters, as the stack does under ``/<stack name>/secrets/``
SECRET_PATH = "/oncall/secrets/"  # noqa: S105 (a path, not a value)


def secret_name(secret: Secret) -> str:
    return SECRET_PATH + secret.name


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def state_machine_definition(
    sm: StateMachine, account: str = ACCOUNT_ID, region: str = REGION, extra: Mapping[str, str] | None = None
) -> str:
    """The ASL with each ``${Name}`` replaced by the ARN of the function it names (plus ``extra`` values); an
    undeclared placeholder is an error, so a typo cannot reach a running state machine."""
    values = {key: function_arn(fn, account, region) for key, fn in sm.function_substitutions.items()}
    values.update(extra or {})
    text = sm.definition.read_text()
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(values))
    if missing:
        raise ValueError(f"state machine {sm.name}: undeclared substitutions {missing}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _target_arn(target: Target, account: str, region: str) -> str:
    if target.kind == "function":
        return function_arn(target.name, account, region)
    if target.kind == "state_machine":
        return state_machine_arn(target.name, account, region)
    return queue_arn(target.name, account, region)


def create_all(
    clients: Callable[[str], Any],
    topology: Topology,
    *,
    account: str = ACCOUNT_ID,
    region: str = REGION,
    table_streams: bool = True,
) -> None:
    """Create every declared resource that does not exist yet (idempotent, so a restart can call it again)."""
    create_tables(clients("dynamodb"), topology.tables, streams=table_streams)
    iam = clients("iam")
    for role, service in ((LAMBDA_ROLE, "lambda"), (STATES_ROLE, "states")):
        try:
            iam.get_role(RoleName=role)
        except iam.exceptions.NoSuchEntityException:
            iam.create_role(
                RoleName=role,
                AssumeRolePolicyDocument=json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": f"{service}.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    }
                ),
            )
    create_secrets(clients("ssm"), topology)
    create_queues(clients("sqs"), topology)
    create_functions(clients("lambda"), topology, account=account, region=region)
    create_state_machines(clients("stepfunctions"), topology, account=account, region=region)
    create_rules(clients("events"), topology, account=account, region=region)


def create_secrets(ssm: Any, topology: Topology) -> None:
    """Each declared secret gets a random value locally, once (in AWS the stack generates it and the operator may
    replace it)."""
    import secrets as _secrets

    for secret in topology.secrets:
        with contextlib.suppress(ssm.exceptions.ParameterAlreadyExists):
            ssm.put_parameter(
                Name=secret_name(secret),
                Description=secret.doc[:1024],
                Value=_secrets.token_urlsafe(48),
                Type="SecureString",
                Overwrite=False,
            )


def create_queues(sqs: Any, topology: Topology) -> None:
    """Declared queues with their dead-letter queue and redrive policy (as CDK's ``work_queue``), then any other
    queue a rule targets."""
    for decl in topology.queues:
        dlq_url = sqs.create_queue(QueueName=dead_letter_queue_name(decl.name))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.create_queue(
            QueueName=queue_name(decl.name),
            Attributes={
                "VisibilityTimeout": str(decl.visibility_timeout_s),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(decl.max_receive_count)}
                ),
            },
        )
    declared = {q.name for q in topology.queues}
    names = {t.name for rule in topology.rules for t in rule.targets if t.kind == "queue"} - declared
    for name in sorted(names):
        attributes = {"FifoQueue": "true", "ContentBasedDeduplication": "true"} if name.endswith(".fifo") else {}
        sqs.create_queue(QueueName=queue_name(name), Attributes=attributes)


def _zip_of(fn: Function) -> bytes:
    """A tiny zip naming the handler: moto wants code, the runner executes the source folder itself."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", f"# runs from {fn.code_dir.name}/handler.py in the local runner\n")
    return buf.getvalue()


def create_functions(
    lambda_client: Any, topology: Topology, *, account: str = ACCOUNT_ID, region: str = REGION
) -> None:
    existing = {
        f["FunctionName"]
        for page in lambda_client.get_paginator("list_functions").paginate()
        for f in page["Functions"]
    }
    for fn in topology.functions:
        if function_physical_name(fn) in existing:
            continue
        lambda_client.create_function(
            FunctionName=function_physical_name(fn),
            Runtime="python3.13",
            Role=f"arn:aws:iam::{account}:role/{LAMBDA_ROLE}",
            Handler=fn.handler,
            Code={"ZipFile": _zip_of(fn)},
            Timeout=fn.timeout_s,
            MemorySize=fn.memory_mb,
            Architectures=["arm64"],
            Environment={"Variables": function_environment(fn, region, topology=topology, account=account)},
        )


def create_state_machines(sfn: Any, topology: Topology, *, account: str = ACCOUNT_ID, region: str = REGION) -> None:
    existing = {sm["name"] for sm in sfn.list_state_machines()["stateMachines"]}
    for sm in topology.state_machines:
        definition = state_machine_definition(sm, account, region)
        if PREFIX + sm.name in existing:
            sfn.update_state_machine(stateMachineArn=state_machine_arn(sm, account, region), definition=definition)
            continue
        sfn.create_state_machine(
            name=PREFIX + sm.name,
            definition=definition,
            roleArn=f"arn:aws:iam::{account}:role/{STATES_ROLE}",
            type="STANDARD",
        )


def create_rules(events: Any, topology: Topology, *, account: str = ACCOUNT_ID, region: str = REGION) -> None:
    buses = {b["Name"] for b in events.list_event_buses()["EventBuses"]}
    if topology.bus_name not in buses:
        events.create_event_bus(Name=topology.bus_name)
    for rule in topology.rules:
        bus = topology.bus_name if rule.bus == "oncall" else "default"
        events.put_rule(Name=rule_name(rule.name), EventBusName=bus, EventPattern=json.dumps(rule.pattern))
        events.put_targets(
            Rule=rule_name(rule.name),
            EventBusName=bus,
            Targets=[{"Id": f"{t.kind}-{t.name}"[:64], "Arn": _target_arn(t, account, region)} for t in rule.targets],
        )
    for sched in topology.schedules:
        events.put_rule(Name=rule_name(sched.name), ScheduleExpression=sched.expression, State="ENABLED")
        events.put_targets(
            Rule=rule_name(sched.name),
            Targets=[{"Id": f"function-{sched.function}"[:64], "Arn": function_arn(sched.function, account, region)}],
        )
