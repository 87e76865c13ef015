"""Composition for outgoing webhooks, email and the notifier (issue 9), in the style of ``oncall.wiring``: built
lazily once per cold start, replaceable in tests through ``wiring.override(...)`` (same registry)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from oncall import wiring
from oncall.settings import get_settings

if TYPE_CHECKING:
    from oncall.adapters.dynamodb.notification_rules import DynamoNotificationRules
    from oncall.adapters.email import EmailChannel
    from oncall.services.fanout import FanOut
    from oncall.services.webhooks import JobQueue, Sender, WebhookService

QUEUE_ENV = "ONCALL_QUEUE_NOTIFIER"


def clock() -> Callable[[], datetime]:
    return wiring.clock()


def _bind_tables() -> None:
    def build() -> bool:
        from oncall.adapters.dynamodb import webhooks as models

        settings = get_settings()
        models.bind(
            settings.table("webhooks"),
            settings.region,
            os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None,
        )
        return True

    wiring._once("webhook_tables", build)


def webhook_sender() -> Sender:
    def build() -> Sender:
        from oncall.adapters.webhooks import HttpSender, allowlist_from_env

        return HttpSender(allowlist_from_env())

    return wiring._once("webhook_sender", build)


def job_queue() -> JobQueue:
    def build() -> JobQueue:
        from oncall.adapters.webhooks import SqsJobQueue

        url = os.environ.get(QUEUE_ENV)
        if not url:
            raise RuntimeError(f"the notifier queue is not configured (set {QUEUE_ENV})")
        return SqsJobQueue(url)

    return wiring._once("webhook_jobs", build)


def webhook_service() -> WebhookService:
    def build() -> WebhookService:
        from oncall.adapters.dynamodb.webhooks import DynamoWebhookStore
        from oncall.adapters.webhooks import GuardUrl, allowlist_from_env
        from oncall.services.webhooks import WebhookService, WebhookSettings

        _bind_tables()
        return WebhookService(
            store=DynamoWebhookStore(),
            sender=webhook_sender(),
            jobs=job_queue(),
            guard=GuardUrl(allowlist_from_env()),
            settings=WebhookSettings.from_env(os.environ),
        )

    return wiring._once("webhook_service", build)


def email_channel() -> EmailChannel | None:
    """The email channel when mail is configured (a sender or an SMTP server), else None."""

    def build() -> EmailChannel | None:
        from oncall.adapters.email import EmailChannel, EmailSettings, transport_from

        if not (os.environ.get("ONCALL_EMAIL_SENDER") or os.environ.get("ONCALL_SMTP_HOST")):
            return None
        settings = EmailSettings.from_env(os.environ)
        return EmailChannel(transport_from(settings), settings)

    return wiring._once("email_channel", build)


def fanout() -> FanOut:
    def build() -> FanOut:
        from oncall.services.fanout import FanOut

        return FanOut(webhooks=webhook_service(), notifier=wiring.notification_service)

    return wiring._once("fanout", build)


def notification_rules() -> DynamoNotificationRules:
    def build() -> DynamoNotificationRules:
        from oncall.adapters.dynamodb.notification_rules import DynamoNotificationRules

        return DynamoNotificationRules(get_settings().table("notifications"))

    return wiring._once("notification_rules", build)
