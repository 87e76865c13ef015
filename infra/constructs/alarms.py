"""Alarms on what should never happen quietly: a function erroring, a dead-letter queue receiving anything.

One SNS topic (output ``AlarmTopicArn``; subscribe an email address or a chat integration to it) receives every
alarm. Function errors: ``Errors`` summed over 5 minutes ≥ 1. Dead-letter queues (every queue without a DLQ of its
own is one): ``ApproximateNumberOfMessagesVisible`` ≥ 1. Missing data is "not breaching": an idle function is healthy.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.naming import cid

PERIOD = Duration.minutes(5)


class Alarms(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, functions: Mapping[str, lambda_.Function]) -> None:
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="OnCall Hub alarms",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        CfnOutput(Stack.of(self), "AlarmTopicArn", value=self.topic.topic_arn, description="Every alarm of the stack")
        self.by_name: dict[str, cloudwatch.Alarm] = {}
        for name, fn in functions.items():
            self._add(
                f"{cid(name)}Errors",
                fn.metric_errors(period=PERIOD, statistic="Sum"),
                f"OnCall Hub function '{name}' raised errors",
            )

    def watch_dead_letter_queues(self, stack: Stack) -> None:
        """Call last: every queue created so far that has no DLQ of its own is a DLQ."""
        for node in stack.node.find_all():
            if isinstance(node, sqs.Queue) and node.dead_letter_queue is None:
                path = node.node.path.split("/", 1)[-1]
                self._add(
                    f"{cid(path)}Depth",
                    node.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum"),
                    f"OnCall Hub dead-letter queue {path} holds messages",
                )

    def _add(self, construct_id: str, metric: cloudwatch.Metric, description: str) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_description=description,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.by_name[construct_id] = alarm
