"""Adapters the incident services use: the lifecycle state machine, who-is-on-call, and the notification service.

- ``StepFunctionsLifecycle``: starts ``<id>-<generation>`` (ExecutionAlreadyExists = started) and answers waits with
  ``SendTaskSuccess`` (late/stale tokens are no-ops), through ``oncall.adapters.stepfunctions``.
- ``ScheduleOnCall``: "who is on call at T" from the schedule service (one query).
- ``NotifyPager``: a ``Page`` becomes the notification service's ``Message`` (issue 6), the one sender of everything.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oncall.adapters import stepfunctions
from oncall.domain.errors import NotFound
from oncall.services.incident_ports import Page, PageButton, PageResult

if TYPE_CHECKING:
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

    def send(self, user_id: str, page: Page, now: datetime) -> PageResult:
        from oncall.domain.notifications import Button, Kind, Message

        message = Message(
            kind=Kind(page.kind),
            key=page.key,
            text=page.text,
            buttons=tuple(tuple(Button(b.text, b.callback_data) for b in row) for row in page.buttons),
            incident_id=page.incident_id,
            content=page.content,
        )
        delivery = self.notifications.notify(user_id, message, now)
        return PageResult(status=str(delivery.status), channel=delivery.channel, ref=delivery.ref)

    def edit(self, ref: str, text: str, buttons: tuple[tuple[PageButton, ...], ...] = ()) -> None:
        from oncall.domain.notifications import Button

        self.notifications.edit(
            ref, text, tuple(tuple(Button(b.text, b.callback_data) for b in row) for row in buttons)
        )
