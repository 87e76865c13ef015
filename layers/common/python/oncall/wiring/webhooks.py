"""The notifier: outgoing webhooks (store, sender, attempt jobs) and the fan-out of bus events to people."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncall.settings import WebhookDeliverySettings, get_settings, load
from oncall.wiring import core, notifications
from oncall.wiring.seam import once

if TYPE_CHECKING:
    from oncall.services.fanout import FanOut
    from oncall.services.webhooks import JobQueue, Sender, WebhookService


def webhook_sender() -> Sender:
    def build() -> Sender:
        from oncall.adapters.ssrf import Allowlist
        from oncall.adapters.webhooks import HttpSender

        return HttpSender(Allowlist.parse(load(WebhookDeliverySettings).allowlist))

    return once("webhook_sender", build)


def job_queue() -> JobQueue:
    def build() -> JobQueue:
        from oncall.adapters.webhooks import SqsJobQueue

        return SqsJobQueue(load(WebhookDeliverySettings).queue_url)

    return once("webhook_jobs", build)


def webhook_service() -> WebhookService:
    def build() -> WebhookService:
        from datetime import timedelta

        from oncall.adapters.dynamodb.webhooks import DynamoWebhookStore
        from oncall.adapters.ssrf import Allowlist
        from oncall.adapters.webhooks import GuardUrl
        from oncall.services.webhooks import WebhookService, WebhookSettings

        settings = get_settings()
        knobs = load(WebhookDeliverySettings)
        return WebhookService(
            store=DynamoWebhookStore(settings.table("webhooks"), outbox_table=settings.table("outbox")),
            sender=webhook_sender(),
            jobs=job_queue(),
            guard=GuardUrl(Allowlist.parse(knobs.allowlist)),
            settings=WebhookSettings(
                retry_schedule=knobs.retry_schedule,
                timeout_s=knobs.timeout_seconds,
                disable_after_dead=knobs.disable_after,
                rotation_overlap=timedelta(seconds=knobs.rotation_overlap_seconds),
                lease=timedelta(seconds=knobs.lease_seconds),
                sweep_grace=timedelta(seconds=knobs.sweep_grace_seconds),
                sweep_batch=knobs.sweep_batch,
            ),
            audit=core.audit(),
        )

    return once("webhook_service", build)


def fanout() -> FanOut:
    def build() -> FanOut:
        from oncall.services.fanout import FanOut

        return FanOut(webhooks=webhook_service(), notifier=notifications.notification_service)

    return once("fanout", build)
