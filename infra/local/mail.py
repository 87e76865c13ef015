"""The mail outbox: what the functions sent through the emulator's SES (raw MIME), parsed into headers and text/HTML
parts for ``GET /_local/mail`` and the tests."""

from __future__ import annotations

import email
import email.policy
from typing import Any


class MailOutbox:
    """Mail the functions sent through the emulator's SES (both the v1 and v2 APIs land in one list)."""

    def messages(self) -> list[dict[str, Any]]:
        from moto.ses.models import ses_backends

        out = []
        # Whichever account and region the functions' credentials map to (read in-process: the emulator runs here).
        for account_id in list(ses_backends.keys()):
            for region, backend in list(ses_backends[account_id].items()):
                for sent in list(backend.sent_messages):
                    out.append({**_describe(sent), "account": account_id, "region": region})
        return out


def _describe(sent: Any) -> dict[str, Any]:
    raw = getattr(sent, "raw_data", None)
    if raw is not None:
        # moto keeps the raw mail as text decoded from UTF-8; parsed as text, an 8bit UTF-8 part (any non-ASCII page)
        # would come back as escape sequences, so it is parsed as the bytes it was sent as
        parsed = email.message_from_bytes(raw.encode(), policy=email.policy.default)
        text = html = None
        for part in parsed.walk():
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            if ctype == "text/plain" and text is None:
                text = part.get_content()
            elif ctype == "text/html" and html is None:
                html = part.get_content()
        return {
            "id": sent.id,
            "from": sent.source or parsed.get("From"),
            # moto's SESv2 lists a recipient once per place it appears (header and Destination)
            "to": list(dict.fromkeys(sent.destinations or [])) or [str(a) for a in parsed.get_all("To", [])],
            "subject": parsed.get("Subject"),
            "headers": {k: str(v) for k, v in parsed.items()},
            "text": text,
            "html": html,
        }
    destinations = getattr(sent, "destinations", {}) or {}
    to = destinations.get("ToAddresses", []) if isinstance(destinations, dict) else list(destinations)
    return {
        "id": getattr(sent, "id", None),
        "from": getattr(sent, "source", None),
        "to": to,
        "subject": getattr(sent, "subject", None),
        "headers": {},
        "text": getattr(sent, "body", None),
        "html": None,
    }
