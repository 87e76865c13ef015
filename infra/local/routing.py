"""Where AWS hands work to Lambda in the emulator, and how it reaches the runner's functions.

moto knows functions by their physical names (``oncall-<name>``) and ARNs; the ``Invoker`` knows the topology's
declared names. ``FunctionRoutes`` translates between the two for everything the hooks (``hooks.Routes``) catch: a
client's or a Step Functions task's ``lambda:Invoke`` (synchronous, or asynchronous with Lambda's retries), a rule's
targets for a matched event, and the scheduled rules the scheduler fires, read from moto's events backend on every
tick so rules added with the aws cli fire too. Deliveries go through ``eventbus.Delivery``, set while the emulator
runs; before and after that, events are dropped as AWS drops them for a deleted target.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any

from infra.local.clock import Clock
from infra.local.contracts import Invoker, InvokeResult
from infra.local.eventbus import Delivery, envelope, scheduled_event
from infra.local.resources import function_physical_name
from infra.local.scheduler import ScheduledRule
from infra.topology import Topology

log = logging.getLogger("oncall.local.emulator")


class FunctionRoutes:
    def __init__(self, topology: Topology, invoker: Invoker, clock: Clock, *, account: str, region: str) -> None:
        self.invoker = invoker
        self.clock = clock
        self.account = account
        self.region = region
        #: set while the emulator runs
        self.delivery: Delivery | None = None
        self._logical = {function_physical_name(fn): fn.name for fn in topology.functions}

    # --- hooks.Routes ------------------------------------------------------------------------------------------------
    def invoke_function(self, function: str, event: Any) -> InvokeResult:
        name = self._logical.get(function)
        if name is None:
            return InvokeResult(
                payload={
                    "errorMessage": f"function {function} is not declared in the topology; the runner cannot run it",
                    "errorType": "Runtime.HandlerNotFound",
                    "stackTrace": [],
                },
                error_type="Runtime.HandlerNotFound",
                error_message=f"function {function} is not declared",
            )
        return self.invoker.invoke(name, event)

    def invoke_function_async(self, function: str, event: Any) -> None:
        name = self._logical.get(function)
        if name is None:
            log.error("async invoke of undeclared function %s dropped", function)
            return
        assert self.delivery is not None
        self.delivery.invoke_async(name, event)

    def deliver(self, rule: Any, targets: list[dict[str, Any]], event: dict[str, Any]) -> None:
        if self.delivery is None:
            return
        self.delivery.deliver(
            rule_name=rule.name,
            rule_arn=rule.arn,
            targets=[self._logical_target(t) for t in targets],
            event=envelope(event),
        )

    def event_time(self) -> float:
        return self.clock.now().timestamp()

    # --- schedules (scheduler.Scheduler) -------------------------------------------------------------------------
    def scheduled_rules(self) -> list[ScheduledRule]:
        return [
            ScheduledRule(arn=rule.arn, name=rule.name, expression=rule.scheduled_expression)
            for rule in self._rules()
            if rule.scheduled_expression and rule.state == "ENABLED"
        ]

    def fire(self, scheduled: ScheduledRule, due: datetime, wait: bool) -> None:
        rule = next((r for r in self._rules() if r.arn == scheduled.arn), None)
        if rule is None or self.delivery is None:
            return
        event = scheduled_event(
            event_id=str(uuid.uuid4()), rule_arn=rule.arn, at=due, account=self.account, region=self.region
        )
        targets = [self._logical_target(t) for t in rule.targets]
        self.delivery.deliver(rule_name=rule.name, rule_arn=rule.arn, targets=targets, event=event, wait=wait)

    # --- internals ------------------------------------------------------------------------------------------------
    def _rules(self) -> list[Any]:
        from moto.events.models import events_backends

        backend = events_backends[self.account][self.region]
        return [rule for bus in list(backend.event_buses.values()) for rule in list(bus.rules.values())]

    def _logical_target(self, target: dict[str, Any]) -> dict[str, Any]:
        """Lambda targets carry physical function ARNs; the invoker wants declared names."""
        arn = target["Arn"]
        parts = arn.split(":")
        if len(parts) > 6 and parts[2] == "lambda" and parts[6] in self._logical:
            return {**target, "Arn": ":".join([*parts[:6], self._logical[parts[6]]])}
        return target
