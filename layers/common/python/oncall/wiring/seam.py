"""The composition seam every ``oncall.wiring`` module builds through: each part is built lazily, once per cold start,
and a test (or the local runner's worker) can replace a named part with ``override`` or drop everything with
``reset``. See docs/architecture.md, "Composition"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

_built: dict[str, Any] = {}
_overrides: dict[str, Any] = {}
_lock = threading.RLock()


def override(**parts: Any) -> None:
    """Replace named parts (``clock``, ``hasher``, ``lifecycle``, ...) and drop everything built from them."""
    with _lock:
        _overrides.update(parts)
        _built.clear()


def reset() -> None:
    """Forget overrides and built parts (tests; a changed environment)."""
    with _lock:
        _overrides.clear()
        _built.clear()


def once[T](name: str, build: Callable[[], T]) -> T:
    """The part ``name``: its override, or what ``build`` made the first time it was asked for."""
    with _lock:
        if name in _overrides:
            return cast(T, _overrides[name])
        if name not in _built:
            _built[name] = build()
        return cast(T, _built[name])


def utc_now() -> datetime:
    return datetime.now(UTC)


def clock() -> Callable[[], datetime]:
    """What every service takes as "now" (the domain never reads a clock itself)."""
    return once("clock", lambda: utc_now)
