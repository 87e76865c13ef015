"""The incident-lifecycle state machine's Lambda tasks (``infra/statemachines/incident_lifecycle.asl.json``), and the
page queue's consumer.

- ``{"action": "plan" | "escalate" | "page" | "hold" | "hold_timeout" | "fallback", "state": {...},
  "token"?: "<task token>"}``: ``NobodyReachable``, ``IncidentMoved`` and ``PolicyUnavailable`` propagate as the
  function error type, which the ASL catches by name. A failing ``fallback`` is logged as an error with the metric
  ``OnCallHub/LifecycleFallbackFailed`` before it propagates: the execution then fails and the lifecycle sweep
  restarts it (docs/architecture.md, "How a page flows").
- SQS ``Records`` from the page queue: flush jobs for pages that met a full rate window; partial batch failures.
"""

from __future__ import annotations

import json
from typing import Any

from oncall import observability, wiring
from oncall.observability import log
from oncall.services.escalation import IncidentMoved, NobodyReachable, PolicyUnavailable

__all__ = ["IncidentMoved", "NobodyReachable", "PolicyUnavailable", "handler"]


@observability.correlated("state.incident_id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        return _flush(event["Records"])
    action = event.get("action")
    state = dict(event.get("state") or {})
    observability.annotate(incident_id=state.get("incident_id"), service_id=state.get("service_id"), action=action)
    service = wiring.incidents.escalation_service()
    if action in ("plan", "escalate"):
        return service.plan(state, advance=action == "escalate")
    if action in ("page", "hold"):
        task = service.page_level if action == "page" else service.hold
        return task(state, str(event["token"]))
    if action == "hold_timeout":
        return service.hold_timeout(state)
    if action == "fallback":
        return service.fallback(state)
    raise ValueError(f"unknown action {action!r}")


def _flush(records: list[dict[str, Any]]) -> dict[str, Any]:
    notifications = wiring.notifications.notification_service()
    listener = wiring.incidents.page_listener()
    failures = []
    for record in records:
        try:
            job = json.loads(record["body"])
            outcome = notifications.flush(job, wiring.clock()(), listener)
            log.info("page queue: %s for %s: %s", job.get("key"), job.get("user_id"), outcome)
        except Exception:
            log.exception("page queue: message %s failed; reported for redelivery", record.get("messageId"))
            failures.append({"itemIdentifier": record.get("messageId", "")})
    return {"batchItemFailures": failures}
