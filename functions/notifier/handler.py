"""Notifier queue → webhooks and personal notifications (``oncall.services.fanout``).

An SQS event source with ``ReportBatchItemFailures``: each message is handled on its own and only the ones that
raised are reported back, so one bad receiver or one broken message never blocks or loses the others (SQS makes the
failed ones visible again after the visibility timeout; after ``max_receive_count`` receives they go to the DLQ).
Messages are bus events (from the ``notifier-fanout`` rule) or webhook attempt jobs the service queued itself.

The ``webhook-sweep`` schedule invokes the same function with a Scheduled Event (no ``Records``): it re-queues
attempt jobs for pending deliveries whose job was lost (``WebhookService.sweep``).
"""

from __future__ import annotations

import json
from typing import Any

from oncall import observability, wiring
from oncall.adapters.eventbridge import event_time
from oncall.observability import log
from oncall.services.webhooks import AttemptInFlight


@observability.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        result = wiring.webhooks.webhook_service().sweep(event_time(event, wiring.clock()))
        return {"found": result.found, "requeued": result.requeued, "skipped": result.skipped}
    fanout = wiring.webhooks.fanout()
    clock = wiring.clock()
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        message_id = record.get("messageId", "")
        try:
            body = json.loads(record["body"])
            if not isinstance(body, dict):
                raise ValueError("message body is not a JSON object")
            # each message its own now: a webhook-timestamp must be the time of its request, not of the batch
            fanout.handle(body, clock())
        except AttemptInFlight as exc:
            log.warning("notifier: message %s: %s; retried after the lease", message_id, exc)
            failures.append({"itemIdentifier": message_id})
        except Exception:
            log.exception("notifier: message %s failed; reported for redelivery", message_id)
            failures.append({"itemIdentifier": message_id})
    return {"batchItemFailures": failures}
