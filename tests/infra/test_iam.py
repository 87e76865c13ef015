"""Least privilege, checked on the template: each function's role holds exactly what its declaration implies."""

from __future__ import annotations

from typing import Any

import pytest

from infra.constructs.nag import WILDCARD_ONLY_ACTIONS
from infra.topology import Topology
from tests.infra.conftest import FIXTURE, Synthesized
from tests.infra.template import all_policy_statements, function_ids, props, ref_id, render, resources, role_grants

pytestmark = pytest.mark.infra

Stack = tuple[dict[str, Any], Topology, str]

WRITE_ACTIONS = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
}
READ_ACTIONS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:ConditionCheckItem"}
SQS_SEND = {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"}
SFN_ACTIONS = {
    "states:StartExecution",
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
    "states:ListExecutions",
}


def _role(template: dict[str, Any], fn_lid: str) -> str:
    return ref_id(props(template, fn_lid)["Role"])


def _table_arns(template: dict[str, Any], topology: Topology, tname: str, fn_env: dict[str, Any]) -> set[str]:
    table_lid = ref_id(fn_env[topology.table(tname).env_var])
    return {f"{table_lid}.Arn"} | {f"{table_lid}.Arn/index/{ix.name}" for ix in topology.table(tname).indexes}


def expected_grants(template: dict[str, Any], topology: Topology, name: str) -> set[tuple[str, str]]:
    """What the declaration of function ``name`` implies, derived independently of the constructs."""
    ids = function_ids(template)
    lid = ids[name]
    decl = topology.function(name)
    p = props(template, lid)
    env = p["Environment"]["Variables"]
    grants = {
        (a, f"{ref_id(p['LoggingConfig']['LogGroup'])}.Arn") for a in ("logs:CreateLogStream", "logs:PutLogEvents")
    }
    grants |= {("xray:PutTraceSegments", "*"), ("xray:PutTelemetryRecords", "*")}
    for tname, access in decl.tables.items():
        actions = READ_ACTIONS | {"dynamodb:Scan", "dynamodb:DescribeTable"}
        if access == "write":
            actions |= WRITE_ACTIONS - {"dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"}
        grants |= {(a, arn) for a in actions for arn in _table_arns(template, topology, tname, env)}
    if decl.publishes:
        grants.add(("events:PutEvents", f"{ref_id(env['ONCALL_BUS_NAME'])}.Arn"))
    if decl.checks_readiness:
        grants.add(("events:DescribeEventBus", f"{ref_id(env['ONCALL_BUS_NAME'])}.Arn"))
    for smname in decl.state_machines:
        sfn = SFN_ACTIONS | ({"states:DescribeStateMachine"} if decl.checks_readiness else set())
        grants |= {(a, render(env[topology.state_machine(smname).env_var])) for a in sfn}
    for secret in topology.secrets:
        if secret.name in decl.secrets:
            parameter = env[secret.env_var]
            assert parameter.endswith(f"/secrets/{secret.name}"), parameter
            grants.add(("ssm:GetParameter", f"arn:AWS::Partition:ssm:AWS::Region:AWS::AccountId:parameter{parameter}"))
    for qname in decl.queues:
        grants.add(("sqs:SendMessage", f"{ref_id(env[topology.queue(qname).env_var])}.Arn"))
    if decl.sends_sms:
        grants |= {("sns:Publish", "NOT arn:aws:sns:*:*:*"), ("sns:CheckIfPhoneNumberIsOptedOut", "*")}
    if decl.sends_email and "ONCALL_EMAIL_SENDER" in env:
        grants |= {(a, r) for a in ("ses:SendEmail", "ses:SendRawEmail") for r in _ses_identities(env)}
    for mapping in resources(template, "AWS::Lambda::EventSourceMapping").values():
        mp = mapping["Properties"]
        if ref_id(mp["FunctionName"]) == lid and ref_id(mp["EventSourceArn"]) in resources(template, "AWS::SQS::Queue"):
            # an SQS event source: receive, delete, read attributes of exactly that queue
            queue = render(mp["EventSourceArn"])
            grants |= {
                (a, queue)
                for a in (
                    "sqs:ReceiveMessage",
                    "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueUrl",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                )
            }
            continue
        if ref_id(mp["FunctionName"]) == lid:
            stream = render(mp["EventSourceArn"])
            grants |= {
                (a, stream) for a in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
            }
            grants.add(("dynamodb:ListStreams", "*"))
            grants |= {(a, render(mp["DestinationConfig"]["OnFailure"]["Destination"])) for a in SQS_SEND}
    for config in resources(template, "AWS::Lambda::EventInvokeConfig").values():
        cp = config["Properties"]
        if ref_id(cp["FunctionName"]) == lid:
            grants |= {(a, render(cp["DestinationConfig"]["OnFailure"]["Destination"])) for a in SQS_SEND}
    return grants


def _ses_identities(env: dict[str, Any]) -> set[str]:
    from email.utils import parseaddr

    address = parseaddr(env["ONCALL_EMAIL_SENDER"])[1]
    return {f"arn:AWS::Partition:ses:AWS::Region:AWS::AccountId:identity/{n}" for n in (address, address.split("@")[1])}


def test_each_function_role_grants_exactly_what_is_declared(stack: Stack) -> None:
    template, topology, _ = stack
    ids = function_ids(template)
    for decl in topology.functions:
        actual = role_grants(template, _role(template, ids[decl.name]))
        expected = expected_grants(template, topology, decl.name)
        assert actual == expected, (
            f"{decl.name}: extra {sorted(actual - expected)}; missing {sorted(expected - actual)}"
        )


def test_read_only_table_access_carries_no_write_action(stack: Stack) -> None:
    template, topology, _ = stack
    ids = function_ids(template)
    for decl in topology.functions:
        env = props(template, ids[decl.name])["Environment"]["Variables"]
        grants = role_grants(template, _role(template, ids[decl.name]))
        for tname, access in decl.tables.items():
            arns = _table_arns(template, topology, tname, env)
            on_table = {a for a, r in grants if r in arns}
            assert on_table >= READ_ACTIONS
            if access == "read":
                assert not on_table & WRITE_ACTIONS, f"{decl.name} may write read-only table {tname}"
            else:
                assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= on_table
        undeclared = {
            r
            for _, r in grants
            if r.endswith(".Arn") and r.split(".")[0] in resources(template, "AWS::DynamoDB::Table")
        }
        declared = (
            set().union(*(_table_arns(template, topology, t, env) for t in decl.tables)) if decl.tables else set()
        )
        assert undeclared <= declared, f"{decl.name} reaches undeclared tables {undeclared - declared}"


def test_only_publishers_may_put_events(stack: Stack) -> None:
    template, topology, _ = stack
    ids = function_ids(template)
    for decl in topology.functions:
        actions = {a for a, _ in role_grants(template, _role(template, ids[decl.name]))}
        assert ("events:PutEvents" in actions) == decl.publishes, decl.name


def test_the_readiness_check_may_describe_what_it_checks_and_only_the_api_may(stack: Stack) -> None:
    """GET /health/ready describes every table of the api, the bus and the lifecycle state machine: each granted on
    exactly that resource, and to no other function."""
    template, topology, _ = stack
    ids = function_ids(template)
    api = topology.function("api")
    assert api.checks_readiness
    env = props(template, ids["api"])["Environment"]["Variables"]
    grants = role_grants(template, _role(template, ids["api"]))
    assert {r for a, r in grants if a == "events:DescribeEventBus"} == {f"{ref_id(env['ONCALL_BUS_NAME'])}.Arn"}
    lifecycle = render(env[topology.state_machine("incident-lifecycle").env_var])
    assert {r for a, r in grants if a == "states:DescribeStateMachine"} == {lifecycle}
    described = {r for a, r in grants if a == "dynamodb:DescribeTable"}
    for tname in api.tables:
        assert _table_arns(template, topology, tname, env) <= described, tname
    for decl in topology.functions:
        if decl.name == "api":
            continue
        actions = {a for a, _ in role_grants(template, _role(template, ids[decl.name]))}
        assert not actions & {"events:DescribeEventBus", "states:DescribeStateMachine"}, decl.name


def test_no_action_wildcards_and_resource_star_only_where_aws_requires(stack: Stack) -> None:
    template, _, _ = stack
    for statement in all_policy_statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if "*" in a], statement
        if "NotResource" in statement:
            assert statement["Action"] == "sns:Publish" and statement["NotResource"] == "arn:aws:sns:*:*:*", statement
            continue
        if statement["Resource"] == "*" or "*" in (
            statement["Resource"] if isinstance(statement["Resource"], list) else []
        ):
            unjustified = [a for a in actions if a not in WILDCARD_ONLY_ACTIONS]
            assert not unjustified, f"Resource * for scopable actions {unjustified}"


def test_state_machine_roles_invoke_only_their_substituted_functions(synthesized: Synthesized) -> None:
    template = synthesized.templates[FIXTURE]
    topology = synthesized.topologies[FIXTURE]
    ids = function_ids(template)
    for decl in topology.state_machines:
        (machine,) = [
            m["Properties"] for m in resources(template, "AWS::StepFunctions::StateMachine").values()
            if m["Properties"]["StateMachineName"] == f"{FIXTURE}-{decl.name}"
        ]  # fmt: skip
        grants = role_grants(template, ref_id(machine["RoleArn"]))
        invokes = {r for a, r in grants if a == "lambda:InvokeFunction"}
        assert invokes == {f"{ids[f]}.Arn" for f in decl.function_substitutions.values()}
        scoped = {a for a, r in grants if r != "*"}
        assert scoped == {"lambda:InvokeFunction"}


def test_queue_policies_deny_plaintext_and_admit_only_our_rules(stack: Stack) -> None:
    template, _, _ = stack
    rules = resources(template, "AWS::Events::Rule")
    for policy in resources(template, "AWS::SQS::QueuePolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        )
        for s in statements:
            if s["Effect"] == "Allow":
                assert s["Principal"] == {"Service": "events.amazonaws.com"}
                assert ref_id(s["Condition"]["ArnEquals"]["aws:SourceArn"]) in rules
