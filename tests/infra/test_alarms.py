"""Every function has an error alarm and every dead-letter queue a depth alarm, all notifying one encrypted topic."""

from __future__ import annotations

from typing import Any

from infra.topology import Topology
from tests.infra.template import ref_id, resources


def test_every_function_and_dead_letter_queue_is_watched(stack: tuple[dict[str, Any], Topology, str]) -> None:
    template, topology, _ = stack
    alarms = [r["Properties"] for r in resources(template, "AWS::CloudWatch::Alarm").values()]
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    topic = template["Resources"][topic_id]["Properties"]
    assert topic["KmsMasterKeyId"]
    assert all([ref_id(a) for a in alarm["AlarmActions"]] == [topic_id] for alarm in alarms)

    errors = {a["AlarmDescription"] for a in alarms if a["MetricName"] == "Errors"}
    assert errors == {f"OnCall Hub function '{f.name}' raised errors" for f in topology.functions}
    for alarm in alarms:
        assert alarm["Threshold"] == 1 and alarm["TreatMissingData"] == "notBreaching"

    functions = resources(template, "AWS::Lambda::Function")
    watched = {ref_id(d["Value"]) for a in alarms if a["MetricName"] == "Errors" for d in a["Dimensions"]}
    assert watched == set(functions)

    queues = resources(template, "AWS::SQS::Queue")
    dead_letter = {lid for lid, q in queues.items() if "RedrivePolicy" not in q.get("Properties", {})}
    depth = {
        ref_id(d["Value"])
        for a in alarms
        if a["MetricName"] == "ApproximateNumberOfMessagesVisible"
        for d in a["Dimensions"]
    }
    assert depth == dead_letter and dead_letter
    assert "AlarmTopicArn" in template["Outputs"]
