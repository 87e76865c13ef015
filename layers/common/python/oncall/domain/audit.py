"""The audit log's record of one change: who, when, what, and each changed field before and after, with secrets
never kept (docs/architecture.md, "Teams"). Pure: the caller gives the time and the id."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

REDACTED = "[redacted]"
#: fields whose values are secrets or stand in for them (hashes of keys and passwords): recorded as changed, never
#: with their values
SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "secret",
        "previous_secret",
        "key_hash",
        "previous_key_hash",
        "integration_key",
        "token",
        "task_token",
        "refresh_token",
        "access_token",
    }
)


@dataclass(frozen=True)
class AuditRecord:
    id: str
    at: datetime
    #: who made the change; None: the system (a migration, the operator's CLI)
    actor_id: str | None
    #: ``<kind>.<verb>``: ``service.updated``, ``team.member_added``, ...
    action: str
    kind: str
    object_id: str
    #: field → {"before": ..., "after": ...}, secrets redacted
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor_id": self.actor_id,
            "action": self.action,
            "kind": self.kind,
            "object_id": self.object_id,
            "changes": self.changes,
        }


def _safe(name: str, value: Any) -> Any:
    if value is None:
        return None
    return REDACTED if name in SECRET_FIELDS else value


def changes(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Each field that differs between two snapshots (a creation has no before, a deletion no after), secrets
    redacted."""
    old, new = dict(before or {}), dict(after or {})
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(old) | set(new)):
        if name in ("version", "updated_at"):
            continue  # bookkeeping every change bumps: noise in a record of what changed
        if old.get(name) != new.get(name):
            out[name] = {"before": _safe(name, old.get(name)), "after": _safe(name, new.get(name))}
    return out


def record(
    record_id: str,
    at: datetime,
    actor_id: str | None,
    action: str,
    object_id: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditRecord:
    kind = action.split(".", 1)[0]
    return AuditRecord(record_id, at, actor_id, action, kind, object_id, changes(before, after))
