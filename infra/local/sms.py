"""The SMS outbox: what the functions published to phone numbers through the emulator's SNS, for
``GET /_local/sms`` and the tests (numbers ending in 99 count as opted out there, as moto decides)."""

from __future__ import annotations

from typing import Any


class SmsOutbox:
    def messages(self) -> list[dict[str, Any]]:
        from moto.sns.models import sns_backends

        out = []
        # whichever account and region the functions' credentials map to (read in-process: the emulator runs here)
        for account_id in list(sns_backends.keys()):
            for region, backend in list(sns_backends[account_id].items()):
                for message_id, (number, text) in list(backend.sms_messages.items()):
                    out.append({"id": message_id, "to": number, "text": text, "account": account_id, "region": region})
        return out
