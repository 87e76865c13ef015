"""SMS, pure: phone numbers in E.164, the one-part text of a page (GSM-7, at most 160 septets: brackets and the like
cost two), verification codes and the signed acknowledgement link's token. No I/O, no clock: callers pass ``now`` and
the keys.

The ack link is ``<public URL>/sms/ack/<token>``: ``token`` is a random nonce and an HMAC tag over it (truncated to
72 bits, compared in constant time), so a forged or altered link is refused before anything is read; what the nonce
stands for (person, incident, expiry, used or not) is stored under the nonce's SHA-256 and consumed by one
conditional write, which makes a link single-use even when two presses race.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Literal

from oncall.domain.errors import InvalidInput

#: one SMS part in GSM-7; anything longer is billed as several messages
SMS_MAX = 160
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
#: the GSM 03.38 basic character set (one septet each); anything else in a title becomes "?"
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: the GSM 03.38 extension table: each costs two septets (an escape, then the character)
_GSM7_EXT = frozenset("^{}\\[~]|€")
NONCE_BYTES = 12
TAG_BYTES = 9
CODE_DIGITS = 6
#: how long a code that expired unused is still said to have expired (so the person knows to ask for a new one);
#: after that it is as if none had been asked for. The stored code is kept that long too (docs/architecture.md "SMS")
EXPIRED_CODE_SHOWN = timedelta(days=1)

CodeState = Literal["pending", "expired"]
#: wrong codes a number's code survives; then only a new code verifies it
MAX_CODE_ATTEMPTS = 5


def code_state(expires_at: int | None, now: datetime, attempts: int = 0) -> CodeState | None:
    """Whether a number's code (expiring at ``expires_at``, epoch seconds) can still be entered (``pending``), can no
    longer be (``expired``: it expired unused, or ``MAX_CODE_ATTEMPTS`` wrong codes used it up) so a new one must be
    asked for, or there is none to speak of (``None``). The one rule behind ``GET /me/phone`` and the SMS channel's
    state, so the two never disagree."""
    if expires_at is None:
        return None
    at = int(now.timestamp())
    if expires_at > at:
        return "expired" if attempts >= MAX_CODE_ATTEMPTS else "pending"
    if expires_at + int(EXPIRED_CODE_SHOWN.total_seconds()) > at:
        return "expired"
    return None


def check_e164(raw: str) -> str:
    number = re.sub(r"[\s().-]", "", raw or "")
    if not _E164.match(number):
        raise InvalidInput("number", "an E.164 phone number: + then the country code and number, 8-15 digits")
    return number


def gsm7(text: str) -> str:
    """``text`` in the GSM-7 alphabet (basic and extension tables); anything else becomes "?"."""
    return "".join(c if c in _GSM7 or c in _GSM7_EXT else "?" for c in text.replace("\n", " "))


def septets(text: str) -> int:
    """What a GSM-7 text costs against the 160 of one part: extension characters count twice."""
    return len(text) + sum(1 for c in text if c in _GSM7_EXT)


def _cut(text: str, room: int) -> str:
    """``text`` cut to at most ``room`` septets, "..." marking the cut."""
    if septets(text) <= room:
        return text
    out = ""
    for c in text:
        if septets(out + c) > room - 3:
            break
        out += c
    return out.rstrip() + "..."


def page_text(short_id: str, title: str, link: str | None) -> str:
    """``OnCall #<short id> <title> Ack: <link>``, the title cut to fit one 160-septet GSM-7 part."""
    head = gsm7(f"OnCall #{short_id} ")
    tail = gsm7(f" Ack: {link}") if link else ""
    room = SMS_MAX - septets(head) - septets(tail)
    if room < 8:
        # a public URL too long for a title beside it: the link matters more than the words
        return _cut(head + tail.strip(), SMS_MAX)
    return head + _cut(gsm7(title).strip(), room) + tail


def short_text(text: str) -> str:
    """Any other message: its first line in GSM-7, cut to one part."""
    return _cut(gsm7(text.strip().split("\n", 1)[0]), SMS_MAX)


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(user_id: str, code: str) -> str:
    """A code is stored hashed with its person (a million codes are guessable offline; attempts are capped anyway)."""
    return hashlib.sha256(f"{user_id}:{code}".encode()).hexdigest()


def codes_match(stored_hash: str, user_id: str, code: str) -> bool:
    return hmac.compare_digest(stored_hash, code_hash(user_id, code.strip()))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _tag(key: bytes, nonce: bytes) -> bytes:
    return hmac.new(key, b"sms-ack:" + nonce, hashlib.sha256).digest()[:TAG_BYTES]


def new_link_token(key: bytes) -> tuple[str, str]:
    """A fresh token and the digest its record is stored under."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return _b64(nonce + _tag(key, nonce)), hashlib.sha256(nonce).hexdigest()


def link_digest(key: bytes, token: str) -> str | None:
    """The stored record's digest for a token we signed; None for anything forged, altered or malformed."""
    if not isinstance(token, str) or len(token) != 28 or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
        return None
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    nonce, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    if len(tag) != TAG_BYTES or not hmac.compare_digest(tag, _tag(key, nonce)):
        return None
    return hashlib.sha256(nonce).hexdigest()
