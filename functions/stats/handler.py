"""``incident.*`` events on the bus → the statistics rollups (``oncall.services.stats``).

Each event carries the incident's snapshot and version; applying one is idempotent and order-free (an older or
repeated version changes nothing), so EventBridge's at-least-once delivery and Lambda's retries are harmless. An
event without what statistics need is logged and skipped; a failure to write raises, so Lambda retries it and then
hands it to the function's on-failure destination.
"""

from __future__ import annotations

from typing import Any

from oncall import observability, wiring
from oncall.observability import log


@observability.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    detail = event.get("detail") or {}
    observability.annotate(incident_id=detail.get("id"), service_id=detail.get("service_id"))
    outcome = wiring.incidents.stats_service().on_event(event)
    log.info("statistics", extra={"incident_id": (event.get("detail") or {}).get("id"), "outcome": outcome})
    return {"outcome": outcome}
