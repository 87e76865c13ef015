"""Every minute (EventBridge ``rate(1 minute)``): send the shift reminders that are due.

``now`` is the scheduled event's ``time`` (DESIGN §3), so a delayed or retried invocation acts for the minute it was
meant for, and duplicate invocations of one minute claim the same reminders: only one sends each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from oncall import wiring

logger = Logger(service="oncall-reminders")


def _now(event: dict[str, Any]) -> datetime:
    raw = event.get("time")
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                return parsed
        except ValueError:
            logger.warning("unparseable event time; using the clock", extra={"time": raw})
    return wiring.clock()()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = wiring.reminder_service().tick(_now(event))
    result = report.to_dict()
    if report.candidates:
        logger.info("reminder tick", extra=result)
    return result
