"""``incident.triggered`` / ``incident.reopened`` on the bus → start the lifecycle execution ``<id>-<generation>``.

An EventBridge rule targeting Step Functions cannot name the execution, so this function does: a redelivered event
meets ExecutionAlreadyExists, which counts as started. An un-ack (also ``incident.triggered``) resumes the running
execution and starts nothing.

The ``lifecycle-sweep`` schedule invokes it every minute with a Scheduled Event: triggered incidents without a
running lifecycle for two minutes get one (``oncall.services.lifecycle_sweep``; docs/architecture.md, "How a page
flows"). The sweep lives here because this function is the one that starts lifecycles: same permission, same
concern, one more cold-start-cheap entry point instead of another function.
"""

from __future__ import annotations

from typing import Any

from oncall import observability, wiring
from oncall.adapters.eventbridge import event_time
from oncall.observability import log
from oncall.services.escalation import start_lifecycle
from oncall.services.lifecycle_sweep import sweep


@observability.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        now = event_time(event, wiring.clock())
        swept = sweep(wiring.incidents.incident_store(), wiring.incidents.lifecycle_runs(), now)
        return {"checked": swept.checked, "running": swept.running, "started": swept.started}
    detail = event.get("detail") or {}
    observability.annotate(incident_id=detail.get("id"), service_id=detail.get("service_id"))
    arn = start_lifecycle(wiring.incidents.lifecycle(), detail)
    log.info("lifecycle", extra={"incident_id": detail.get("id"), "execution": arn})
    return {"execution_arn": arn}
