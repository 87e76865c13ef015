"""Every minute (EventBridge ``rate(1 minute)``): send the shift reminders that are due.

``now`` is the scheduled event's ``time`` (docs/architecture.md, "Invariants"), so a delayed or retried
invocation acts for the minute it was meant for, and duplicate invocations of one minute claim the same reminders: only
one sends each.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oncall import observability, wiring
from oncall.adapters.eventbridge import event_time
from oncall.observability import log


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = wiring.reminders.reminder_service().tick(event_time(event, wiring.clock()))
    result = report.to_dict()
    observability.count("RemindersSent", report.sent)
    observability.count("RemindersLate", report.late)
    if report.candidates:
        log.info("reminder tick", extra=result)
    return result
