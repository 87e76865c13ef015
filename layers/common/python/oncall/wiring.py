"""The one composition module: builds services from adapters, lazily, once per cold start.

Handlers ask for a service here (``wiring.auth_service()``) and never construct adapters themselves, so importing a
handler stays cheap and a test can swap a part (``wiring.override(clock=...)``) without touching handler code.
Other capabilities add their builders below in the same style.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from oncall.settings import get_settings

if TYPE_CHECKING:
    from oncall.adapters.dynamodb.notifications import DynamoDeliveryLog
    from oncall.adapters.telegram import TelegramClient
    from oncall.security.keys import KeySource
    from oncall.services.auth import AuthService
    from oncall.services.identity_ports import PasswordHasher, TokenCodec
    from oncall.services.notify import NotificationService
    from oncall.services.reminders import ReminderService
    from oncall.services.schedules import ScheduleService
    from oncall.services.telegram_bot import CallbackHandler, TelegramBot
    from oncall.services.users import UserService

#: the page queue's URL: queued pages wait there for their channel's rate window
PAGE_QUEUE_ENV = "ONCALL_QUEUE_PAGES"

_built: dict[str, Any] = {}
_overrides: dict[str, Any] = {}
_lock = threading.RLock()


def override(**parts: Any) -> None:
    """Replace named parts (``clock``, ``hasher``, ``key_source``, ...) and drop everything built from them."""
    with _lock:
        _overrides.update(parts)
        _built.clear()


def reset() -> None:
    """Forget overrides and built services (tests; a changed environment)."""
    with _lock:
        _overrides.clear()
        _built.clear()


def _once[T](name: str, build: Callable[[], T]) -> T:
    with _lock:
        if name in _overrides:
            return cast(T, _overrides[name])
        if name not in _built:
            _built[name] = build()
        return cast(T, _built[name])


def utc_now() -> datetime:
    return datetime.now(UTC)


def clock() -> Callable[[], datetime]:
    return _once("clock", lambda: utc_now)


def _bind_identity_tables() -> None:
    def build() -> bool:
        from oncall.adapters.dynamodb import identity_models

        settings = get_settings()
        identity_models.bind(
            settings.table("users"),
            # functions that only read people (the bot, reminders) are not granted the auth table
            settings.tables.get("auth", "auth-table-not-granted"),
            settings.region,
            os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None,
        )
        return True

    _once("identity_tables", build)


def hasher() -> PasswordHasher:
    def build() -> PasswordHasher:
        from oncall.security.passwords import Argon2Hasher

        auth = get_settings().auth
        return Argon2Hasher(auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)

    return _once("hasher", build)


def key_source() -> KeySource:
    def build() -> KeySource:
        from oncall.security.keys import KeySource

        return KeySource()

    return _once("key_source", build)


def token_codec() -> TokenCodec:
    def build() -> TokenCodec:
        from oncall.security.jwt import TokenCodec as Codec

        auth = get_settings().auth
        return Codec(key_source().get, issuer=auth.issuer, audience=auth.audience)

    return _once("token_codec", build)


def auth_service() -> AuthService:
    def build() -> AuthService:
        from oncall.adapters.dynamodb.identity import DynamoLoginCounters, DynamoSessionStore, DynamoUserStore
        from oncall.services.auth import AuthService

        _bind_identity_tables()
        return AuthService(
            users=DynamoUserStore(),
            sessions=DynamoSessionStore(),
            counters=DynamoLoginCounters(),
            hasher=hasher(),
            codec=token_codec(),
            settings=get_settings().auth,
            clock=clock(),
        )

    return _once("auth_service", build)


def user_service() -> UserService:
    def build() -> UserService:
        from oncall.adapters.dynamodb.identity import DynamoUserStore
        from oncall.adapters.telegram_directory import TelegramBotDirectory
        from oncall.services.users import UserService

        _bind_identity_tables()
        return UserService(
            users=DynamoUserStore(),
            hasher=hasher(),
            settings=get_settings().auth,
            clock=clock(),
            bot=TelegramBotDirectory(os.environ),
        )

    return _once("user_service", build)


def schedule_service() -> ScheduleService:
    def build() -> ScheduleService:
        from datetime import timedelta

        from oncall.adapters import outbox
        from oncall.adapters.dynamodb.identity import DynamoUserStore
        from oncall.adapters.dynamodb.schedules import DynamoScheduleStore, UserDirectory
        from oncall.services.schedules import ScheduleService

        _bind_identity_tables()
        settings = get_settings()
        return ScheduleService(
            store=DynamoScheduleStore(settings.table("schedules"), outbox=outbox.transact_put),
            people=UserDirectory(DynamoUserStore()),
            clock=clock(),
            max_shift=timedelta(hours=settings.max_shift_hours),
            horizon=timedelta(days=settings.rotation_horizon_days),
        )

    return _once("schedule_service", build)


# -- notifications and Telegram (issue 6) ---------------------------------------------------------------------------


def telegram_client() -> TelegramClient | None:
    """The Bot API client, or None when no bot token is configured (then nothing can be sent to Telegram)."""

    def build() -> TelegramClient | None:
        from oncall.adapters.telegram import DEFAULT_API_URL, TelegramClient, secret_value

        token = secret_value(os.environ, "BOT_TOKEN")
        if not token:
            return None
        return TelegramClient(token=token, api_url=os.environ.get("TELEGRAM_API_URL") or DEFAULT_API_URL)

    return _once("telegram_client", build)


def telegram_webhook_secret() -> str:
    def build() -> str:
        from oncall.adapters.telegram import secret_value

        return secret_value(os.environ, "WEBHOOK_SECRET")

    return _once("telegram_webhook_secret", build)


def delivery_log() -> DynamoDeliveryLog:
    def build() -> DynamoDeliveryLog:
        from oncall.adapters.dynamodb.notifications import DynamoDeliveryLog

        return DynamoDeliveryLog(get_settings().table("notifications"))

    return _once("delivery_log", build)


def notification_service() -> NotificationService:
    """Every outbound message goes through this one service; channels register here (email: issue 9)."""

    def build() -> NotificationService:
        from oncall.adapters.dynamodb.identity import DynamoUserStore
        from oncall.adapters.dynamodb.notifications import DynamoRateLimiter, DynamoRecipientDirectory
        from oncall.adapters.queues import SqsQueue
        from oncall.adapters.telegram import TelegramChannel
        from oncall.services.notify import NotificationService, NotifySettings

        _bind_identity_tables()
        settings = get_settings()
        # only the function that flushes queued pages is given the page queue; elsewhere nothing is queued
        pages_url = os.environ.get(PAGE_QUEUE_ENV)
        service = NotificationService(
            deliveries=delivery_log(),
            people=DynamoRecipientDirectory(DynamoUserStore(), delivery_log()),
            limiter=DynamoRateLimiter(settings.table("notifications")),
            settings=NotifySettings(page_cap_per_incident=settings.page_cap_per_incident),
            queue=SqsQueue(pages_url) if pages_url else None,
        )
        client = telegram_client()
        if client is not None:
            service.register(TelegramChannel(client))
        from oncall.webhook_wiring import email_channel

        # email (issue 9): a channel of its own and the fallback when Telegram cannot reach the person (403)
        mail = email_channel()
        if mail is not None:
            service.register(mail)
        return service

    return _once("notification_service", build)


def callback_handlers() -> dict[str, CallbackHandler]:
    """Inline-button handlers by callback-data domain (``<domain>:<action>:<id>``). Incidents (issue 7) add theirs
    here, e.g. ``handlers["inc"] = incident_callbacks``."""

    def build() -> dict[str, CallbackHandler]:
        from oncall.incident_wiring import incident_callback

        handlers: dict[str, CallbackHandler] = {"inc": incident_callback}
        return handlers

    return _once("callback_handlers", build)


def telegram_bot() -> TelegramBot:
    def build() -> TelegramBot:
        from oncall.adapters.dynamodb.identity import DynamoUserStore
        from oncall.adapters.dynamodb.notifications import TelegramLinks, UpdateLedger
        from oncall.services.telegram_bot import ScheduleDuty, TelegramBot

        client = telegram_client()
        if client is None:
            raise RuntimeError("no Telegram bot token: set TELEGRAM_BOT_TOKEN or ONCALL_SECRET_TELEGRAM_BOT_TOKEN")
        _bind_identity_tables()
        settings = get_settings()
        users = DynamoUserStore()

        def name_of(user_id: str) -> str | None:
            user = users.get(user_id)
            return user.display_name if user is not None and user.active else None

        return TelegramBot(
            api=client,
            accounts=user_service(),
            ledger=UpdateLedger(settings.table("notifications")),
            links=TelegramLinks(settings.table("users")),
            flags=delivery_log(),
            duty=ScheduleDuty(schedule_service(), name_of),
            callbacks=callback_handlers,
        )

    return _once("telegram_bot", build)


def reminder_service() -> ReminderService:
    def build() -> ReminderService:
        from oncall.adapters import outbox
        from oncall.adapters.dynamodb.identity import DynamoUserStore
        from oncall.adapters.dynamodb.reminders import DynamoReminderStore, ScheduleFacts
        from oncall.services.reminders import ReminderService

        _bind_identity_tables()
        return ReminderService(
            store=DynamoReminderStore(get_settings().table("reminders"), outbox=outbox.transact_put),
            people=DynamoUserStore(),
            facts=ScheduleFacts(schedule_service(), DynamoUserStore()),
            notifier=notification_service(),
        )

    return _once("reminder_service", build)


def reminder_planner() -> ReminderService:
    """The same service for ``shift.*`` events: only the reminders table and people."""

    def build() -> ReminderService:
        from oncall.adapters.dynamodb.identity import DynamoUserStore
        from oncall.adapters.dynamodb.reminders import DynamoReminderStore
        from oncall.services.reminders import ReminderService

        _bind_identity_tables()
        return ReminderService(store=DynamoReminderStore(get_settings().table("reminders")), people=DynamoUserStore())

    return _once("reminder_planner", build)
