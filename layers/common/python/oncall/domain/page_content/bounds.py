"""Bounding what people and monitoring sources wrote before a page shows it: one line of at most so many
characters, at most so many key/value details, and a link only when it is an absolute http(s) URL."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

#: key/value details a page shows at most, and how long each key and value may be
DETAILS_MAX = 8
KEY_MAX = 40
VALUE_MAX = 100
#: longer URLs are dropped, not cut: a cut URL leads nowhere
URL_MAX = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(raw: object, limit: int) -> str:
    """``raw`` as one line of at most ``limit`` characters (whitespace runs and control characters become a space;
    a cut ends with …)."""
    text = " ".join(_CONTROL.sub(" ", str(raw)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe_url(raw: object) -> str | None:
    """``raw`` if it is an absolute http(s) URL of at most ``URL_MAX`` characters, else None (``javascript:``,
    relative paths, whitespace inside, garbage)."""
    if not isinstance(raw, str):
        return None
    url = raw.strip()
    if not url or len(url) > URL_MAX or _CONTROL.search(url) or any(c.isspace() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def _value(raw: object) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (dict, list, tuple)):
        raw = json.dumps(raw, separators=(",", ":"), sort_keys=True, default=str, ensure_ascii=False)
    text = one_line(raw, VALUE_MAX)
    return text or None


def bound_details(pairs: Iterable[object]) -> tuple[tuple[str, str], ...]:
    """At most ``DETAILS_MAX`` pairs, first ones first, each key ≤ ``KEY_MAX`` and value ≤ ``VALUE_MAX`` characters,
    one line each; empty ones and repeated keys are skipped."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for pair in pairs:
        if len(out) >= DETAILS_MAX:
            break
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            continue
        key = one_line(pair[0], KEY_MAX) if pair[0] is not None else ""
        value = _value(pair[1])
        if not key or value is None or key in seen:
            continue
        seen.add(key)
        out.append((key, value))
    return tuple(out)
