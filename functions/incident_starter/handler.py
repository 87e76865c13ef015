"""``incident.triggered`` / ``incident.reopened`` on the bus → start the lifecycle execution ``<id>-<generation>``.

An EventBridge rule targeting Step Functions cannot name the execution, so this function does: a redelivered event
meets ExecutionAlreadyExists, which counts as started. An un-ack (also ``incident.triggered``) resumes the running
execution and starts nothing.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from oncall import wiring
from oncall.services.escalation import start_lifecycle

logger = Logger(service="oncall-incident-starter")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = event.get("detail") or {}
    arn = start_lifecycle(wiring.incidents.lifecycle(), detail)
    logger.info("lifecycle", extra={"incident_id": detail.get("id"), "execution": arn})
    return {"execution_arn": arn}
