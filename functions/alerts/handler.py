"""EventBridge alerts: CloudWatch "Alarm State Change" (default bus) and ``oncall.alerts`` custom events (``oncall``
bus), one event per invocation.

An event we cannot use (malformed, unknown integration key, alarm mapped to no service) is logged and parked in the
``alerts`` table (``PARKED#<day>``, two weeks) and the invocation SUCCEEDS: retrying a malformed event can only fail
again, so it must not crash-loop through Lambda's retries. Only unexpected failures (DynamoDB unavailable) raise,
so Lambda retries them and then sends them to the on-failure dead-letter queue (see infra/constructs/events.py).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger(service="oncall-alerts")


def _alert(event: Any) -> Any:
    """The Alert an event means (None: deliberately ignored); InvalidAlert when it cannot be used."""
    from oncall.adapters.alert_sources import cloudwatch, custom
    from oncall.domain.alerts import InvalidAlert
    from oncall.wiring.alerts import alert_service

    service = alert_service()
    source = event.get("source") if isinstance(event, dict) else None
    if source == cloudwatch.SOURCE:
        arn, name, _ = cloudwatch.alarm(event)
        ref = cloudwatch.service_ref(arn, name, service.rules.cloudwatch_services or {})
        found = service.service_by_ref(ref) if ref else None
        if found is None:
            raise InvalidAlert(
                [f"alarm {name!r} maps to no service (ONCALL_ALERTS_CLOUDWATCH_SERVICES or '<service>/')"]
            )
        return cloudwatch.to_alert(event, found.id, service.rules.insufficient_data)
    if source == custom.SOURCE:
        key = custom.integration_key(event)
        owner = service.service_for_key(key)
        if owner is None:
            raise InvalidAlert(["detail.integration_key is not a valid integration key"])
        return custom.to_alert(event, owner.id)
    raise InvalidAlert([f"unexpected source {source!r}"])


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from oncall import wiring
    from oncall.domain.alerts import InvalidAlert
    from oncall.domain.errors import RateLimited
    from oncall.wiring.alerts import alert_service, alert_store

    event_id = str(event.get("id", "")) if isinstance(event, dict) else ""
    try:
        alert = _alert(event)
    except InvalidAlert as exc:
        logger.warning("alert event parked", extra={"event_id": event_id, "errors": exc.errors})
        alert_store().park(event_id, "; ".join(exc.errors), event, wiring.clock()())
        return {"status": "parked", "errors": exc.errors}
    if alert is None:
        logger.info("alert event ignored", extra={"event_id": event_id})
        return {"status": "ignored"}
    service = alert_service()
    try:
        service.admit(alert.service_id, 1)
    except RateLimited as exc:
        # storm protection: the source keeps alarming; a flood must not become writes, pages or parked rows
        logger.warning("alert dropped: over the service's rate", extra={"event_id": event_id, **exc.details})
        return {"status": "rate_limited"}
    outcome = service.one(alert)
    logger.info(
        "alert processed", extra={"event_id": event_id, "result": outcome.result, "incident_id": outcome.incident_id}
    )
    return {"status": outcome.result, "incident_id": outcome.incident_id, "dedup_key": outcome.dedup_key}
