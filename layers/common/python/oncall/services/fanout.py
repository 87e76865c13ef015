"""The notifier's use case: one bus event (or one webhook attempt job) from the notifier queue.

Bus events fan out to webhook subscriptions (``WebhookService.fan_out``) and to the people an event concerns,
through the one notification service (never a second sender). Pages and escalations are *not* sent here: the
incident-lifecycle workflow pages level by level; this path sends what follows from a change of state:

- ``incident.resolved``: a resolution notice to whoever acknowledged it and to the assignee (not to the resolver);
- ``incident.reassigned``: a notice to the new assignee.

Every message key carries the incident id and event version, so a redelivered event is sent once (the notification
service deduplicates on the key) and a webhook delivery once per subscription (ids derived from the event id).
A delivery that could not be made now (``failed``, ``rate_limited``) raises ``RetryLater``: the queue brings the
message back, and everything already done for it is skipped by those same keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from oncall.domain import texts
from oncall.domain.notifications import Kind, Message
from oncall.services.notify_ports import PersonNotifier
from oncall.services.webhook_dispatch import AttemptOutcome, is_job
from oncall.services.webhooks import WebhookService


class RetryLater(Exception):
    """Part of the work for this message must be tried again (the queue redelivers it)."""


def person_messages(event: Mapping[str, Any]) -> list[tuple[str, Message]]:
    detail_type = str(event.get("detail-type") or "")
    detail = event.get("detail") or {}
    if not isinstance(detail, Mapping) or not detail.get("id"):
        return []
    incident_id = str(detail["id"])
    version = detail.get("version", 0)
    title = str(detail.get("title") or incident_id)
    out: list[tuple[str, Message]] = []
    if detail_type == "incident.resolved":
        resolver = detail.get("resolved_by")
        people = [p for p in (detail.get("acknowledged_by"), detail.get("assignee_id")) if p and p != resolver]
        text = texts.resolved_notice(title, incident_id, str(resolver) if resolver else None)
        for user_id in dict.fromkeys(people):
            out.append(
                (
                    str(user_id),
                    Message(Kind.RESOLUTION, f"inc:{incident_id}:resolved:v{version}", text, incident_id=incident_id),
                )
            )
    elif detail_type == "incident.reassigned" and detail.get("assignee_id"):
        text = texts.assigned_notice(title, incident_id, str(detail.get("severity", "?")))
        out.append(
            (
                str(detail["assignee_id"]),
                Message(Kind.INFO, f"inc:{incident_id}:assigned:v{version}", text, incident_id=incident_id),
            )
        )
    return out


@dataclass
class FanOut:
    webhooks: WebhookService
    #: built on first use: most events concern no person, and building it reads the bot token
    notifier: Callable[[], PersonNotifier] | None

    def handle(self, body: Mapping[str, Any], now: datetime) -> AttemptOutcome | list[str]:
        if is_job(body):
            return self.webhooks.attempt(body, now)
        ids = self.webhooks.fan_out(body, now)
        messages = person_messages(body)
        if self.notifier is not None and messages:
            notifier = self.notifier()
            pending = []
            for user_id, message in messages:
                result = notifier.notify(user_id, message, now)
                if result.status in ("failed", "rate_limited"):
                    pending.append(f"{user_id}:{result.status}")
            if pending:
                raise RetryLater(f"notifications not sent yet: {', '.join(pending)}")
        return ids
