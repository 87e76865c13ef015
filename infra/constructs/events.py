"""EventBridge: the ``oncall`` bus, the declared rules (on it or on the default bus) and the scheduled rules.

Delivery failures (EventBridge could not invoke a target) land in one shared dead-letter queue whose messages carry
the rule and target ARNs; functions invoked asynchronously by a rule additionally send invocations that failed
after Lambda's own retries to an on-failure queue, so neither kind of failure is silent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.naming import cid
from infra.constructs.queues import dead_letter_queue, work_queue
from infra.topology import Rule, Schedule, Target

TARGET_RETRY_ATTEMPTS = 20
TARGET_MAX_EVENT_AGE = Duration.hours(6)
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE = Duration.hours(6)

#: the top-level fields of an EventBridge pattern and their names in CDK's ``EventPattern``
_PATTERN_FIELDS = {
    "source": "source",
    "detail-type": "detail_type",
    "detail": "detail",
    "account": "account",
    "region": "region",
    "resources": "resources",
    "id": "id",
    "time": "time",
    "version": "version",
}


class Bus(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, name: str) -> None:
        super().__init__(scope, construct_id)
        # the physical name is derived (unique per stack); functions learn it from ONCALL_BUS_NAME
        self.bus = events.EventBus(self, "Bus", description=f"OnCall Hub domain events ('{name}' bus)")
        CfnOutput(Stack.of(self), "EventBusName", value=self.bus.event_bus_name, description="The 'oncall' bus")


def _apply_pattern(rule: events.Rule, name: str, pattern: Mapping[str, Any]) -> None:
    """Set the declared pattern verbatim on the CfnRule.

    CDK's ``EventPattern`` types top-level fields as string lists, so content filters such as
    ``{"prefix": "incident."}`` cannot pass through jsii. The L2 rule gets the fields it can type (a rule needs a
    pattern to validate), then the verbatim pattern overrides it; lists replace and ``detail`` merges with itself,
    so the template holds exactly what was declared.
    """
    unknown = set(pattern) - set(_PATTERN_FIELDS)
    if unknown:
        raise ValueError(f"rule {name}: unknown event pattern fields {sorted(unknown)}")
    typed: dict[str, Any] = {}
    for key, value in pattern.items():
        if key == "detail" or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            typed[_PATTERN_FIELDS[key]] = value
    if not typed:
        raise ValueError(f"rule {name}: a pattern needs 'detail' or one field of plain strings (e.g. 'source')")
    rule.add_event_pattern(**typed)
    cfn = rule.node.default_child
    assert isinstance(cfn, events.CfnRule)
    cfn.add_property_override("EventPattern", dict(pattern))


class Rules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rules: tuple[Rule, ...],
        schedules: tuple[Schedule, ...],
        bus: events.IEventBus,
        functions: Mapping[str, lambda_.Function],
        state_machines: Mapping[str, sfn.IStateMachine],
        queues: Mapping[str, sqs.Queue] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._functions = functions
        self._state_machines = state_machines
        #: declared queues (with their consumers) are used as they are; any other queue target is created here
        self._declared = dict(queues or {})
        self._queues: dict[str, sqs.Queue] = {}
        self._async_configured: set[str] = set()
        self._target_dlq: sqs.Queue | None = None
        self._async_dlq: sqs.Queue | None = None
        self.rules: dict[str, events.Rule] = {}
        for decl in rules:
            rule = events.Rule(
                self,
                f"Rule{cid(decl.name)}",
                description=f"OnCall Hub rule '{decl.name}'",
                event_bus=bus if decl.bus == "oncall" else None,
            )
            _apply_pattern(rule, decl.name, decl.pattern)
            for target in decl.targets:
                rule.add_target(self._target(target))
            self.rules[decl.name] = rule
        for sched in schedules:
            rule = events.Rule(
                self,
                f"Schedule{cid(sched.name)}",
                description=f"OnCall Hub schedule '{sched.name}'",
                schedule=events.Schedule.expression(sched.expression),
            )
            rule.add_target(self._target(Target("function", sched.function)))
            self.rules[sched.name] = rule

    @property
    def queues(self) -> Mapping[str, sqs.Queue]:
        return self._queues

    def _dlq(self) -> sqs.Queue:
        if self._target_dlq is None:
            self._target_dlq = dead_letter_queue(self, "TargetDlq", what="EventBridge rule and schedule targets")
        return self._target_dlq

    def _target(self, target: Target) -> events.IRuleTarget:
        common: dict[str, Any] = {
            "dead_letter_queue": self._dlq(),
            "retry_attempts": TARGET_RETRY_ATTEMPTS,
            "max_event_age": TARGET_MAX_EVENT_AGE,
        }
        if target.kind == "function":
            fn = self._functions[target.name]
            self._configure_async(target.name, fn)
            return targets.LambdaFunction(fn, **common)
        if target.kind == "state_machine":
            return targets.SfnStateMachine(self._state_machines[target.name], **common)
        queue = self._declared.get(target.name) or self._queues.get(target.name)
        if queue is None:
            queue = work_queue(self, f"Queue{cid(target.name)}")
            self._queues[target.name] = queue
            CfnOutput(Stack.of(self), f"Queue{cid(target.name)}Url", value=queue.queue_url)
        return targets.SqsQueue(queue, **common)

    def _configure_async(self, name: str, fn: lambda_.Function) -> None:
        if name in self._async_configured:
            return
        if self._async_dlq is None:
            self._async_dlq = dead_letter_queue(
                self, "AsyncFailureDlq", what="event-driven function invocations that failed after Lambda's retries"
            )
        fn.configure_async_invoke(
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=ASYNC_MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self._async_dlq),
        )
        self._async_configured.add(name)
