"""The synthesized stack deployed into moto's CloudFormation (with the project's shim) and the account inspected
through boto3: the same checks ``make deploy-local`` runs after the real CDK CLI, in-process. Then the fault matrix:
template mistakes the static checks let through, each shown to fail the deploy or the inspection naming the resource.
docs/architecture.md, "The emulated deploy".

Long because each of the 21 faults is one small function editing a copy of the template, next to the deploys of the
product and fixture stacks, the alarm modes and the secret parameters' lifecycle they are judged against.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from infra.constructs import alarms
from infra.local.deploy import inspect, shim
from infra.local.deploy.__main__ import stack_settings
from infra.local.deploy.inspect import Inspector, Report
from infra.local.deploy.publish import asset_objects, deploy
from infra.settings import StackSettings
from infra.topology import TOPOLOGY, Topology
from tests.infra.conftest import FIXTURE, FULL_CONTEXT, PRODUCT, Synthesized
from tests.infra.template import resources

pytestmark = pytest.mark.infra

Template = dict[str, Any]
Objects = dict[str, bytes]


@dataclass(frozen=True)
class Outcome:
    stack: dict[str, Any] | None
    error: str
    report: Report | None
    seconds: float


@pytest.fixture(scope="module")
def objects(synthesized: Synthesized) -> Objects:
    return asset_objects(synthesized.outdir, PRODUCT)


Clients = Callable[[str], Any]


@contextmanager
def emulated_account() -> Iterator[Clients]:
    """An empty moto account with the shim, and a cached boto3 client per service."""
    shim.install()
    with mock_aws():
        made: dict[str, Any] = {}

        def clients(service: str) -> Any:
            if service not in made:
                made[service] = boto3.client(service, region_name="us-east-1")
            return made[service]

        yield clients


def deploy_and_inspect(
    template: Template,
    objects: Objects,
    *,
    stack_name: str = PRODUCT,
    topology: Topology = TOPOLOGY,
    settings: StackSettings | None = None,
) -> Outcome:
    started = time.perf_counter()
    with emulated_account() as clients:
        try:
            stack = deploy(clients, stack_name, template, objects)
        except ClientError as exc:
            return Outcome(None, str(exc), None, time.perf_counter() - started)
        report = Inspector(clients, stack_name, topology, settings).run()
    return Outcome(stack, "", report, time.perf_counter() - started)


def test_the_stack_deploys_completely_and_inspects_clean(synthesized: Synthesized, objects: Objects) -> None:
    template = synthesized.templates[PRODUCT]
    outcome = deploy_and_inspect(copy.deepcopy(template), objects)
    assert outcome.stack is not None, outcome.error
    assert outcome.report is not None
    print(outcome.report.table())
    print(f"deployed and inspected in {outcome.seconds:.2f} s")
    assert outcome.stack["StackStatus"] == "CREATE_COMPLETE"
    assert not outcome.report.failures, outcome.report.table()
    created = {c.resource for c in outcome.report.checks if c.what.startswith("created (")}
    assert created == set(template["Resources"]), "every resource of the template is created, none skipped"
    resource_types = {r["Type"] for r in template["Resources"].values()}
    assert {
        "AWS::ApiGatewayV2::Stage",
        "Custom::SecretParameter",
        "AWS::Lambda::EventInvokeConfig",
    } <= resource_types
    assert not any(t.startswith("AWS::SecretsManager::") for t in resource_types)
    # the deployed account was read, not just the stack's own list: every kind of check ran
    whats = {c.what for c in outcome.report.checks}
    for expected in (
        "TTL on expires_at",
        "point-in-time recovery",
        "layers",
        "architecture",
        "dead-letter queue",
        "event pattern valid",
        "every placeholder substituted",
        "task function exists",
        "policy names what exists",
        "visibility timeout >= consumer's timeout",
        "SecureString",
        "holds a value",
        "the stack's own parameter",
        "writer may ssm:PutParameter",
        "alarm on Errors (oncall:alarms=failures)",
        "alarm on ExecutionsFailed (oncall:alarms=failures)",
        "alarm on ApproximateNumberOfMessagesVisible (oncall:alarms=failures)",
        "dashboard (oncall:dashboard=false)",
    ):
        assert expected in whats, expected
    secrets = [c for c in outcome.report.checks if c.what == "holds a value"]
    assert len(secrets) == len(TOPOLOGY.secrets) and all(c.ok for c in secrets)
    env = [c for c in outcome.report.checks if c.what.startswith("env ONCALL_SECRET_") and "names a secret" in c.what]
    assert env and all(c.ok for c in env)


def test_the_full_stack_deploys_with_every_alarm_and_the_dashboard(synthesized: Synthesized) -> None:
    """The fixture stack (one of everything, ``oncall:alarms=all`` and the dashboard) inspects clean against those
    settings: an alarm on every function's errors, the dashboard present."""
    template = copy.deepcopy(synthesized.templates[FIXTURE])
    settings = StackSettings.model_validate(FULL_CONTEXT)
    outcome = deploy_and_inspect(
        template,
        asset_objects(synthesized.outdir, FIXTURE),
        stack_name=FIXTURE,
        topology=synthesized.topologies[FIXTURE],
        settings=settings,
    )
    assert outcome.stack is not None, outcome.error
    assert outcome.report is not None
    assert not outcome.report.failures, outcome.report.table()
    errors = [c for c in outcome.report.checks if c.what == "alarm on Errors (oncall:alarms=all)"]
    assert len(errors) == len(synthesized.topologies[FIXTURE].functions)
    assert any(c.what == "dashboard (oncall:dashboard=true)" and c.ok for c in outcome.report.checks)


@pytest.mark.parametrize("mode", ["all", "off"])
def test_alarms_are_checked_against_the_mode_the_stack_was_deployed_with(
    mode: str, synthesized: Synthesized, objects: Objects
) -> None:
    """The product stack (``failures``) inspected as if deployed with another mode: what is missing or extra is
    named, by the function it should watch or by the alarm that should not be there."""
    settings = StackSettings.model_validate({"oncall:alarms": mode})
    outcome = deploy_and_inspect(copy.deepcopy(synthesized.templates[PRODUCT]), objects, settings=settings)
    assert outcome.report is not None, outcome.error
    failures = {(f.resource, f.what) for f in outcome.report.failures}
    if mode == "all":
        unwatched = {f.name for f in TOPOLOGY.functions} - {alarms.ANSWERING_FUNCTION}
        assert failures == {(f"function {name}", "alarm on Errors (oncall:alarms=all)") for name in unwatched}
    else:
        names = set(resources(synthesized.templates[PRODUCT], "AWS::CloudWatch::Alarm"))
        assert {r for r, w in failures if w == "expected with oncall:alarms=off"} == names
        assert (PRODUCT, "alarm topic (oncall:alarms=off)") in failures


def test_the_inspector_knows_which_function_failures_mode_watches() -> None:
    assert inspect.ANSWERING_FUNCTION == alarms.ANSWERING_FUNCTION


def test_deploy_local_inspects_against_the_context_it_deploys_with() -> None:
    assert stack_settings([]).alarms == "failures" and not stack_settings([]).dashboard
    given = stack_settings(["-c", "oncall:alarms=all", "--context=oncall:dashboard=true", "--hotswap"])
    assert given.alarms == "all" and given.dashboard


def test_secret_parameters_are_created_updated_and_deleted_with_the_stack(
    synthesized: Synthesized, objects: Objects
) -> None:
    """The stack's own handler, run by the shim for each CloudFormation request: Create generates a SecureString per
    secret; an Update that changes only the description keeps the value; one that renames the parameter creates the
    new one and deletes the old; deleting the stack deletes them all."""
    template = copy.deepcopy(synthesized.templates[PRODUCT])
    declared = resources(template, "Custom::SecretParameter")
    names = {lid: r["Properties"]["Name"] for lid, r in declared.items()}
    with emulated_account() as clients:
        deploy(clients, PRODUCT, template, objects)
        ssm = clients("ssm")

        def parameters() -> dict[str, str]:
            found = ssm.get_parameters_by_path(Path=f"/{PRODUCT}/secrets/", WithDecryption=True)["Parameters"]
            assert all(p["Type"] == "SecureString" for p in found)
            return {p["Name"]: p["Value"] for p in found}

        created = parameters()
        assert set(created) == set(names.values()) == {f"/{PRODUCT}/secrets/{s.name}" for s in TOPOLOGY.secrets}
        assert all(len(value) == 64 for value in created.values())

        kept, renamed = sorted(declared)[:2]
        template["Resources"][kept]["Properties"]["Description"] = "described again"
        template["Resources"][renamed]["Properties"]["Name"] = names[renamed] + "-v2"
        cfn = clients("cloudformation")
        cfn.create_change_set(
            StackName=PRODUCT,
            ChangeSetName="update",
            ChangeSetType="UPDATE",
            TemplateBody=json.dumps(template),
            Capabilities=["CAPABILITY_IAM"],
        )
        cfn.execute_change_set(StackName=PRODUCT, ChangeSetName="update")
        updated = parameters()
        assert updated[names[kept]] == created[names[kept]], "a description change never regenerates the value"
        assert names[renamed] not in updated and names[renamed] + "-v2" in updated
        physical = {
            s["LogicalResourceId"]: s["PhysicalResourceId"]
            for s in cfn.list_stack_resources(StackName=PRODUCT)["StackResourceSummaries"]
        }
        assert physical[renamed] == names[renamed] + "-v2"

        cfn.delete_stack(StackName=PRODUCT)
        assert parameters() == {}


# --- the fault matrix: each mistake edits a copy of the template (or an asset) and names the resource to blame ----


def _one(template: Template, rtype: str, contains: str) -> str:
    found = [lid for lid in resources(template, rtype) if contains in lid]
    assert len(found) == 1, f"fault target {rtype} *{contains}* matched {found}"
    return found[0]


def _props(template: Template, lid: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][lid]["Properties"]
    return properties


def stage_before_its_route(t: Template, o: Objects) -> str:
    stage = _one(t, "AWS::ApiGatewayV2::Stage", "DefaultStage")
    t["Resources"][stage].pop("DependsOn")
    return stage


def asl_goes_to_a_missing_state(t: Template, o: Objects) -> str:
    machine = _one(t, "AWS::StepFunctions::StateMachine", "IncidentLifecycle")
    location = _props(t, machine)["DefinitionS3Location"]
    definition = json.loads(o[location["Key"]])
    state = next(s for s in definition["States"].values() if "Next" in s)
    state["Next"] = "NoSuchState"
    location["Key"] = "broken-definition.json"
    o["broken-definition.json"] = json.dumps(definition).encode()
    return machine


def event_pattern_leaf_not_a_list(t: Template, o: Objects) -> str:
    rule = _one(t, "AWS::Events::Rule", "RuleIncidentStats")
    _props(t, rule)["EventPattern"]["source"] = "oncall"
    return rule


def queue_without_dead_letter_queue(t: Template, o: Objects) -> str:
    queue = _one(t, "AWS::SQS::Queue", "QueuesPages0")
    _props(t, queue).pop("RedrivePolicy")
    return queue


def function_without_its_dependency_layer(t: Template, o: Objects) -> str:
    function = _one(t, "AWS::Lambda::Function", "FunctionsApi4")
    layers = _props(t, function)["Layers"]
    layers[:] = [layer for layer in layers if "Deps" not in layer["Ref"]]
    return function


def malformed_iam_action(t: Template, o: Objects) -> str:
    policy = _one(t, "AWS::IAM::Policy", "FunctionsApiRoleDefaultPolicy")
    statement = next(s for s in _props(t, policy)["PolicyDocument"]["Statement"] if "dynamodb:GetItem" in s["Action"])
    statement["Action"] = ["dynamodb:GetItems" if a == "dynamodb:GetItem" else a for a in statement["Action"]]
    return _props(t, policy)["Roles"][0]["Ref"]


def grant_on_a_missing_index(t: Template, o: Objects) -> str:
    policy = _one(t, "AWS::IAM::Policy", "FunctionsApiRoleDefaultPolicy")
    statement = next(s for s in _props(t, policy)["PolicyDocument"]["Statement"] if "dynamodb:Query" in s["Action"])
    table = _one(t, "AWS::DynamoDB::Table", "TablesIncidents")
    statement["Resource"].append({"Fn::Join": ["", [{"Fn::GetAtt": [table, "Arn"]}, "/index/by-nothing"]]})
    return _props(t, policy)["Roles"][0]["Ref"]


def environment_drifts_from_the_state_machine(t: Template, o: Objects) -> str:
    function = _one(t, "AWS::Lambda::Function", "FunctionsApi4")
    variables = _props(t, function)["Environment"]["Variables"]
    parts = variables["ONCALL_STATE_MACHINE_INCIDENT_LIFECYCLE"]["Fn::Join"][1]
    index = next(i for i, p in enumerate(parts) if isinstance(p, str) and "incident-lifecycle" in p)
    parts[index] = parts[index].replace("incident-lifecycle", "incident-lifecycle-v2")
    return function


def visibility_shorter_than_the_consumer(t: Template, o: Objects) -> str:
    queue = _one(t, "AWS::SQS::Queue", "QueuesPages0")
    _props(t, queue)["VisibilityTimeout"] = 5
    return queue


def route_to_a_missing_integration(t: Template, o: Objects) -> str:
    route = next(
        lid
        for lid, r in resources(t, "AWS::ApiGatewayV2::Route").items()
        if r["Properties"]["RouteKey"] == "POST /v2/enqueue"
    )
    _props(t, route)["Target"] = "integrations/nothing"
    return route


def table_without_ttl(t: Template, o: Objects) -> str:
    table = _one(t, "AWS::DynamoDB::Table", "TablesIdempotency")
    _props(t, table).pop("TimeToLiveSpecification")
    return table


def alarm_to_a_missing_topic(t: Template, o: Objects) -> str:
    alarm = _one(t, "AWS::CloudWatch::Alarm", "AlarmsApiErrors")
    _props(t, alarm)["AlarmActions"] = ["arn:aws:sns:us-east-1:123456789012:no-such-topic"]
    return alarm


def grant_on_a_secret_that_is_not_the_stacks(t: Template, o: Objects) -> str:
    policy = _one(t, "AWS::IAM::Policy", "FunctionsApiRoleDefaultPolicy")
    statement = next(
        s
        for s in _props(t, policy)["PolicyDocument"]["Statement"]
        if s["Action"] == "ssm:GetParameter" and "jwt-keys" in json.dumps(s["Resource"])
    )
    statement["Resource"] = "arn:aws:ssm:us-east-1:123456789012:parameter/OtherStack/secrets/jwt-keys"
    return _props(t, policy)["Roles"][0]["Ref"]


def function_reads_a_parameter_that_is_not_the_stacks(t: Template, o: Objects) -> str:
    function = _one(t, "AWS::Lambda::Function", "FunctionsTelegram")
    _props(t, function)["Environment"]["Variables"]["ONCALL_SECRET_TELEGRAM_BOT_TOKEN"] = "/OnCallHub/secrets/bot-token"
    return function


def secret_parameter_name_not_a_path(t: Template, o: Objects) -> str:
    parameter = _one(t, "Custom::SecretParameter", "MetricsToken")
    _props(t, parameter)["Name"] = "metrics-token"
    return parameter


def secret_parameter_handled_by_a_missing_function(t: Template, o: Objects) -> str:
    parameter = _one(t, "Custom::SecretParameter", "JwtKeys")
    _props(t, parameter)["ServiceToken"] = "arn:aws:lambda:us-east-1:123456789012:function:no-such-writer"
    return parameter


def writer_not_allowed_to_put_a_parameter(t: Template, o: Objects) -> str:
    policy = _one(t, "AWS::IAM::Policy", "SecretsWriterRoleDefaultPolicy")
    statement = next(s for s in _props(t, policy)["PolicyDocument"]["Statement"] if "ssm:PutParameter" in s["Action"])
    statement["Resource"] = [r for r in statement["Resource"] if "grafana-webhook-hmac" not in json.dumps(r)]
    return _one(t, "Custom::SecretParameter", "GrafanaWebhookHmac")


def alarm_on_a_missing_state_machine(t: Template, o: Objects) -> str:
    alarm = _one(t, "AWS::CloudWatch::Alarm", "ExecutionsFailed")
    dimension = _props(t, alarm)["Dimensions"][0]
    dimension["Value"] = "arn:aws:states:us-east-1:123456789012:stateMachine:OnCallHub-retired"
    return alarm


def rule_target_dead_letter_queue_missing(t: Template, o: Objects) -> str:
    rule = _one(t, "AWS::Events::Rule", "RuleIncidentStats")
    _props(t, rule)["Targets"][0]["DeadLetterConfig"]["Arn"] = "arn:aws:sqs:us-east-1:123456789012:no-such-dlq"
    return rule


def stream_failures_to_a_missing_queue(t: Template, o: Objects) -> str:
    mapping = next(
        lid
        for lid, r in resources(t, "AWS::Lambda::EventSourceMapping").items()
        if "DestinationConfig" in r["Properties"]
    )
    _props(t, mapping)["DestinationConfig"]["OnFailure"]["Destination"] = "arn:aws:sqs:us-east-1:123456789012:nothing"
    return mapping


def function_on_another_runtime(t: Template, o: Objects) -> str:
    function = _one(t, "AWS::Lambda::Function", "FunctionsEscalation")
    _props(t, function)["Runtime"] = "python3.12"
    return function


FAULTS: list[Callable[[Template, Objects], str]] = [
    stage_before_its_route,
    asl_goes_to_a_missing_state,
    event_pattern_leaf_not_a_list,
    queue_without_dead_letter_queue,
    function_without_its_dependency_layer,
    malformed_iam_action,
    grant_on_a_missing_index,
    environment_drifts_from_the_state_machine,
    visibility_shorter_than_the_consumer,
    route_to_a_missing_integration,
    table_without_ttl,
    alarm_to_a_missing_topic,
    grant_on_a_secret_that_is_not_the_stacks,
    function_reads_a_parameter_that_is_not_the_stacks,
    secret_parameter_name_not_a_path,
    secret_parameter_handled_by_a_missing_function,
    writer_not_allowed_to_put_a_parameter,
    alarm_on_a_missing_state_machine,
    rule_target_dead_letter_queue_missing,
    stream_failures_to_a_missing_queue,
    function_on_another_runtime,
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__)
def test_each_injected_mistake_is_caught_naming_the_resource(
    fault: Callable[[Template, Objects], str], synthesized: Synthesized, objects: Objects
) -> None:
    template, changed = copy.deepcopy(synthesized.templates[PRODUCT]), dict(objects)
    blamed = fault(template, changed)
    outcome = deploy_and_inspect(template, changed)
    if outcome.report is None:
        assert blamed in outcome.error, f"the deploy failed without naming {blamed}: {outcome.error}"
        return
    failures = outcome.report.failures
    assert failures, f"{fault.__name__} went unnoticed"
    assert any(f.resource == blamed for f in failures), (
        f"{fault.__name__}: no failure names {blamed}; failures: {[(f.resource, f.what, f.detail) for f in failures]}"
    )
