"""Shift reminders: the minute tick that sends them, the planner that follows ``shift.*`` events, and the sweep
that plans the shifts whose event never arrived."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncall.settings import get_settings
from oncall.wiring import core, notifications
from oncall.wiring.seam import once

if TYPE_CHECKING:
    from oncall.services.reminders import ReminderReconciler, ReminderService


def reminder_service() -> ReminderService:
    def build() -> ReminderService:
        from oncall.adapters import outbox
        from oncall.adapters.dynamodb.reminders import DynamoReminderStore, ScheduleFacts
        from oncall.services.reminders import ReminderService

        return ReminderService(
            store=DynamoReminderStore(get_settings().table("reminders"), outbox=outbox.transact_put),
            people=core.user_store(),
            facts=ScheduleFacts(core.schedule_service(), core.user_store()),
            notifier=notifications.notification_service(),
        )

    return once("reminder_service", build)


def reminder_planner() -> ReminderService:
    """The same service for ``shift.*`` events: only the reminders table and people."""

    def build() -> ReminderService:
        from oncall.adapters.dynamodb.reminders import DynamoReminderStore
        from oncall.services.reminders import ReminderService

        return ReminderService(store=DynamoReminderStore(get_settings().table("reminders")), people=core.user_store())

    return once("reminder_planner", build)


def reminder_reconciler() -> ReminderReconciler:
    """The planner plus the schedules it sweeps (``reconcile-reminders``)."""

    def build() -> ReminderReconciler:
        from oncall.adapters.dynamodb.reminders import DynamoReminderStore, UpcomingShifts
        from oncall.adapters.dynamodb.schedules import DynamoScheduleStore
        from oncall.services.reminders import ReminderReconciler, ReminderService

        store = DynamoReminderStore(get_settings().table("reminders"))
        shifts = UpcomingShifts(DynamoScheduleStore(get_settings().table("schedules")))
        return ReminderReconciler(ReminderService(store=store, people=core.user_store()), store, shifts)

    return once("reminder_reconciler", build)
