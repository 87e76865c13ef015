"""Adapters the incident services use: the lifecycle state machine, who-is-on-call, and the notification service.

- ``StepFunctionsLifecycle``: starts ``<id>-<generation>`` (ExecutionAlreadyExists = started), retrying a throttled
  or failed start with jittered backoff for ``start_budget_s`` (then the caller's own retries, and in the end the
  lifecycle sweep, take over); lists the running executions and starts a name only if it was never used (the sweep);
  answers waits with ``SendTaskSuccess`` (late/stale tokens are no-ops), through ``oncall.adapters.stepfunctions``.
- ``ActiveAdmins``: every active admin, whom the lifecycle's fallback pages when the policy cannot be read.
- ``MetricAlarms``: the fallback itself failed: an error log line with the traceback and the CloudWatch metric
  ``OnCallHub/LifecycleFallbackFailed`` (embedded metric format), so an alarm can page the operators.
- ``ScheduleOnCall``: "who is on call at T" from the schedule service (one query).
- ``NotifyPager``: a ``Page`` becomes the notification service's ``Message``, the one sender of everything;
  ``PageListener`` brings a queued page's outcome back to the lifecycle.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oncall.adapters import stepfunctions
from oncall.domain.errors import NotFound
from oncall.observability import log
from oncall.services.incident_ports import Page, PageButton, PageResult

if TYPE_CHECKING:
    from oncall.domain.notifications import Delivery, Message
    from oncall.services.escalation import EscalationService
    from oncall.services.identity_ports import UserStore
    from oncall.services.notify import NotificationService
    from oncall.services.schedules import ScheduleService


#: what a start retries besides botocore's own retries: AWS throttling and its transient server errors
RETRIED_START_ERRORS = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "ServiceUnavailable", "InternalFailure"}
)


class MetricAlarms:
    def fallback_failed(self, incident_id: str) -> None:
        """Called while the exception is being handled: logged with its traceback, and counted."""
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        log.exception("the lifecycle fallback of incident %s failed; the lifecycle sweep restarts it", incident_id)
        with single_metric(
            name="LifecycleFallbackFailed", unit=MetricUnit.Count, value=1, namespace="OnCallHub"
        ) as metric:
            metric.add_dimension(name="function", value="escalation")


class StepFunctionsLifecycle:
    def __init__(self, state_machine_arn: str | None, client: Any = None, *, start_budget_s: float = 8.0) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client
        #: how long ``start`` keeps retrying (within the starter's 15 s timeout)
        self.start_budget_s = start_budget_s

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions")
        return self._client

    def _arn(self) -> str:
        if not self.state_machine_arn:
            raise RuntimeError("the incident-lifecycle state machine is not configured for this function")
        return self.state_machine_arn

    def start(self, name: str, payload: dict[str, Any]) -> str:
        from botocore.exceptions import ClientError

        deadline = time.monotonic() + self.start_budget_s
        delay = 0.1
        while True:
            try:
                return stepfunctions.start_execution(
                    self.client, state_machine_arn=self._arn(), name=name, payload=payload
                )
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                if code not in RETRIED_START_ERRORS or time.monotonic() + delay > deadline:
                    raise
                log.warning("starting %s: %s; retrying in %.1fs", name, code, delay)
            time.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311  (jitter, not secrecy)
            delay = min(delay * 2, 2.0)

    def running(self) -> set[str]:
        """Names of the machine's running executions (``ListExecutions``, 1,000 a page)."""
        names: set[str] = set()
        pages = self.client.get_paginator("list_executions").paginate(
            stateMachineArn=self._arn(), statusFilter="RUNNING", PaginationConfig={"PageSize": 1000}
        )
        for page in pages:
            names.update(str(e["name"]) for e in page.get("executions", []))
        return names

    def start_new(self, name: str, payload: dict[str, Any]) -> bool:
        """Start ``name`` unless an execution of that name exists (running with this input counts as started, as
        AWS answers; ended, or running with another input, does not): False then."""
        from botocore.exceptions import ClientError

        try:
            self.client.start_execution(stateMachineArn=self._arn(), name=name, input=json.dumps(payload))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) == "ExecutionAlreadyExists":
                return False
            raise
        return True

    def answer(self, token: str, outcome: dict[str, Any]) -> bool:
        return stepfunctions.send_task_success(self.client, token, outcome)

    def fail(self, token: str, error: str, cause: str) -> bool:
        return stepfunctions.send_task_failure(self.client, token, error=error, cause=cause)


class ActiveAdmins:
    def __init__(self, users: UserStore) -> None:
        self.users = users

    def active_admins(self) -> list[str]:
        from oncall.domain.users import Role

        found: list[str] = []
        cursor: dict[str, Any] | None = None
        while True:
            people, cursor = self.users.paginate(100, cursor)
            found += [p.id for p in people if p.active and p.role is Role.ADMIN]
            if not cursor:
                return found


class ScheduleOnCall:
    def __init__(self, schedules: ScheduleService) -> None:
        self.schedules = schedules

    def who(self, schedule_id: str, at: datetime) -> str | None:
        try:
            _, shift = self.schedules.on_call(schedule_id, at)
        except NotFound:
            log.warning("escalation target schedule %s does not exist", schedule_id)
            return None
        return shift.user_id if shift is not None else None

    def team(self, team_id: str, at: datetime) -> list[str]:
        found: dict[str, None] = {}
        cursor: dict[str, Any] | None = None
        while True:
            schedules, cursor = self.schedules.store.list_schedules(200, cursor, frozenset({team_id}))
            for schedule in schedules:
                who = self.who(schedule.id, at)
                if who is not None:
                    found.setdefault(who, None)
            if cursor is None:
                return list(found)


class NotifyPager:
    def __init__(self, notifications: NotificationService) -> None:
        self.notifications = notifications

    def send(self, user_id: str, page: Page, now: datetime, context: Mapping[str, Any] | None = None) -> PageResult:
        from oncall.domain.notifications import Button, Kind, Message

        message = Message(
            kind=Kind(page.kind),
            key=page.key,
            text=page.text,
            buttons=tuple(tuple(Button(b.text, b.callback_data) for b in row) for row in page.buttons),
            incident_id=page.incident_id,
            content=page.content,
        )
        delivery = self.notifications.notify(user_id, message, now, context)
        return PageResult(str(delivery.status), delivery.channel, delivery.ref, delivery.detail)

    def status(self, user_id: str, key: str) -> str | None:
        return self.notifications.deliveries.status_of(user_id, key)

    def edit(self, ref: str, text: str, buttons: tuple[tuple[PageButton, ...], ...] = ()) -> None:
        from oncall.domain.notifications import Button

        self.notifications.edit(
            ref, text, tuple(tuple(Button(b.text, b.callback_data) for b in row) for row in buttons)
        )


class PageListener:
    """The notification service's ``QueueListener`` for queued pages: the lifecycle decides whether a page is still
    wanted and hears how it ended."""

    def __init__(self, escalation: EscalationService) -> None:
        self.escalation = escalation

    def wanted(self, user_id: str, message: Message, context: Mapping[str, Any]) -> bool:
        return self.escalation.page_wanted(context)

    def settled(
        self, user_id: str, message: Message, delivery: Delivery, context: Mapping[str, Any], now: datetime
    ) -> None:
        result = PageResult(str(delivery.status), delivery.channel, delivery.ref, delivery.detail)
        self.escalation.page_settled(user_id, result, context, now, digest=delivery.batch > 1)
