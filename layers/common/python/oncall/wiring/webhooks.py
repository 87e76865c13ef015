"""The notifier: outgoing webhooks (store, sender, attempt jobs) and the fan-out of bus events to people."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from oncall.settings import get_settings
from oncall.wiring import notifications
from oncall.wiring.seam import once

if TYPE_CHECKING:
    from oncall.services.fanout import FanOut
    from oncall.services.webhooks import JobQueue, Sender, WebhookService

QUEUE_ENV = "ONCALL_QUEUE_NOTIFIER"


def webhook_sender() -> Sender:
    def build() -> Sender:
        from oncall.adapters.webhooks import HttpSender, allowlist_from_env

        return HttpSender(allowlist_from_env())

    return once("webhook_sender", build)


def job_queue() -> JobQueue:
    def build() -> JobQueue:
        from oncall.adapters.webhooks import SqsJobQueue

        url = os.environ.get(QUEUE_ENV)
        if not url:
            raise RuntimeError(f"the notifier queue is not configured (set {QUEUE_ENV})")
        return SqsJobQueue(url)

    return once("webhook_jobs", build)


def webhook_service() -> WebhookService:
    def build() -> WebhookService:
        from oncall.adapters.dynamodb.webhooks import DynamoWebhookStore
        from oncall.adapters.webhooks import GuardUrl, allowlist_from_env
        from oncall.services.webhooks import WebhookService, WebhookSettings

        settings = get_settings()
        return WebhookService(
            store=DynamoWebhookStore(settings.table("webhooks"), outbox_table=settings.table("outbox")),
            sender=webhook_sender(),
            jobs=job_queue(),
            guard=GuardUrl(allowlist_from_env()),
            settings=WebhookSettings.from_env(os.environ),
        )

    return once("webhook_service", build)


def fanout() -> FanOut:
    def build() -> FanOut:
        from oncall.services.fanout import FanOut

        return FanOut(webhooks=webhook_service(), notifier=notifications.notification_service)

    return once("fanout", build)
