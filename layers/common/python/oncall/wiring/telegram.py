"""The Telegram bot and the handlers its inline buttons reach."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from oncall.settings import get_settings
from oncall.wiring import core, incidents, notifications
from oncall.wiring.seam import once

if TYPE_CHECKING:
    from oncall.services.telegram_bot import CallbackHandler, TelegramBot


def telegram_webhook_secret() -> str:
    def build() -> str:
        from oncall.adapters.telegram import secret_value

        return secret_value(os.environ, "WEBHOOK_SECRET")

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
        from oncall.adapters.dynamodb.notifications import TelegramLinks, UpdateLedger
        from oncall.services.telegram_bot import ScheduleDuty, TelegramBot

        client = notifications.telegram_client()
        if client is None:
            raise RuntimeError("no Telegram bot token: set TELEGRAM_BOT_TOKEN or ONCALL_SECRET_TELEGRAM_BOT_TOKEN")
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
