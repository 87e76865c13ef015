"""One rule for every free-text name a person gives something: schedule, team, rotation, service, escalation policy,
display name. Pure.

A name is shown in lists, pages, Telegram messages, mails and calendar feeds, so it must read the same everywhere:

- no control characters (NUL and the rest of Unicode category Cc, line breaks and tabs included);
- no lone surrogates (category Cs: not text, and not storable as UTF-8);
- no line or paragraph separators (U+2028, U+2029: a name is one line);
- no bidirectional embedding, override or isolate characters (U+202A-U+202E, U+2066-U+2069), which make a name
  display as something other than what it is ("Trojan Source", CVE-2021-42574). The implicit marks (LRM, RLM,
  ALM) stay allowed: right-to-left names need them and they cannot reorder text.

A failure is ``InvalidInput`` naming the field (a 422 at the API).
"""

from __future__ import annotations

import unicodedata

from oncall.domain.errors import InvalidInput

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _refuse(raw: str, field: str) -> None:
    for char in raw:
        category = unicodedata.category(char)
        if category == "Cc":
            raise InvalidInput(field, f"must not contain control characters (found U+{ord(char):04X})")
        if category == "Cs":
            raise InvalidInput(field, "must not contain unpaired surrogates")
        if category in ("Zl", "Zp"):
            raise InvalidInput(field, f"must be one line (found U+{ord(char):04X})")
        if char in BIDI_CONTROLS:
            raise InvalidInput(field, f"must not contain bidirectional control characters (found U+{ord(char):04X})")


def check_name(raw: str, field: str = "name", *, max_length: int = 100, blank_ok: bool = False) -> str:
    """``raw`` trimmed, if it is an acceptable name of at most ``max_length`` characters (blank only when
    ``blank_ok``)."""
    name = raw.strip()
    _refuse(name, field)
    if not name and not blank_ok:
        raise InvalidInput(field, "must not be blank")
    if len(name) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    return name


def check_text(raw: str | None, field: str, *, max_length: int) -> str | None:
    """Free text (a description): trimmed, at most ``max_length`` characters; blank is None."""
    if raw is None:
        return None
    text = raw.strip()
    if len(text) > max_length:
        raise InvalidInput(field, f"must be at most {max_length} characters")
    return text or None
