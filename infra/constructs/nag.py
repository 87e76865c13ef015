"""cdk-nag acknowledgments, in one place so each carries the reason a reviewer needs.

cdk-nag 3.x reports through CDK's policy validation (``Validations.of(app).add_plugins(...)``); an acknowledgment
is recorded on a construct and covers the resources beneath it. Every finding id is exact (e.g.
``AwsSolutions-IAM5[Resource::*]``): 3.x has no prefix matching, so an unexpected new wildcard still fails synth.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

#: IAM actions that AWS authorises only against ``Resource: "*"`` (the Service Authorization Reference lists no
#: resource type for them). ``tests/infra`` fails on any ``*`` resource whose actions are not all listed here.
WILDCARD_ONLY_ACTIONS: dict[str, str] = {
    "xray:PutTraceSegments": "X-Ray segment upload has no resource-level permissions",
    "xray:PutTelemetryRecords": "X-Ray telemetry upload has no resource-level permissions",
    "xray:GetSamplingRules": "X-Ray sampling rules are account-wide, no resource-level permissions",
    "xray:GetSamplingTargets": "X-Ray sampling targets are account-wide, no resource-level permissions",
    "dynamodb:ListStreams": "ListStreams has no resource-level permissions; the Lambda stream poller requires it",
    "logs:CreateLogDelivery": "CloudWatch Logs vended-log delivery (Step Functions logging) supports only *",
    "logs:GetLogDelivery": "CloudWatch Logs vended-log delivery (Step Functions logging) supports only *",
    "logs:UpdateLogDelivery": "CloudWatch Logs vended-log delivery (Step Functions logging) supports only *",
    "logs:DeleteLogDelivery": "CloudWatch Logs vended-log delivery (Step Functions logging) supports only *",
    "logs:ListLogDeliveries": "CloudWatch Logs vended-log delivery (Step Functions logging) supports only *",
    "logs:PutResourcePolicy": "Step Functions logging writes the log group resource policy; the action supports only *",
    "logs:DescribeResourcePolicies": "Step Functions logging reads log resource policies; the action supports only *",
    "logs:DescribeLogGroups": "Step Functions logging validates the destination; DescribeLogGroups supports only *",
    "sns:CheckIfPhoneNumberIsOptedOut": "the SMS opt-out list is account-wide; the action supports only *",
}


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_wildcard_resource(scope: IConstruct, actions: list[str]) -> None:
    """The one IAM5 finding we accept: ``Resource::*`` for actions AWS cannot scope (listed above)."""
    unknown = [a for a in actions if a not in WILDCARD_ONLY_ACTIONS]
    if unknown:
        raise ValueError(f"refusing to acknowledge Resource::* for scopable actions {unknown}")
    reasons = "; ".join(sorted({WILDCARD_ONLY_ACTIONS[a] for a in actions}))
    acknowledge(scope, "AwsSolutions-IAM5[Resource::*]", f"Only {', '.join(actions)} use Resource *: {reasons}.")
