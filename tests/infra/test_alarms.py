"""Alarms notify one encrypted topic. By default (the product stack) they watch what was lost or refused: every
dead-letter queue, the API function's errors and failed lifecycle executions; ``oncall:alarms=all`` (the fixture
stack) adds every function's errors."""

from __future__ import annotations

from typing import Any

from infra.constructs.alarms import ANSWERING_FUNCTION
from infra.topology import Topology
from tests.infra.conftest import FIXTURE
from tests.infra.template import function_ids, ref_id, resources


def test_failures_are_watched_and_every_function_only_when_asked(stack: tuple[dict[str, Any], Topology, str]) -> None:
    template, topology, name = stack
    alarms = [r["Properties"] for r in resources(template, "AWS::CloudWatch::Alarm").values()]
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    topic = template["Resources"][topic_id]["Properties"]
    assert topic["KmsMasterKeyId"]
    assert all([ref_id(a) for a in alarm["AlarmActions"]] == [topic_id] for alarm in alarms)
    for alarm in alarms:
        assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"

    watched_functions = {f.name for f in topology.functions} if name == FIXTURE else {ANSWERING_FUNCTION}
    errors = {a["AlarmDescription"] for a in alarms if a["MetricName"] == "Errors"}
    assert errors == {f"OnCall Hub function '{f}' raised errors" for f in watched_functions}
    ids = function_ids(template)
    watched = {ref_id(d["Value"]) for a in alarms if a["MetricName"] == "Errors" for d in a["Dimensions"]}
    assert watched == {ids[f] for f in watched_functions}

    machines = resources(template, "AWS::StepFunctions::StateMachine")
    failed = {ref_id(d["Value"]) for a in alarms if a["MetricName"] == "ExecutionsFailed" for d in a["Dimensions"]}
    assert failed == set(machines) and failed

    queues = resources(template, "AWS::SQS::Queue")
    dead_letter = {lid for lid, q in queues.items() if "RedrivePolicy" not in q.get("Properties", {})}
    depth = {
        ref_id(d["Value"])
        for a in alarms
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        for d in a["Dimensions"]
    }
    assert depth == dead_letter and dead_letter
    assert len(alarms) == len(watched_functions) + len(machines) + len(dead_letter)
    assert "AlarmTopicArn" in template["Outputs"]
