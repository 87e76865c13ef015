"""Channels (Telegram, Slack, email, SMS), the delivery log and the one notification service every message goes
through."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncall.settings import NotificationSettings, SlackSettings, SmsSettings, TelegramSettings, get_settings, load
from oncall.wiring import core
from oncall.wiring.seam import clock, once, secret_reader

if TYPE_CHECKING:
    from oncall.adapters.dynamodb.notification_rules import DynamoNotificationRules
    from oncall.adapters.dynamodb.notifications import DynamoDeliveryLog
    from oncall.adapters.email import EmailChannel
    from oncall.adapters.slack import SlackClient
    from oncall.adapters.telegram import TelegramClient
    from oncall.services.channel_states import ChannelStates
    from oncall.services.notify import NotificationService


def telegram_client() -> TelegramClient | None:
    """The Bot API client, or None when no bot token is configured (then nothing can be sent to Telegram)."""

    def build() -> TelegramClient | None:
        from oncall.adapters.telegram import TelegramClient

        telegram = load(TelegramSettings)
        if not telegram.bot_token_ref.configured:
            return None
        return TelegramClient(token=secret_reader().value(telegram.bot_token_ref), api_url=telegram.api_url)

    return once("telegram_client", build)


def slack_client() -> SlackClient | None:
    """The Slack Web API client, or None when no bot token is configured (then nothing can be sent to Slack)."""

    def build() -> SlackClient | None:
        from oncall.adapters.slack import SlackClient

        slack = load(SlackSettings)
        if not slack.bot_token_ref.configured:
            return None
        return SlackClient(token=secret_reader().value(slack.bot_token_ref), api_url=slack.api_url)

    return once("slack_client", build)


def sms_link_key() -> bytes:
    """The key SMS ack links are signed with (``oncall.domain.sms``); empty when none is configured."""

    def build() -> bytes:
        ref = load(SmsSettings).link_key_ref
        return secret_reader().value(ref).encode() if ref.configured else b""

    return once("sms_link_key", build)


def delivery_log() -> DynamoDeliveryLog:
    def build() -> DynamoDeliveryLog:
        from oncall.adapters.dynamodb.notifications import DynamoDeliveryLog

        return DynamoDeliveryLog(get_settings().table("notifications"))

    return once("delivery_log", build)


def notification_service() -> NotificationService:
    """Every outbound message goes through this one service; channels register here."""

    def build() -> NotificationService:
        from oncall.adapters.dynamodb.notifications import DynamoRateLimiter, DynamoRecipientDirectory
        from oncall.adapters.queues import SqsQueue
        from oncall.adapters.telegram import TelegramChannel
        from oncall.services.notify import NotificationService, NotifySettings

        settings = get_settings()
        # only the function that flushes queued pages is given the page queue; elsewhere nothing is queued
        pages_url = load(NotificationSettings).pages_queue_url
        service = NotificationService(
            deliveries=delivery_log(),
            people=DynamoRecipientDirectory(core.user_store(), delivery_log()),
            limiter=DynamoRateLimiter(settings.table("notifications")),
            settings=NotifySettings(page_cap_per_incident=settings.page_cap_per_incident),
            queue=SqsQueue(pages_url) if pages_url else None,
        )
        client = telegram_client()
        if client is not None:
            service.register(TelegramChannel(client))
        if load(SlackSettings).bot_token_ref.configured:
            from oncall.adapters.slack import SlackChannel

            def slack() -> SlackClient:
                client = slack_client()
                if client is None:
                    raise load(SlackSettings).bot_token_ref.missing()
                return client

            service.register(SlackChannel(slack))
        sms = load(SmsSettings)
        if sms.enabled:
            from datetime import timedelta

            from oncall.adapters.dynamodb.sms import DynamoSmsStore
            from oncall.adapters.sms import SmsChannel, SnsTexter

            key = sms_link_key()
            service.register(
                SmsChannel(
                    SnsTexter(),
                    DynamoSmsStore(settings.table("notifications")),
                    key,
                    # without a key no link can be signed: pages go without one
                    settings.public_url if key else None,
                    clock(),
                    per_person_per_hour=sms.per_person_per_hour,
                    global_per_hour=sms.global_per_hour,
                    link_ttl=timedelta(minutes=sms.link_minutes),
                )
            )
        # email: a channel of its own, and where a page goes when Telegram cannot take it
        mail = email_channel()
        if mail is not None:
            service.register(mail)
        return service

    return once("notification_service", build)


def email_channel() -> EmailChannel | None:
    """The email channel when mail is configured (a sender or an SMTP server), else None."""

    def build() -> EmailChannel | None:
        from oncall.adapters.email import EmailChannel, EmailSettings, transport_from

        mail = load(NotificationSettings)
        if not mail.mail_enabled:
            return None
        settings = EmailSettings(
            # with only an SMTP server configured, the adapter's placeholder sender
            **({"sender": mail.email_sender} if mail.email_sender else {}),
            unsubscribe_url=mail.email_unsubscribe_url,
            rate_per_second=mail.email_rate,
            smtp_host=mail.smtp_host,
            smtp_port=mail.smtp_port,
        )
        return EmailChannel(transport_from(settings), settings)

    return once("email_channel", build)


def notification_rules() -> DynamoNotificationRules:
    def build() -> DynamoNotificationRules:
        from oncall.adapters.dynamodb.notification_rules import DynamoNotificationRules

        return DynamoNotificationRules(get_settings().table("notifications"))

    return once("notification_rules", build)


def channel_states() -> ChannelStates:
    """Which of a person's channels reach them now (``GET /me/notification-rules``)."""

    def build() -> ChannelStates:
        from oncall.services.channel_states import ChannelStates

        return ChannelStates(notification_rules(), clock(), sms_enabled=load(SmsSettings).enabled)

    return once("channel_states", build)
