"""``incident.*`` events on the bus → the statistics rollups (``oncall.services.stats``).

Each event carries the incident's snapshot and version; applying one is idempotent and order-free (an older or
repeated version changes nothing), so EventBridge's at-least-once delivery and Lambda's retries are harmless. An
event without what statistics need is logged and skipped; a failure to write raises, so Lambda retries it and then
hands it to the function's on-failure destination.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from oncall import wiring

logger = Logger(service="oncall-stats")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    outcome = wiring.incidents.stats_service().on_event(event)
    logger.info("statistics", extra={"incident_id": (event.get("detail") or {}).get("id"), "outcome": outcome})
    return {"outcome": outcome}
