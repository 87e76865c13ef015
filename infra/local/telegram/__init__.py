"""Telegram for the runner and the tests, with no bot token and no network.

``TELEGRAM_MODE=outbox`` (the default without a bot token): the runner serves the Bot API subset the bot uses
(``sandbox.TelegramSandbox``) at ``<runner>/_local/telegram/bot<token>/<method>`` and workers get ``TELEGRAM_API_URL``
pointing there, so the real Telegram adapter runs unchanged. What the bot sends is kept in order and logged
(``GET /_local/telegram/outbox``). A person acts as a Telegram user with ``POST /_local/telegram/send`` or
``make tg`` (``python -m infra.local.telegram``): the sandbox builds the Update Telegram would send (a message with
``bot_command`` entities, or a ``callback_query`` on one of the bot's messages) and the runner delivers it to the bot
function's webhook route with the secret-token header, executing a method returned in the webhook response as
Telegram does.

The same sandbox on a port of its own (``server.BotApiServer``) is the tests' Telegram: it records every call and can
be told to fail. With a real token, ``polling`` mode runs ``poller.TelegramPoller`` against the real API.
"""
