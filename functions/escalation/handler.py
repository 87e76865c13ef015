"""The incident-lifecycle state machine's Lambda tasks (``infra/statemachines/incident_lifecycle.asl.json``).

``{"action": "plan" | "escalate" | "page" | "hold" | "hold_timeout", "state": {...}, "token"?: "<task token>"}``.
``NobodyReachable`` and ``IncidentMoved`` propagate as the function error type, which the ASL catches by name.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from oncall import incident_wiring
from oncall.services.escalation import IncidentMoved, NobodyReachable

logger = Logger(service="oncall-escalation")

__all__ = ["IncidentMoved", "NobodyReachable", "handler"]


@logger.inject_lambda_context(correlation_id_path="state.incident_id")
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    action = event.get("action")
    state = dict(event.get("state") or {})
    service = incident_wiring.escalation_service()
    if action == "plan":
        return service.plan(state, advance=False)
    if action == "escalate":
        return service.plan(state, advance=True)
    if action == "page":
        return service.page(state, str(event["token"]))
    if action == "hold":
        return service.hold(state, str(event["token"]))
    if action == "hold_timeout":
        return service.hold_timeout(state)
    raise ValueError(f"unknown action {action!r}")
