"""The Telegram bot's own bookkeeping: updates seen once and updates it could not handle (table ``notifications``),
and a chat unlinked from its person (identity's ``users`` table).

======================  ==============  ============================================================================
pk                      sk              item
======================  ==============  ============================================================================
``UPDATE#<update id>``  ``SEEN``        a Telegram update handled once (conditional put). 2 days.
``PARKED#<update id>``  ``<iso time>``  an update the bot could not handle, kept for inspection. 30 days.
======================  ==============  ============================================================================
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from oncall.adapters.dynamodb import kit
from oncall.adapters.dynamodb.kit import n, s

UPDATE_TTL = timedelta(days=2)
PARKED_TTL = timedelta(days=30)


class UpdateLedger:
    """The bot's memory of Telegram updates: seen once (dedup) and parked (could not be handled)."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else kit.client()

    def first_time(self, update_id: int, now: datetime) -> bool:
        seen = kit.try_write(
            self.client.put_item,
            TableName=self.table,
            Item={
                **kit.key(f"UPDATE#{update_id}", "SEEN"),
                "at": s(now.isoformat()),
                "expires_at": n(int((now + UPDATE_TTL).timestamp())),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
        return seen is not None

    def park(self, update_id: int | str, raw: str, reason: str, now: datetime) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": s(f"PARKED#{update_id}"),
                "sk": s(now.isoformat()),
                "raw": s(raw[:100_000] or "(empty)"),
                "reason": s(reason[:1000] or "unknown"),
                "expires_at": n(int((now + PARKED_TTL).timestamp())),
            },
        )

    def parked(self, update_id: int | str) -> list[dict[str, Any]]:
        page = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s(f"PARKED#{update_id}")},
        )
        return [kit.plain(i) for i in page.get("Items", [])]


class TelegramLinks:
    """Unlinking a chat (``/stop``): identity's user item loses its ``telegram_chat_id``, only if it still holds
    this chat (a person who re-linked elsewhere meanwhile is left alone)."""

    def __init__(self, users_table: str, client: Any = None) -> None:
        self.table = users_table
        self.client = client if client is not None else kit.client()

    def unlink(self, user_id: str, chat_id: str, now: datetime) -> bool:
        unlinked = kit.try_write(
            self.client.update_item,
            TableName=self.table,
            Key=kit.key(f"USER#{user_id}", "PROFILE"),
            UpdateExpression="REMOVE telegram_chat_id SET updated_at = :now",
            ConditionExpression="telegram_chat_id = :chat",
            ExpressionAttributeValues={":chat": s(chat_id), ":now": s(now.isoformat())},
        )
        return unlinked is not None
