"""The Telegram bot and the handlers its inline buttons reach."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oncall.settings import TelegramSettings, get_settings, load
from oncall.wiring import core, incidents, notifications
from oncall.wiring.seam import once, secret_reader

if TYPE_CHECKING:
    from oncall.services.telegram_bot import CallbackHandler, TelegramBot


def telegram_webhook_secret() -> str:
    def build() -> str:
        return secret_reader().value(load(TelegramSettings).webhook_secret_ref)

    return once("telegram_webhook_secret", build)


def callback_handlers() -> dict[str, CallbackHandler]:
    """Inline-button handlers by callback-data domain (``<domain>:<action>:<id>``): a new kind of button registers
    its handler here."""

    def build() -> dict[str, CallbackHandler]:
        handlers: dict[str, CallbackHandler] = {"inc": incidents.incident_buttons()}
        return handlers

    return once("callback_handlers", build)


def telegram_bot() -> TelegramBot:
    def build() -> TelegramBot:
        from oncall.adapters.dynamodb.telegram_ledger import TelegramLinks, UpdateLedger
        from oncall.services.telegram_bot import ScheduleDuty, TelegramBot

        client = notifications.telegram_client()
        if client is None:
            raise load(TelegramSettings).bot_token_ref.missing()
        settings = get_settings()
        users = core.user_store()

        def name_of(user_id: str) -> str | None:
            user = users.get(user_id)
            return user.display_name if user is not None and user.active else None

        return TelegramBot(
            api=client,
            accounts=core.user_service(),
            ledger=UpdateLedger(settings.table("notifications")),
            links=TelegramLinks(settings.table("users")),
            flags=notifications.delivery_log(),
            duty=ScheduleDuty(core.schedule_service(), name_of),
            callbacks=callback_handlers,
        )

    return once("telegram_bot", build)
