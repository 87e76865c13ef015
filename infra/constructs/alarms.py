"""Alarms on what should never happen quietly (``oncall:alarms``).

``failures`` (the default) watches what was lost or refused: a dead-letter queue holding anything (every queue
without a DLQ of its own is one: work that failed after every retry), the API function's errors (a person or an
alert source was answered 5xx), a lifecycle execution that failed (an incident no longer escalates). ``all`` adds
every other function's ``Errors``, which also count errors a retry then absorbed: useful while watching a new
deployment, noise afterwards. An alarm is $0.10 a month, so the default keeps the bill of an idle deployment under a
dollar; every metric watched is AWS's own (free).

One SNS topic (output ``AlarmTopicArn``; subscribe an email address or a chat integration to it) receives every
alarm. Each fires at ≥ 1 over 5 minutes; missing data is "not breaching": an idle function is healthy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.naming import cid

PERIOD = Duration.minutes(5)


#: the function whose errors reach a caller instead of a dead-letter queue
ANSWERING_FUNCTION = "api"


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: Mapping[str, lambda_.Function],
        state_machines: Mapping[str, sfn.IStateMachine],
        level: Literal["failures", "all"],
    ) -> None:
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
            if level == "failures" and name != ANSWERING_FUNCTION:
                continue
            self._add(
                f"{cid(name)}Errors",
                fn.metric_errors(period=PERIOD, statistic="Sum"),
                f"OnCall Hub function '{name}' raised errors",
            )

        for name, machine in state_machines.items():
            self._add(
                f"{cid(name)}ExecutionsFailed",
                machine.metric_failed(period=PERIOD, statistic="Sum"),
                f"OnCall Hub workflow '{name}' had executions fail",
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
