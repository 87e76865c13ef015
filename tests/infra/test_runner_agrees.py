"""The local runner and ``cdk deploy`` build the same system from the one topology.

The synthesized template (what AWS gets) and the emulator's live resources (what ``make run`` gets) are read back and
compared: the same functions with the same configuration and resource variables, the same tables and indexes, the same
rules with the same patterns, schedules and targets, and state machines wired to the same functions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.contracts import InvokeResult
from infra.local.emulator import Emulator
from infra.local.resources import PREFIX, function_environment
from infra.settings import DEPLOYABLE
from infra.topology import TOPOLOGY
from tests.infra.conftest import PRODUCT, Synthesized
from tests.infra.template import function_ids, props, ref_id, resources

pytestmark = pytest.mark.infra


class _Idle:
    """The comparison invokes nothing; a schedule firing meanwhile gets an empty success."""

    def invoke(self, function: str, event: Any) -> InvokeResult:
        return InvokeResult(payload=None)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    emu = Emulator(TOPOLOGY, _Idle(), port=0, data_dir=None, scheduler_tick_seconds=3600)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def template(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.templates[PRODUCT]


def _logical_of_arn(arn: str) -> str:
    """``arn:...:function:oncall-api`` / ``...:stateMachine:oncall-x`` / ``...:queue-name`` → declared name."""
    return arn.rsplit(":", 1)[-1].removeprefix(PREFIX)


def test_same_functions_same_configuration(template: dict[str, Any], emulator: Emulator) -> None:
    ids = function_ids(template)
    listed = emulator.client("lambda").list_functions()["Functions"]
    local = {f["FunctionName"].removeprefix(PREFIX): f for f in listed}
    assert sorted(local) == sorted(ids)
    for name, lid in ids.items():
        cfn = props(template, lid)
        assert (local[name]["Handler"], local[name]["MemorySize"], local[name]["Timeout"]) == (
            cfn["Handler"],
            cfn["MemorySize"],
            cfn["Timeout"],
        ), name
        # operator settings are not resources: the runner hands them to every function from its own environment
        # (infra.local.config), CDK from context (infra.settings)
        aws_vars = {k for k in cfn["Environment"]["Variables"] if k.startswith("ONCALL_")} - set(DEPLOYABLE.values())
        runner_vars = {k for k in function_environment(TOPOLOGY.function(name)) if k.startswith("ONCALL_")}
        assert runner_vars == aws_vars, f"{name}: runner and AWS disagree on {runner_vars ^ aws_vars}"


def _key_schema(keys: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(k["AttributeName"], k["KeyType"]) for k in keys]


def test_same_tables_keys_indexes_streams_ttl(template: dict[str, Any], emulator: Emulator) -> None:
    ddb = emulator.client("dynamodb")
    assert len(resources(template, "AWS::DynamoDB::Table")) == len(TOPOLOGY.tables)
    for table in TOPOLOGY.tables:
        local = ddb.describe_table(TableName=PREFIX + table.name)["Table"]
        output = next(o for o in template["Outputs"].values() if f"'{table.name}'" in o.get("Description", ""))
        cfn = props(template, ref_id(output["Value"]))
        assert _key_schema(cfn["KeySchema"]) == _key_schema(local["KeySchema"]), table.name
        assert sorted(i["IndexName"] for i in cfn.get("GlobalSecondaryIndexes", [])) == sorted(
            i["IndexName"] for i in local.get("GlobalSecondaryIndexes", [])
        ), table.name
        assert {(a["AttributeName"], a["AttributeType"]) for a in cfn["AttributeDefinitions"]} == {
            (a["AttributeName"], a["AttributeType"]) for a in local["AttributeDefinitions"]
        }, table.name
        cfn_gsis = {i["IndexName"]: i for i in cfn.get("GlobalSecondaryIndexes", [])}
        for gsi in local.get("GlobalSecondaryIndexes", []):
            other = cfn_gsis[gsi["IndexName"]]
            assert _key_schema(other["KeySchema"]) == _key_schema(gsi["KeySchema"]), (table.name, gsi["IndexName"])
            assert other["Projection"]["ProjectionType"] == gsi["Projection"]["ProjectionType"]
            assert sorted(other["Projection"].get("NonKeyAttributes", [])) == sorted(
                gsi["Projection"].get("NonKeyAttributes", [])
            )
        cfn_stream = (cfn.get("StreamSpecification") or {}).get("StreamViewType")
        local_stream = (local.get("StreamSpecification") or {}).get("StreamViewType")
        assert cfn_stream == local_stream, table.name
        ttl = ddb.describe_time_to_live(TableName=PREFIX + table.name)["TimeToLiveDescription"]
        assert ttl.get("AttributeName") == table.ttl_attribute, table.name


def _cfn_target(template: dict[str, Any], target: dict[str, Any]) -> str:
    lid = ref_id(target["Arn"])
    rtype = template["Resources"][lid]["Type"]
    if rtype == "AWS::Lambda::Function":
        service = props(template, lid)["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        return "function:" + service.removeprefix("oncall-")
    if rtype == "AWS::StepFunctions::StateMachine":
        name = props(template, lid)["StateMachineName"]
        return "state_machine:" + (name if isinstance(name, str) else json.dumps(name)).rsplit("-", 1)[-1]
    return "queue:" + lid


def test_same_rules_patterns_schedules_and_targets(template: dict[str, Any], emulator: Emulator) -> None:
    cfn_rules = set()
    for rule in resources(template, "AWS::Events::Rule").values():
        p = rule["Properties"]
        bus = "default" if "EventBusName" not in p else "oncall"
        shape = p.get("ScheduleExpression") or json.dumps(p["EventPattern"], sort_keys=True)
        kinds = tuple(sorted(_cfn_target(template, t).split(":")[0] for t in p["Targets"]))
        names = tuple(sorted(_cfn_target(template, t) for t in p["Targets"]))
        cfn_rules.add((bus, shape, kinds, tuple(n for n in names if not n.startswith("queue:"))))
    events = emulator.client("events")
    local_rules = set()
    for bus in ("default", TOPOLOGY.bus_name):
        for rule in events.list_rules(EventBusName=bus)["Rules"]:
            shape = rule.get("ScheduleExpression") or json.dumps(json.loads(rule["EventPattern"]), sort_keys=True)
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
            described = []
            for t in targets:
                arn = t["Arn"]
                kind = "function" if ":function:" in arn else "state_machine" if ":stateMachine:" in arn else "queue"
                described.append((kind, f"{kind}:{_logical_of_arn(arn)}"))
            kinds = tuple(sorted(k for k, _ in described))
            names = tuple(sorted(n for k, n in described if k != "queue"))
            local_rules.add(("default" if bus == "default" else "oncall", shape, kinds, names))
    assert local_rules == cfn_rules


def test_state_machines_call_the_same_functions(template: dict[str, Any], emulator: Emulator) -> None:
    machines = resources(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == len(TOPOLOGY.state_machines)
    sfn = emulator.client("stepfunctions")
    by_name = {m["name"].removeprefix(PREFIX): m for m in sfn.list_state_machines()["stateMachines"]}
    assert sorted(by_name) == sorted(sm.name for sm in TOPOLOGY.state_machines)
    for sm in TOPOLOGY.state_machines:
        (cfn,) = [
            m["Properties"] for m in machines.values() if str(m["Properties"]["StateMachineName"]).endswith(sm.name)
        ]
        cfn_subs = {key: _cfn_target(template, {"Arn": v}) for key, v in cfn["DefinitionSubstitutions"].items()}
        assert cfn_subs == {key: f"function:{fn}" for key, fn in sm.function_substitutions.items()}
        definition = sfn.describe_state_machine(stateMachineArn=by_name[sm.name]["stateMachineArn"])["definition"]
        expected = sm.definition.read_text()
        for key, fn in sm.function_substitutions.items():
            expected = expected.replace(
                "${" + key + "}",
                emulator.client("lambda").get_function(FunctionName=PREFIX + fn)["Configuration"]["FunctionArn"],
            )
        assert json.loads(definition) == json.loads(expected)
