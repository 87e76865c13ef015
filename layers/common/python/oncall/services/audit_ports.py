"""How services record a change in the audit log (``oncall.domain.audit``): ``Recorder(actor, action, object id,
before, after)`` wraps the store call that makes the change, whose write then carries the record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, Protocol

from ulid import ULID

from oncall.domain.audit import AuditRecord, record


class AuditTrail(Protocol):
    def recording(self, record: AuditRecord, *, publish: bool = False) -> AbstractContextManager[None]: ...


class Recorder:
    def __init__(self, trail: AuditTrail | None, clock: Callable[[], datetime]) -> None:
        self.trail = trail
        self.clock = clock

    def __call__(
        self,
        actor_id: str | None,
        action: str,
        object_id: str,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        *,
        publish: bool = False,
    ) -> AbstractContextManager[None]:
        """With ``publish``, the record is also put on the bus as the event ``<action>`` (its changes, redacted)."""
        if self.trail is None:
            return nullcontext()
        now = self.clock()
        entry = record(str(ULID.from_datetime(now)).lower(), now, actor_id, action, object_id, before, after)
        return self.trail.recording(entry, publish=publish)


#: for services built without an audit log (tests over fakes, functions that change nothing people audit)
NO_AUDIT = Recorder(None, datetime.now)
