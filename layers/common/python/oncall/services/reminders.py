"""Shift reminders: planned from ``shift.*`` events, sent by a tick every minute through the notification service.

**Planning** (``apply_shift_event``, the ``reminder_planner`` function on the ``shift-reminders`` rule): a
``shift.created``/``updated`` event (re)plans the shift's reminders from its holder's offsets; ``shift.deleted``
cancels the pending ones. Events arrive at least once and in any order, so each is applied only if its ``version`` is
above the last one applied to that shift, and every reminder write is conditional on the same (a stale event can
never overwrite a newer plan, even when two are applied concurrently).

**Sending** (``tick``, the ``reminders`` function on ``rate(1 minute)``): reads the cursor (the oldest hour bucket
that may still hold a due, pending reminder), queries the due index bucket by bucket up to ``now`` (only pending
reminders are in that sparse index, so the items read are the ones due), and for each: claims it with a conditional
update that sets a short lease, sends through the notification service, and marks it sent (late or not) and out of
the index. Duplicate or concurrent ticks lose the claim and send nothing; a tick that dies mid-send leaves a lease
that expires, and the notification service's own dedup (same message key) turns the retry into ``duplicate`` unless
the crash fell inside the HTTP call. The cursor then moves up to the oldest bucket still holding a pending reminder.

**Reconciling** (``ReminderReconciler``, the ``reminder_planner`` function on the ``reconcile-reminders`` schedule):
planning hangs on a ``shift.*`` event reaching the planner; one lost on the way (a runner stopped mid-delivery, a
delivery that failed for good) would leave a shift without reminders. The sweep reads the shifts starting within
``horizon`` and plans every one whose shift version the planner has not applied yet, exactly as its event would
have (so it is idempotent: a shift planned once, by its event or by a sweep, is skipped from then on).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from oncall.domain import reminders as rules
from oncall.domain import texts
from oncall.domain.notifications import Kind, Message
from oncall.domain.reminders import ReminderStatus
from oncall.domain.shifts import Shift
from oncall.observability import log
from oncall.services.identity_ports import UserLookup
from oncall.services.notify_ports import PersonNotifier

LEASE = timedelta(seconds=90)


@dataclass(frozen=True)
class Reminder:
    shift_id: str
    schedule_id: str
    user_id: str
    offset_minutes: int
    due_at: datetime
    shift_start: datetime
    shift_end: datetime
    shift_version: int
    status: ReminderStatus
    late: bool = False
    sent_at: datetime | None = None
    lease_until: datetime | None = None


class ReminderStore(Protocol):
    def planned_version(self, shift_id: str) -> int | None:
        """The highest shift version applied (None: never planned)."""
        ...

    def accept_version(self, shift_id: str, version: int, now: datetime) -> bool:
        """Record ``version`` as the newest applied for the shift; False when it is not newer."""
        ...

    def of_shift(self, shift_id: str) -> list[Reminder]: ...
    def write(self, reminder: Reminder) -> bool:
        """Put the reminder unless a newer shift version already wrote it."""
        ...

    def touch_cursor(self, low: str | None) -> None:
        """Tell ticks the due index changed: lower the cursor to ``low`` if given and lower, and in any case bump
        its revision so a tick that read it before cannot move it past what was just written."""
        ...

    def cursor(self) -> tuple[str | None, int]: ...
    def move_cursor(self, low: str, read_revision: int) -> bool: ...
    def due(self, bucket: str, now: datetime) -> list[Reminder]: ...
    def claim(self, reminder: Reminder, now: datetime, lease: timedelta) -> bool: ...
    def finish(self, reminder: Reminder, status: ReminderStatus, now: datetime, late: bool, note: str) -> bool: ...
    def release(self, reminder: Reminder) -> None: ...


class ScheduleFacts(Protocol):
    def schedule_name(self, schedule_id: str) -> str | None: ...
    def handover_from(self, schedule_id: str, start: datetime, shift_id: str) -> str | None: ...


@dataclass
class TickReport:
    now: datetime
    buckets: int = 0
    candidates: int = 0
    sent: int = 0
    late: int = 0
    missed: int = 0
    cancelled: int = 0
    no_channel: int = 0
    retry: int = 0
    lost_claims: int = 0
    cursor_moved: bool = False
    sent_keys: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("now", "sent_keys")}
        out["now"] = self.now.isoformat()
        return out


class ReminderService:
    def __init__(
        self,
        store: ReminderStore,
        people: UserLookup,
        facts: ScheduleFacts | None = None,
        notifier: PersonNotifier | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        """``facts`` and ``notifier`` are needed by ``tick`` only: the planner runs without them (and without the
        schedules table or the bot token)."""
        self.store = store
        self.people = people
        self.facts = facts
        self.notifier = notifier
        self.lease = lease

    # -- planning --------------------------------------------------------------------------------------------------

    def apply_shift_event(self, detail_type: str, detail: Mapping[str, Any], occurred_at: datetime) -> str:
        """Returns what was done (``planned``, ``cancelled``, ``stale``, ``ignored``), for the log."""
        try:
            shift_id = str(detail["id"])
            version = int(detail["version"])
        except (KeyError, TypeError, ValueError):
            log.warning("shift event without id/version ignored: %s", detail_type)
            return "ignored"
        if detail_type not in ("shift.created", "shift.updated", "shift.deleted"):
            return "ignored"
        applied = self.store.planned_version(shift_id)
        if applied is not None and applied >= version:
            return "stale"
        outcome = self._plan(detail_type, detail, shift_id, version, occurred_at)
        # recorded last: an application cut off before this line (a stop, a crash, a timeout) is done again, by the
        # event's redelivery or by the reconciler, instead of being dropped as stale (every write above is
        # conditional on the version, so doing it again is harmless and a newer plan is never overwritten)
        self.store.accept_version(shift_id, version, occurred_at)
        return outcome

    def _plan(
        self, detail_type: str, detail: Mapping[str, Any], shift_id: str, version: int, occurred_at: datetime
    ) -> str:
        existing = {r.offset_minutes: r for r in self.store.of_shift(shift_id)}
        if detail_type == "shift.deleted":
            for r in existing.values():
                if r.status is ReminderStatus.PENDING:
                    self.store.write(_with(r, status=ReminderStatus.CANCELLED, shift_version=version))
            return "cancelled"
        start = _parse(detail["start"])
        end = _parse(detail["end"])
        user_id = str(detail["user_id"])
        schedule_id = str(detail["schedule_id"])
        person = self.people.get(user_id)
        offsets = person.reminder_offsets_minutes if person is not None and person.active else ()
        planned = rules.plan(start, offsets, occurred_at)
        lowest: str | None = None
        for p in planned:
            old = existing.pop(p.offset_minutes, None)
            status: ReminderStatus = p.status
            if old is not None and old.status is not ReminderStatus.PENDING and old.due_at == p.due_at:
                # unchanged timing (e.g. only the end moved): a reminder already sent or missed stays so
                status = old.status
            self.store.write(
                Reminder(
                    shift_id=shift_id,
                    schedule_id=schedule_id,
                    user_id=user_id,
                    offset_minutes=p.offset_minutes,
                    due_at=p.due_at,
                    shift_start=start,
                    shift_end=end,
                    shift_version=version,
                    status=status,
                    late=old.late if old is not None and status is old.status else False,
                    sent_at=old.sent_at if old is not None and status is old.status else None,
                )
            )
            if status is ReminderStatus.PENDING:
                b = rules.bucket(p.due_at)
                lowest = b if lowest is None else min(lowest, b)
        for r in existing.values():  # offsets the holder no longer wants
            if r.status is ReminderStatus.PENDING:
                self.store.write(_with(r, status=ReminderStatus.CANCELLED, shift_version=version))
        if lowest is not None:
            self.store.touch_cursor(lowest)
        return "planned"

    # -- sending ---------------------------------------------------------------------------------------------------

    def tick(self, now: datetime) -> TickReport:
        if self.facts is None or self.notifier is None:
            raise RuntimeError("ReminderService.tick needs schedule facts and a notifier")
        report = TickReport(now=now)
        low, revision = self.store.cursor()
        buckets = rules.buckets_between(low or rules.bucket(now), now)
        report.buckets = len(buckets)
        still_pending: list[str] = []
        for b in buckets:
            for reminder in self.store.due(b, now):
                report.candidates += 1
                if not self._one(reminder, now, report):
                    still_pending.append(b)
        new_low = rules.lowest(still_pending, rules.bucket(now))
        if new_low != low:
            report.cursor_moved = self.store.move_cursor(new_low, revision)
        return report

    def _one(self, r: Reminder, now: datetime, report: TickReport) -> bool:
        """Handle one due reminder; True when it left the pending state (or another tick holds it)."""
        decision = rules.decide(r.due_at, r.shift_start, now)
        if decision == "wait":
            return False
        if decision == "missed":
            if self.store.finish(r, ReminderStatus.MISSED, now, False, "shift started before a tick could send"):
                report.missed += 1
            return True
        person = self.people.get(r.user_id)
        if person is None or not person.active or r.offset_minutes not in person.reminder_offsets_minutes:
            if self.store.finish(r, ReminderStatus.CANCELLED, now, False, "person gone or opted out of this offset"):
                report.cancelled += 1
            return True
        if not self.store.claim(r, now, self.lease):
            report.lost_claims += 1
            # another tick holds it; keep the cursor at its bucket in case that tick dies before marking it
            return False
        assert self.facts is not None and self.notifier is not None  # checked in tick
        late = rules.is_late(r.due_at, now)
        text = texts.reminder(
            offset_minutes=r.offset_minutes,
            schedule_name=self.facts.schedule_name(r.schedule_id) or texts.REMINDER_SCHEDULE_UNKNOWN,
            start=r.shift_start,
            end=r.shift_end,
            timezone=person.timezone,
            handover_from=self.facts.handover_from(r.schedule_id, r.shift_start, r.shift_id),
            late=late,
            now=now,
        )
        key = rules.message_key(r.shift_id, r.offset_minutes, r.shift_start)
        try:
            delivery = self.notifier.notify(r.user_id, Message(kind=Kind.REMINDER, key=key, text=text), now)
        except Exception:
            log.exception("reminder %s: notify failed; released for the next tick", key)
            self.store.release(r)
            report.retry += 1
            return False
        if delivery.status in ("sent", "duplicate"):
            self.store.finish(r, ReminderStatus.SENT, now, late, delivery.ref or delivery.status)
            report.sent += 1
            report.late += int(late)
            report.sent_keys.append(key)
            return True
        if delivery.status == "no_channel":
            self.store.finish(r, ReminderStatus.NO_CHANNEL, now, False, "no channel reaches the person")
            report.no_channel += 1
            return True
        self.store.release(r)
        report.retry += 1
        return False


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _with(r: Reminder, **changes: Any) -> Reminder:
    from dataclasses import replace

    return replace(r, **changes)


def summarise(reminders: Sequence[Reminder]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in reminders:
        out[r.status.value] = out.get(r.status.value, 0) + 1
    return out


class PlanLedger(Protocol):
    def planned_version(self, shift_id: str) -> int | None:
        """The highest shift version the planner applied (None: never planned)."""
        ...


class UpcomingShifts(Protocol):
    def upcoming(self, since: datetime, until: datetime) -> Iterable[Shift]:
        """Every shift of every schedule overlapping [since, until)."""
        ...


@dataclass
class ReconcileReport:
    checked: int = 0
    planned: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"checked": self.checked, "planned": self.planned}


class ReminderReconciler:
    """Plans the upcoming shifts whose ``shift.*`` event never reached the planner (see the module docstring)."""

    def __init__(
        self,
        planner: ReminderService,
        ledger: PlanLedger,
        shifts: UpcomingShifts,
        horizon: timedelta = timedelta(days=14),
    ) -> None:
        self.planner = planner
        self.ledger = ledger
        self.shifts = shifts
        self.horizon = horizon

    def reconcile(self, now: datetime) -> ReconcileReport:
        report = ReconcileReport()
        for shift in self.shifts.upcoming(now, now + self.horizon):
            if shift.start <= now:
                continue  # reminders are only ever sent before a shift starts
            report.checked += 1
            applied = self.ledger.planned_version(shift.id)
            if applied is not None and applied >= shift.version:
                continue
            detail = {
                "id": shift.id,
                "version": shift.version,
                "schedule_id": shift.schedule_id,
                "user_id": shift.user_id,
                "start": shift.start.isoformat(),
                "end": shift.end.isoformat(),
            }
            if self.planner.apply_shift_event("shift.updated", detail, now) == "planned":
                report.planned += 1
                log.info("shift %s v%d had no reminder plan; planned by the sweep", shift.id, shift.version)
        return report
