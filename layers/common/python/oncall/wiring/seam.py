"""The composition seam every ``oncall.wiring`` module builds through: each part is built lazily, once per cold start,
and a test (or the local runner's worker) can replace a named part with ``override`` or drop everything with
``reset``. The parts every module may need live here too: the clock and the secrets reader. See
docs/architecture.md, "Composition" and "Configuration"."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from oncall.settings import get_settings

if TYPE_CHECKING:
    from oncall.adapters.secrets import SecretReader

_built: dict[str, Any] = {}
_overrides: dict[str, Any] = {}
_lock = threading.RLock()


def override(**parts: Any) -> None:
    """Replace named parts (``clock``, ``hasher``, ``lifecycle``, ...) and drop everything built from them."""
    with _lock:
        _overrides.update(parts)
        _built.clear()


def reset() -> None:
    """Forget overrides, built parts and parsed settings (tests; a changed environment)."""
    with _lock:
        _overrides.clear()
        _built.clear()
        get_settings.cache_clear()


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


def secret_reader() -> SecretReader:
    """Every secret a function reads goes through this one cached reader."""

    def build() -> SecretReader:
        from oncall.adapters.secrets import SecretReader

        return SecretReader(region=get_settings().region)

    return once("secret_reader", build)
