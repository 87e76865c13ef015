"""The synthesized template holds every declared resource, configured as docs/architecture.md says, and nothing
undeclared."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra.settings import from_context
from infra.topology import Topology
from tests.infra.conftest import FIXTURE, Synthesized, cdk_context
from tests.infra.template import function_ids, props, ref_id, render, resources, secret_writer_id

pytestmark = pytest.mark.infra

Stack = tuple[dict[str, Any], Topology, str]

#: every resource type the stack may contain; a new type (e.g. a CDK helper's Custom::) must be a deliberate change
ALLOWED_TYPES = {
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Integration",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Stage",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::DynamoDB::Table",
    "AWS::Events::EventBus",
    "AWS::Events::Rule",
    "AWS::IAM::Policy",
    "AWS::IAM::Role",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Lambda::Function",
    "AWS::Lambda::LayerVersion",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::StepFunctions::StateMachine",
    # the secrets: SSM SecureString parameters written by the stack's own handler (infra/constructs/secrets.py)
    "Custom::SecretParameter",
}


def _table_ids(template: dict[str, Any], topology: Topology) -> dict[str, str]:
    """Declared table name → logical id, via the stack outputs (TableXName → Ref)."""
    out = {}
    for table in topology.tables:
        output = next(o for o in template["Outputs"].values() if f"'{table.name}'" in o.get("Description", ""))
        out[table.name] = ref_id(output["Value"])
    return out


def _described(template: dict[str, Any], rtype: str, description: str) -> tuple[str, dict[str, Any]]:
    matches = [(lid, r["Properties"]) for lid, r in resources(template, rtype).items()]
    found = [(lid, p) for lid, p in matches if p.get("Description") == description]
    assert len(found) == 1, f"{rtype} described {description!r}: {len(found)} found"
    return found[0]


def test_only_known_resource_types_and_no_cdk_helpers(stack: Stack) -> None:
    template, _, _ = stack
    types = {r["Type"] for r in template["Resources"].values()}
    assert types <= ALLOWED_TYPES, types - ALLOWED_TYPES
    helpers = [t for t in types if t.startswith("Custom::") or t == "AWS::CloudFormation::CustomResource"]
    assert helpers == ["Custom::SecretParameter"], helpers


def test_functions_are_exactly_the_declared_ones(stack: Stack) -> None:
    template, topology, _ = stack
    ids = function_ids(template)
    assert sorted(ids) == sorted(f.name for f in topology.functions)
    assert len(resources(template, "AWS::Lambda::Function")) == len(topology.functions) + 1  # + the secret writer
    log_groups = resources(template, "AWS::Logs::LogGroup")
    layers = set(resources(template, "AWS::Lambda::LayerVersion"))
    for decl in topology.functions:
        p = props(template, ids[decl.name])
        assert p["Runtime"] == "python3.13"
        assert p["Architectures"] == ["arm64"]
        assert p["Handler"] == decl.handler
        assert p["MemorySize"] == decl.memory_mb
        assert p["Timeout"] == decl.timeout_s
        assert p["TracingConfig"] == {"Mode": "Active"}
        assert {ref_id(layer) for layer in p["Layers"]} == layers
        log_group = ref_id(p["LoggingConfig"]["LogGroup"])
        assert log_groups[log_group]["Properties"]["RetentionInDays"] == 30
        assert "ManagedPolicyArns" not in props(template, ref_id(p["Role"]))


def test_function_environment_names_each_declared_resource(stack: Stack) -> None:
    template, topology, name = stack
    ids = function_ids(template)
    tables = _table_ids(template, topology)
    bus = _bus_id(template)
    for decl in topology.functions:
        env = props(template, ids[decl.name])["Environment"]["Variables"]
        assert env["ONCALL_STAGE"] == "aws"
        assert ref_id(env["ONCALL_BUS_NAME"]) == bus
        assert env["POWERTOOLS_SERVICE_NAME"] == f"oncall-{decl.name}"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "OnCallHub"
        table_vars = {k for k in env if k.startswith("ONCALL_TABLE_")}
        assert table_vars == {topology.table(t).env_var for t in decl.tables}
        for tname in decl.tables:
            assert ref_id(env[topology.table(tname).env_var]) == tables[tname]
        sm_vars = {k for k in env if k.startswith("ONCALL_STATE_MACHINE_")}
        assert sm_vars == {topology.state_machine(s).env_var for s in decl.state_machines}
        for smname in decl.state_machines:
            assert render(env[topology.state_machine(smname).env_var]).endswith(f":stateMachine:{name}-{smname}")
        secret_vars = {k for k in env if k.startswith("ONCALL_SECRET_")}
        assert secret_vars == {s.env_var for s in topology.secrets if s.name in decl.secrets}
        for key, value in decl.environment.items():
            assert env[key] == value, f"{decl.name}: declared {key} must win over the default"


def test_every_function_knows_the_bot_username_but_no_token(stack: Stack) -> None:
    template, _, _ = stack
    for lid in function_ids(template).values():
        env = props(template, lid)["Environment"]["Variables"]
        assert env["TELEGRAM_BOT_USERNAME"] == "oncall_hub_bot"
        assert "TELEGRAM_BOT_TOKEN" not in env and "TELEGRAM_WEBHOOK_SECRET" not in env


def _bus_id(template: dict[str, Any]) -> str:
    (bus,) = resources(template, "AWS::Events::EventBus")
    return bus


def test_tables_match_declarations(stack: Stack) -> None:
    template, topology, _ = stack
    ids = _table_ids(template, topology)
    assert len(resources(template, "AWS::DynamoDB::Table")) == len(topology.tables)
    for decl in topology.tables:
        res = template["Resources"][ids[decl.name]]
        assert res["DeletionPolicy"] == "Retain"
        assert res["UpdateReplacePolicy"] == "Retain"
        p = res["Properties"]
        assert p["BillingMode"] == "PAY_PER_REQUEST"
        assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        keys = [{"AttributeName": decl.pk, "KeyType": "HASH"}]
        if decl.sk:
            keys.append({"AttributeName": decl.sk, "KeyType": "RANGE"})
        assert p["KeySchema"] == keys
        if decl.ttl_attribute:
            assert p["TimeToLiveSpecification"] == {"AttributeName": decl.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in p
        if decl.stream_consumer:
            assert p["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
        else:
            assert "StreamSpecification" not in p
        gsis = {g["IndexName"]: g for g in p.get("GlobalSecondaryIndexes", [])}
        assert sorted(gsis) == sorted(ix.name for ix in decl.indexes)
        for ix in decl.indexes:
            gsi = gsis[ix.name]
            ikeys = [{"AttributeName": ix.pk, "KeyType": "HASH"}]
            if ix.sk:
                ikeys.append({"AttributeName": ix.sk, "KeyType": "RANGE"})
            assert gsi["KeySchema"] == ikeys
            if ix.include is None:
                assert gsi["Projection"] == {"ProjectionType": "ALL"}
            elif not ix.include:
                assert gsi["Projection"] == {"ProjectionType": "KEYS_ONLY"}
            else:
                assert gsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(ix.include)}


def test_stream_consumers_are_mapped_with_partial_failures_and_a_dlq(stack: Stack) -> None:
    template, topology, _ = stack
    ids = function_ids(template)
    tables = _table_ids(template, topology)
    mappings = {
        k: m
        for k, m in resources(template, "AWS::Lambda::EventSourceMapping").items()
        if render(m["Properties"]["EventSourceArn"]).endswith(".StreamArn")
    }
    consumers = [t for t in topology.tables if t.stream_consumer]
    assert len(mappings) == len(consumers)
    queues = resources(template, "AWS::SQS::Queue")
    for decl in consumers:
        (p,) = [
            m["Properties"]
            for m in mappings.values()
            if render(m["Properties"]["EventSourceArn"]) == f"{tables[decl.name]}.StreamArn"
        ]
        assert ref_id(p["FunctionName"]) == ids[str(decl.stream_consumer)]
        assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert p["BisectBatchOnFunctionError"] is True
        assert 0 < p["MaximumRetryAttempts"] <= 10
        assert ref_id(p["DestinationConfig"]["OnFailure"]["Destination"]) in queues


def test_declared_queues_feed_their_consumer_with_partial_failures_and_a_redrive(stack: Stack) -> None:
    template, topology, _ = stack
    ids = function_ids(template)
    queues = resources(template, "AWS::SQS::Queue")
    by_queue = {
        ref_id(m["Properties"]["EventSourceArn"]): m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if ref_id(m["Properties"]["EventSourceArn"]) in queues
    }
    assert len(by_queue) == len(topology.queues)
    for decl in topology.queues:
        (qid,) = [q for q, p in by_queue.items() if ref_id(p["FunctionName"]) == ids[decl.consumer]]
        mapping = by_queue[qid]
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BatchSize"] == decl.batch_size
        queue = queues[qid]["Properties"]
        assert queue["VisibilityTimeout"] == decl.visibility_timeout_s
        assert queue["VisibilityTimeout"] >= 6 * topology.function(decl.consumer).timeout_s
        assert queue["RedrivePolicy"]["maxReceiveCount"] == decl.max_receive_count
        assert ref_id(queue["RedrivePolicy"]["deadLetterTargetArn"]) in queues
        # senders get the URL and SendMessage on exactly this queue
        for fn in topology.functions:
            env = props(template, ids[fn.name])["Environment"]["Variables"]
            assert (decl.env_var in env) == (decl.name in fn.queues), fn.name
            if decl.name in fn.queues:
                assert ref_id(env[decl.env_var]) == qid


def test_routes_are_exactly_the_declared_ones_with_proxy_integrations(stack: Stack) -> None:
    template, topology, _ = stack
    ids = function_ids(template)
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in resources(template, "AWS::ApiGatewayV2::Route").values()
    }
    assert sorted(routes) == sorted(r.route_key for r in topology.routes)
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    for decl in topology.routes:
        target = routes[decl.route_key]["Target"]
        integration_id = render(target).removeprefix("integrations/")
        integration = integrations[integration_id]["Properties"]
        assert integration["IntegrationType"] == "AWS_PROXY"
        assert integration["PayloadFormatVersion"] == "2.0"
        assert ref_id(integration["IntegrationUri"]) == ids[decl.function]
    permissions = [
        p["Properties"] for p in resources(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]  # fmt: skip
    assert {ref_id(p["FunctionName"]) for p in permissions} == {ids[r.function] for r in topology.routes}


def test_stage_logs_access_and_throttles(stack: Stack) -> None:
    template, topology, _ = stack
    (stage,) = [s["Properties"] for s in resources(template, "AWS::ApiGatewayV2::Stage").values()]
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert ref_id(stage["AccessLogSettings"]["DestinationArn"]) in resources(template, "AWS::Logs::LogGroup")
    log_format = json.loads(stage["AccessLogSettings"]["Format"])
    assert log_format["requestId"] == "$context.requestId"
    knobs = from_context(cdk_context()).stack
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": knobs.throttle_rate,
        "ThrottlingBurstLimit": knobs.throttle_burst,
    }
    ingest = (knobs.ingest_throttle_rate, knobs.ingest_throttle_burst)
    throttled = {r.route_key: r.throttle or ingest for r in topology.routes if r.throttle or r.ingest}
    settings = stage.get("RouteSettings", {})
    assert sorted(settings) == sorted(throttled)
    for key, (rate, burst) in throttled.items():
        assert settings[key] == {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}


def test_rules_and_schedules_are_exactly_the_declared_ones(stack: Stack) -> None:
    template, topology, _ = stack
    ids = function_ids(template)
    all_rules = resources(template, "AWS::Events::Rule")
    assert len(all_rules) == len(topology.rules) + len(topology.schedules)
    queues = resources(template, "AWS::SQS::Queue")
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    for decl in topology.rules:
        _, p = _described(template, "AWS::Events::Rule", f"OnCall Hub rule '{decl.name}'")
        assert p["EventPattern"] == decl.pattern
        if decl.bus == "oncall":
            assert ref_id(p["EventBusName"]) == _bus_id(template)
        else:
            assert "EventBusName" not in p
        assert len(p["Targets"]) == len(decl.targets)
        for declared, target in zip(decl.targets, p["Targets"], strict=True):
            arn = ref_id(target["Arn"])
            if declared.kind == "function":
                assert arn == ids[declared.name]
            elif declared.kind == "state_machine":
                assert arn in machines
                assert machines[arn]["Properties"]["StateMachineName"].endswith(f"-{declared.name}")
                assert ref_id(target["RoleArn"]) in resources(template, "AWS::IAM::Role")
            else:
                assert arn in queues
                assert "RedrivePolicy" in queues[arn]["Properties"]
            assert ref_id(target["DeadLetterConfig"]["Arn"]) in queues
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    for sched in topology.schedules:
        _, p = _described(template, "AWS::Events::Rule", f"OnCall Hub schedule '{sched.name}'")
        assert p["ScheduleExpression"] == sched.expression
        assert "EventBusName" not in p
        (target,) = p["Targets"]
        assert ref_id(target["Arn"]) == ids[sched.function]
        assert ref_id(target["DeadLetterConfig"]["Arn"]) in queues


def test_event_driven_functions_park_failed_async_invocations(stack: Stack) -> None:
    template, topology, _ = stack
    ids = function_ids(template)
    targeted = {t.name for r in topology.rules for t in r.targets if t.kind == "function"}
    targeted |= {s.function for s in topology.schedules}
    configs = {
        ref_id(c["Properties"]["FunctionName"]): c["Properties"]
        for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()
    }
    assert set(configs) == {ids[name] for name in targeted}
    for config in configs.values():
        assert ref_id(config["DestinationConfig"]["OnFailure"]["Destination"]) in resources(template, "AWS::SQS::Queue")


def test_state_machines_are_standard_logged_traced_with_function_substitutions(stack: Stack) -> None:
    template, topology, name = stack
    ids = function_ids(template)
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == len(topology.state_machines)
    for decl in topology.state_machines:
        (p,) = [
            m["Properties"] for m in machines.values() if m["Properties"]["StateMachineName"] == f"{name}-{decl.name}"
        ]
        assert p["StateMachineType"] == "STANDARD"
        assert {k: ref_id(v) for k, v in p["DefinitionSubstitutions"].items()} == {
            k: ids[v] for k, v in decl.function_substitutions.items()
        }
        placeholders = set(re.findall(r"\$\{(\w+)\}", decl.definition.read_text()))
        assert placeholders == set(decl.function_substitutions), "every ${Name} in the ASL needs a substitution"
        assert p["LoggingConfiguration"]["Level"] == "ALL"
        assert p["TracingConfiguration"] == {"Enabled": True}


def test_secrets_are_generated_never_literal(stack: Stack) -> None:
    """Each secret is a parameter the writer generates: the template carries its name, never a value, and the writer
    may put and delete exactly those parameters."""
    template, topology, name = stack
    params = resources(template, "Custom::SecretParameter")
    assert sorted(p["Properties"]["Name"] for p in params.values()) == sorted(
        f"/{name}/secrets/{s.name}" for s in topology.secrets
    )
    for param in params.values():
        assert set(param["Properties"]) == {"ServiceToken", "Name", "Description"}
        assert param["DeletionPolicy"] == "Delete"
    writer = props(template, secret_writer_id(template))
    assert writer["Handler"] == "index.handler" and writer["Runtime"] == "python3.13"
    assert "Environment" not in writer
    statements = [
        st
        for pol in resources(template, "AWS::IAM::Policy").values()
        if any(ref_id(r) == ref_id(writer["Role"]) for r in pol["Properties"]["Roles"])
        for st in pol["Properties"]["PolicyDocument"]["Statement"]
    ]
    ssm = [st for st in statements if any(str(a).startswith("ssm:") for a in _listed(st["Action"]))]
    assert len(ssm) == 1 and sorted(ssm[0]["Action"]) == ["ssm:DeleteParameter", "ssm:PutParameter"]
    granted = sorted(render(r).rsplit(":parameter", 1)[1] for r in ssm[0]["Resource"])
    assert granted == sorted(f"/{name}/secrets/{s.name}" for s in topology.secrets)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_layers_are_arm64_python313(stack: Stack) -> None:
    template, _, _ = stack
    layers = resources(template, "AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    for layer in layers.values():
        assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
        assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]


def test_outputs_name_what_operators_and_scripts_need(stack: Stack) -> None:
    template, topology, _ = stack
    outputs = template["Outputs"]
    assert {"ApiUrl", "EventBusName"} <= set(outputs)
    for table in topology.tables:
        assert any(f"'{table.name}'" in o.get("Description", "") for o in outputs.values())


def test_fixture_stack_exercises_every_kind(synthesized: Synthesized) -> None:
    """Guard for the fixture itself: if it stopped declaring a kind, the generic tests above would prove less."""
    fx = synthesized.topologies[FIXTURE]
    assert any(t.stream_consumer for t in fx.tables)
    assert {ix.include is None for t in fx.tables for ix in t.indexes} == {True, False}
    assert {"read", "write"} <= {a for f in fx.functions for a in f.tables.values()}
    assert {r.bus for r in fx.rules} == {"oncall", "default"}
    assert {t.kind for r in fx.rules for t in r.targets} == {"function", "state_machine", "queue"}
    assert any(s.expression.startswith("rate(") for s in fx.schedules)
    assert any(s.expression.startswith("cron(") for s in fx.schedules)
    assert fx.state_machines and fx.secrets and any(r.throttle for r in fx.routes)
    assert any(f.publishes for f in fx.functions) and any(not f.publishes for f in fx.functions)


def test_a_declared_environment_cannot_redirect_a_resource_name() -> None:
    from infra.app import build_app
    from tests.infra.conftest import cdk_context
    from tests.infra.fixtures.topology import fixture_topology

    fixture = fixture_topology()
    rogue = dataclasses.replace(fixture.function("fx-notifier"), environment={"ONCALL_BUS_NAME": "elsewhere"})
    topology = Topology((rogue,), (), (), (), (), (), ())
    with pytest.raises(ValueError, match="ONCALL_BUS_NAME"):
        build_app({"Rogue": topology}, context=cdk_context())


def test_an_asl_placeholder_without_a_substitution_fails_the_synth(tmp_path: Path) -> None:
    from infra.app import build_app
    from infra.topology import StateMachine
    from tests.infra.conftest import cdk_context
    from tests.infra.fixtures.topology import fixture_topology

    fixture = fixture_topology()
    asl = tmp_path / "broken.asl.json"
    asl.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${Pager}", "End": True}}}))
    machine = StateMachine("broken", asl, {"Escalation": "fx-escalation"})
    topology = Topology((fixture.function("fx-escalation"),), (), (), (), (), (machine,), ())
    topology = dataclasses.replace(
        topology, functions=(dataclasses.replace(topology.functions[0], tables={}, state_machines=(), secrets=()),)
    )
    with pytest.raises(ValueError, match=r"without substitution \['Pager'\], unused \['Escalation'\]"):
        build_app({"Broken": topology}, context=cdk_context())
