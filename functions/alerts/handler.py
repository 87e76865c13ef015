"""EventBridge alerts: CloudWatch "Alarm State Change" (default bus) and ``oncall.alerts`` custom events (``oncall``
bus), one event per invocation, received by the one alert intake use case (``AlertService.receive``).

An event we cannot use (malformed, unknown integration key, alarm mapped to no service) is logged and parked in the
``alerts`` table (``PARKED#<day>``, two weeks) and the invocation SUCCEEDS: retrying a malformed event can only fail
again, so it must not crash-loop through Lambda's retries. Nothing is dropped for the service's rate: an alert over
it joins the service's storm incident, and resolves always apply. Only unexpected failures (DynamoDB unavailable, an
alert still contended after its retries) raise, so Lambda retries them and then sends them to the on-failure
dead-letter queue (see infra/constructs/events.py).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oncall import observability
from oncall.observability import log


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from oncall.wiring.alerts import alert_service

    envelope = event if isinstance(event, dict) else {}
    event_id = str(envelope.get("id", ""))
    receipt = alert_service().receive(envelope.get("source"), event, event_id=event_id)
    if receipt.status == "parked":
        log.warning("alert event parked", extra={"event_id": event_id, "errors": list(receipt.errors)})
        return {"status": "parked", "errors": list(receipt.errors)}
    if receipt.status == "ignored":
        log.info("alert event ignored", extra={"event_id": event_id})
        return {"status": "ignored"}
    [outcome] = receipt.outcomes
    log.info(
        "alert processed", extra={"event_id": event_id, "result": outcome.result, "incident_id": outcome.incident_id}
    )
    return {"status": outcome.result, "incident_id": outcome.incident_id, "dedup_key": outcome.dedup_key}
