"""``shift.created|updated|deleted`` from the ``oncall`` bus (rule ``shift-reminders``): plan, move or cancel the
shift's reminders. Stale and duplicate deliveries are dropped by the event's ``version``.

The ``reconcile-reminders`` schedule (a ``Scheduled Event``) runs the sweep instead: upcoming shifts whose event never
reached the planner are planned now (``oncall.services.reminders.ReminderReconciler``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oncall import observability, wiring
from oncall.adapters.eventbridge import event_time
from oncall.observability import log


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("detail-type") == "Scheduled Event":
        report = wiring.reminders.reminder_reconciler().reconcile(event_time(event, wiring.clock())).to_dict()
        log.info("reminder sweep", extra=report)
        return report
    detail: dict[str, Any] = event["detail"] if isinstance(event.get("detail"), dict) else {}
    outcome = wiring.reminders.reminder_planner().apply_shift_event(
        str(event.get("detail-type") or ""), detail, event_time(event, wiring.clock())
    )
    log.info("shift event", extra={"detail_type": event.get("detail-type"), "id": detail.get("id"), "outcome": outcome})
    return {"outcome": outcome}
