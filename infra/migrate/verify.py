"""After an import: who is on call on every imported schedule at every hour of the next days, by the source's own
on-call API and by our who-is-on-call service, side by side (docs/architecture.md, "Importing").

A schedule whose source had something our model cannot express (a restriction, a shadowed part of a layer) is
expected to differ and is marked so; every other schedule must match at every hour."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.migrate.model import Account, OnCallSpan


@dataclass(frozen=True)
class Mismatch:
    schedule: str
    at: datetime
    source_user: str | None
    our_user: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "at": self.at.isoformat(),
            "source_user": self.source_user,
            "our_user": self.our_user,
        }


@dataclass
class ScheduleCheck:
    schedule: str
    name: str
    hours: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    #: what the source has that we could not express: differences here are expected, one line each
    unexpressed: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        return not self.unexpressed

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "name": self.name,
            "hours": self.hours,
            "mismatches": len(self.mismatches),
            "expected_to_differ": not self.exact,
            "unexpressed": list(self.unexpressed),
            "first_mismatches": [m.to_dict() for m in self.mismatches[:10]],
        }


def verify(
    account: Account,
    spans: Sequence[OnCallSpan],
    ids: dict[str, dict[str, str]],
    on_call: Callable[[str, datetime], str | None],
    now: datetime,
    days: int = 14,
    changed: dict[str, list[str]] | None = None,
) -> list[ScheduleCheck]:
    """Compare hour by hour from the next full hour; ``on_call(our schedule id, at)`` is our answer (a user id)."""
    start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    ours_to_source = {ours: src for src, ours in ids["user"].items()}
    by_schedule: dict[str, list[OnCallSpan]] = {}
    for span in spans:
        by_schedule.setdefault(span.schedule, []).append(span)
    checks = []
    for schedule in account.schedules:
        ours = ids["schedule"].get(schedule.id)
        notes = schedule.unexpressed + tuple((changed or {}).get(schedule.id, ()))
        check = ScheduleCheck(schedule.id, schedule.name, unexpressed=notes)
        checks.append(check)
        if ours is None or ours.startswith("new:"):
            check.unexpressed += ("not imported yet: nothing to compare",)
            continue
        mine = by_schedule.get(schedule.id, [])
        for h in range(days * 24):
            at = start + timedelta(hours=h)
            theirs = sorted({s.user for s in mine if s.start <= at < s.end})
            source_user = theirs[0] if theirs else None
            held = on_call(ours, at)
            our_user = ours_to_source.get(held, held) if held else None
            check.hours += 1
            if source_user != our_user or len(theirs) > 1:
                check.mismatches.append(Mismatch(schedule.id, at, ",".join(theirs) or None, our_user))
    return checks
