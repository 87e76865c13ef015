"""What an import decided and did (``Action``, ``Outcome``), the services it writes through (``Hub``) and the
small rules it names people and zones by (docs/architecture.md, "Importing")."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

#: the time zones PagerDuty may name the Rails way, as IANA names
RAILS_ZONES = {
    "UTC": "UTC",
    "London": "Europe/London",
    "Berlin": "Europe/Berlin",
    "Paris": "Europe/Paris",
    "Amsterdam": "Europe/Amsterdam",
    "Eastern Time (US & Canada)": "America/New_York",
    "Central Time (US & Canada)": "America/Chicago",
    "Mountain Time (US & Canada)": "America/Denver",
    "Pacific Time (US & Canada)": "America/Los_Angeles",
    "Tokyo": "Asia/Tokyo",
    "Sydney": "Australia/Sydney",
}


class Ledger(Protocol):
    def load(self, source: str) -> dict[tuple[str, str], str]: ...

    def record(self, source: str, kind: str, source_id: str, our_id: str) -> None: ...


@dataclass(frozen=True)
class Hub:
    """The services the importer writes through (the wiring's, as the API uses them)."""

    users: Any  # oncall.services.users.UserService
    user_store: Any  # oncall.services.identity_ports.UserStore (reads a person's memberships)
    teams: Any  # oncall.services.teams.TeamService
    schedules: Any  # oncall.services.schedules.ScheduleService
    catalog: Any  # oncall.services.catalog.CatalogService

    @classmethod
    def from_wiring(cls) -> Hub:
        from oncall import wiring

        return cls(
            users=wiring.core.user_service(),
            user_store=wiring.core.user_store(),
            teams=wiring.incidents.team_service(),
            schedules=wiring.core.schedule_service(),
            catalog=wiring.incidents.catalog_service(),
        )


@dataclass
class Action:
    kind: str
    source_id: str
    name: str
    op: str  # create | match | update | skip | failed
    ours: str | None = None
    reason: str = ""
    changes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source_id": self.source_id,
            "name": self.name,
            "op": self.op,
            "ours": self.ours,
            "reason": self.reason,
            "changes": self.changes,
        }


@dataclass(frozen=True)
class NewKey:
    """A created service's integration key: shown once, in the table, never in the JSON or a log."""

    service: str
    service_id: str
    key: str
    source_integrations: tuple[tuple[str, str], ...]


@dataclass
class Outcome:
    source: str
    applied: bool
    actions: list[Action] = field(default_factory=list)
    keys: list[NewKey] = field(default_factory=list)
    #: source id → our id (``new:…`` for what a dry run would create), per kind
    ids: dict[str, dict[str, str]] = field(default_factory=dict)
    #: source schedule id → why it may differ from the source for a while (a rotation changed in this run)
    changed: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for a in self.actions:
            out[a.op] = out.get(a.op, 0) + 1
        return dict(sorted(out.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "applied": self.applied,
            "summary": self.summary(),
            "actions": [a.to_dict() for a in self.actions],
            "new_integration_keys": [
                {"service": k.service, "service_id": k.service_id, "key": "(printed once in the table)"}
                for k in self.keys
            ],
        }


def walk(page: Callable[[int, dict[str, Any] | None], tuple[list[Any], dict[str, Any] | None]]) -> Iterator[Any]:
    cursor: dict[str, Any] | None = None
    while True:
        items, cursor = page(100, cursor)
        yield from items
        if cursor is None:
            return


def username_for(email: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9._-]+", "-", email.split("@", 1)[0].lower()).strip("._-") or "user"
    base = (base + "-user")[:60] if len(base) < 3 else base[:60]
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def zone_name(raw: str) -> str | None:
    from oncall.domain.errors import InvalidInput
    from oncall.domain.schedules import zone

    name = RAILS_ZONES.get(raw, raw)
    try:
        zone(name)
    except InvalidInput:
        return None
    return name
