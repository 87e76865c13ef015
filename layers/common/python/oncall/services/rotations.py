"""Rotations: store a rule, keep its shifts materialised up to the horizon (the hourly job), change it from the end of
its running slot on, or stop it. Slots are written through the guarded write (``oncall.services.schedule_writes``)
in chunks, so a materialisation cut short is finished by the next run."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from oncall.domain import rotations as rot
from oncall.domain.errors import NotFound
from oncall.domain.rotations import Materialised
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Interval, Shift, ShiftOverlap, conflicts
from oncall.services.audit_ports import NO_AUDIT, Recorder
from oncall.services.schedule_ports import Actor, Change, PersonNames, ScheduleStore
from oncall.services.schedule_writes import (
    GuardedWriter,
    NeedUsers,
    chunks,
    known_person,
    managed_schedule,
    new_id,
    visible_schedule,
)


class RotationService:
    def __init__(
        self,
        store: ScheduleStore,
        people: PersonNames,
        writer: GuardedWriter,
        *,
        clock: Callable[[], datetime],
        max_shift: timedelta,
        horizon: timedelta,
        audit: Recorder = NO_AUDIT,
    ) -> None:
        self.audit = audit
        self.store = store
        self.people = people
        self.writer = writer
        self.clock = clock
        self.max_shift = max_shift
        self.horizon = horizon

    def create_rotation(
        self,
        actor: Actor,
        *,
        schedule_id: str,
        participants: Sequence[str],
        start: datetime,
        period: str,
        hours: int | None = None,
        end: datetime | None = None,
        timezone: str | None = None,
        name: str = "",
    ) -> tuple[rot.Rotation, Materialised]:
        """Store the rule and materialise its horizon, or, if any slot in the horizon overlaps a stored shift of the
        schedule or of a participant, write nothing and report every such shift."""
        schedule = managed_schedule(self.store, actor, schedule_id)
        for i, person in enumerate(participants):
            known_person(self.people, person, f"participants[{i}]")
        rotation = rot.validate(
            rot.Rotation(
                id=new_id(),
                schedule_id=schedule_id,
                participants=tuple(participants),
                start=start,
                timezone=timezone or schedule.timezone,
                period=period,  # type: ignore[arg-type]  # validate() rejects anything else by field
                hours=hours,
                end=end,
                name=name,
            ),
            max_length=self.max_shift,
        )
        now = self.clock()
        window = rot.horizon(now, self.horizon)
        found = self._conflicts(rotation, window)
        if found:
            raise ShiftOverlap(found)
        with self.audit(actor.id, "rotation.created", rotation.id, None, rotation.to_dict()):
            self.store.put_rotation(rotation)
        return rotation, self.materialise(rotation, now)

    def _conflicts(self, rotation: rot.Rotation, window: Interval, ignore: Iterable[str] = ()) -> list[Shift]:
        wanted = rot.materialise(rotation, window)
        if not wanted:
            return []
        span = Interval(wanted[0].start, wanted[-1].end)
        found: list[Shift] = []
        mine = {s.id for s in wanted} | set(ignore)
        existing = [s for s in self.store.schedule_window(rotation.schedule_id, span) if s.id not in mine]
        for person in sorted(set(rotation.participants)):
            existing += [s for s in self.store.user_window(person, span) if s.id not in mine]
        for slot_shift in wanted:
            found += conflicts(slot_shift.interval, existing)
        return found

    def list_rotations(self, schedule_id: str, actor: Actor | None = None) -> list[rot.Rotation]:
        visible_schedule(self.store, actor, schedule_id)
        return self.store.list_rotations(schedule_id)

    def update_rotation(
        self, actor: Actor, *, schedule_id: str, rotation_id: str, changes: dict[str, Any]
    ) -> tuple[rot.Rotation, Materialised]:
        """Change a rule from the end of its running slot on: the old rule's shifts after that point are replaced by
        the new rule's (a new revision, so new slot ids). The whole horizon is checked first, ignoring the shifts
        being replaced; any conflict is a ``ShiftOverlap`` listing every one, and nothing is written."""
        managed_schedule(self.store, actor, schedule_id)
        old = self.store.get_rotation(schedule_id, rotation_id)
        if old is None:
            raise NotFound("rotation", rotation_id)
        for i, person in enumerate(changes.get("participants") or ()):
            known_person(self.people, person, f"participants[{i}]")
        now = self.clock()
        new = rot.revise(old, changes, now, max_length=self.max_shift)
        window = rot.horizon(now, self.horizon)
        assert new.effective_from is not None  # revise() always says where the new rule takes over
        replaced = self._future(schedule_id, rotation_id, new.effective_from, now)
        found = self._conflicts(new, window, ignore=[s.id for s in replaced])
        if found:
            raise ShiftOverlap(found)
        with self.audit(actor.id, "rotation.updated", rotation_id, old.to_dict(), new.to_dict()):
            self.store.put_rotation(new)
        self.writer.remove(schedule_id, replaced)
        return new, self.materialise(new, now)

    def _future(self, schedule_id: str, rotation_id: str, since: datetime, now: datetime) -> list[Shift]:
        upto = now + self.horizon + timedelta(days=15)  # past the horizon by more than one slot
        if not since < upto:
            return []
        return [
            s
            for s in self.store.schedule_window(schedule_id, Interval(since, upto))
            if s.rotation_id == rotation_id and s.start >= since
        ]

    def delete_rotation(self, actor: Actor, *, schedule_id: str, rotation_id: str) -> None:
        """Stop the rule and remove its shifts that have not started (the running one stays)."""
        managed_schedule(self.store, actor, schedule_id)
        if self.store.get_rotation(schedule_id, rotation_id) is None:
            raise NotFound("rotation", rotation_id)
        with self.audit(actor.id, "rotation.deleted", rotation_id, {"schedule_id": schedule_id}, None):
            self.store.delete_rotation(schedule_id, rotation_id)
        now = self.clock()
        self.writer.remove(schedule_id, self._future(schedule_id, rotation_id, now, now))

    def materialise(self, rotation: rot.Rotation, now: datetime) -> Materialised:
        """Write the rotation's missing slots in the horizon, ``CHUNK`` per transaction. Idempotent (slot ids are
        deterministic and already-stored ones are skipped) and resumable (each chunk commits on its own, so a run
        cut short is finished by the next). A slot that overlaps a shift someone stored meanwhile is skipped and
        reported, never forced."""
        window = rot.horizon(now, self.horizon)
        wanted = rot.materialise(rotation, window)
        created = existing = 0
        clashes: list[Shift] = []
        for chunk in chunks(wanted):
            span = Interval(chunk[0].start, chunk[-1].end)
            outcome: dict[str, Any] = {}

            def plan(
                schedule: Schedule,
                versions: dict[str, int],
                chunk: Sequence[Shift] = chunk,
                span: Interval = span,
                outcome: dict[str, Any] = outcome,
            ) -> Change | None:
                have = self.store.known_ids(rotation.schedule_id, [s.id for s in chunk])
                todo = [s for s in chunk if s.id not in have]
                outcome["existing"] = len(chunk) - len(todo)
                if not todo:
                    outcome["clashes"] = []
                    return None
                if {s.user_id for s in todo} - set(versions):
                    raise NeedUsers({s.user_id for s in todo})
                others = self.store.schedule_window(rotation.schedule_id, span)
                for person in sorted({s.user_id for s in todo}):
                    others += self.store.user_window(person, span)
                ok = [s for s in todo if not conflicts(s.interval, others)]
                outcome["clashes"] = [c for s in todo for c in conflicts(s.interval, others)]
                if not ok:
                    return None
                outcome["created"] = len(ok)
                return Change(
                    schedule_id=rotation.schedule_id,
                    schedule_version=schedule.version,
                    user_versions={u: versions[u] for u in {s.user_id for s in ok}},
                    puts=ok,
                    events=[("shift.created", s) for s in ok],
                    now=now,
                )

            self.writer.commit(rotation.schedule_id, plan, {s.user_id for s in chunk})
            created += int(outcome.get("created", 0))
            existing += int(outcome.get("existing", 0))
            clashes += outcome.get("clashes", [])
        unique = {c.id: c for c in clashes}
        return Materialised(rotation.id, created, existing, tuple(unique.values()))

    def materialise_all(self, now: datetime) -> list[Materialised]:
        """The hourly job: extend every rotation to the horizon."""
        out = []
        for rotation in self.store.all_rotations():
            if rotation.end is not None and rotation.end <= now:
                continue
            try:
                out.append(self.materialise(rotation, now))
            except NotFound:
                continue  # its schedule was deleted after the listing
        return out
