"""Adapters the incident services use: the lifecycle state machine, who-is-on-call, and the notification service.

- ``StepFunctionsLifecycle``: starts ``<id>-<generation>`` (ExecutionAlreadyExists = started) and answers waits with
  ``SendTaskSuccess`` (late/stale tokens are no-ops), through ``oncall.adapters.stepfunctions``.
- ``ScheduleOnCall``: "who is on call at T" from the schedule service (one query).
- ``NotifyPager``: a ``Page`` becomes the notification service's ``Message``, the one sender of everything;
  ``PageListener`` brings a queued page's outcome back to the lifecycle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oncall.adapters import stepfunctions
from oncall.domain.errors import NotFound
from oncall.services.incident_ports import Page, PageButton, PageResult

if TYPE_CHECKING:
    from oncall.domain.notifications import Delivery, Message
    from oncall.services.escalation import EscalationService
    from oncall.services.notify import NotificationService
    from oncall.services.schedules import ScheduleService

log = logging.getLogger(__name__)


class StepFunctionsLifecycle:
    def __init__(self, state_machine_arn: str | None, client: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("stepfunctions")
        return self._client

    def start(self, name: str, payload: dict[str, Any]) -> str:
        if not self.state_machine_arn:
            raise RuntimeError("the incident-lifecycle state machine is not configured for this function")
        return stepfunctions.start_execution(
            self.client, state_machine_arn=self.state_machine_arn, name=name, payload=payload
        )

    def answer(self, token: str, outcome: dict[str, Any]) -> bool:
        return stepfunctions.send_task_success(self.client, token, outcome)

    def fail(self, token: str, error: str, cause: str) -> bool:
        return stepfunctions.send_task_failure(self.client, token, error=error, cause=cause)


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
