"""Reading EventBridge envelopes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from oncall.observability import log as logger


def event_time(event: Mapping[str, Any], clock: Callable[[], datetime]) -> datetime:
    """The envelope's ``time`` (UTC) as ``now``, so a delayed or replayed delivery acts for the moment it describes
    (docs/architecture.md, "Invariants"); the clock only when the envelope carries no usable time."""
    raw = event.get("time")
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        logger.warning("unusable event time %r; using the clock", raw[:64])
    return clock()
