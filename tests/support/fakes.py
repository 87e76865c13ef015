"""In-memory implementations of the services' ports, for testing services without moto.

Each fake keeps state and enforces the contract its DynamoDB (or AWS) adapter enforces: the same conditions on the
same writes, the same outcome when a condition loses (a ``False``, ``StaleWrite``, ``GuardFailed``, ``Conflict``, or
``ConditionFailed`` where the adapter lets the raw error escape), the same round trip through JSON where the adapter
stores JSON. They differ only where a difference cannot change what a service decides: nothing expires (DynamoDB's
TTL deletes late and services never rely on it), reads are always consistent, and there is no concurrency.

These are fakes of ports, at the adapter boundary; a service under test is always the real one. A test asserts on
what a fake holds afterwards (records, timelines, queued items, events), not only on which calls were made.

Long because every port's fake lives here, next to the others it shares records with (the delivery log and the
recipient directory, the incident store and its timeline), and tests/functional/test_fakes_agree.py holds each one to
its adapter from this one place.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall.domain import reminders as reminder_rules
from oncall.domain.errors import Conflict
from oncall.domain.escalation import Policy
from oncall.domain.events import DomainEvent
from oncall.domain.incidents import OPEN, Incident, Status, TimelineEntry
from oncall.domain.notifications import (
    REF_PREFIXES,
    Button,
    Delivery,
    Kind,
    Message,
    Recipient,
    message_from_dict,
    message_to_dict,
)
from oncall.domain.notifications import Status as DeliveryStatus
from oncall.domain.page_content import AlertSummary
from oncall.domain.reminders import ReminderStatus
from oncall.domain.rotations import Rotation
from oncall.domain.schedules import Schedule
from oncall.domain.services_catalog import Service
from oncall.domain.shifts import Interval, Shift, from_sort_key, sort_key
from oncall.domain.teams import DEFAULT_TEAM_ID, DEFAULT_TEAM_ROLE, team_of
from oncall.domain.users import Role, User, UserStatus
from oncall.services import alert_ports
from oncall.services.alert_ports import KeyRef
from oncall.services.incident_ports import (
    AlertClaim,
    GuardFailed,
    IncidentFilter,
    Page,
    PageButton,
    PageResult,
    StaleWrite,
)
from oncall.services.notify_ports import ChannelBlocked, ChannelFailed, ChannelRateLimited, DeliveryClaim, Queued
from oncall.services.reminders import Reminder
from oncall.services.schedule_ports import Change, ShiftExists, VersionConflict

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class ConditionFailed(Exception):
    """A conditional write lost where the DynamoDB adapter does not translate the failure (it escapes as a
    ``ConditionalCheckFailedException`` there): the service did not expect to lose it."""


def _json[T](value: T) -> T:
    """What survives the adapter's JSON attribute (``default=str``: datetimes come back as text)."""
    result: T = json.loads(json.dumps(value, default=str))
    return result


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


class Clock:
    """The test's clock, moved by hand: ``clock()`` is now for services, ``wall``/``sleep`` serve the notification
    service's rate windows, all on one timeline (a sleep moves ``now`` too)."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 0, **more: float) -> datetime:
        self.now += timedelta(seconds=seconds, **more)
        return self.now

    def wall(self) -> float:
        return self.now.timestamp()

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)


# -- people ----------------------------------------------------------------------------------------------------------


def user(
    user_id: str,
    *,
    name: str | None = None,
    role: Role = Role.RESPONDER,
    timezone: str = "UTC",
    reminders: tuple[int, ...] = (24 * 60, 120, 10),
    active: bool = True,
    telegram: str | None = None,
    email: str | None = None,
    teams: dict[str, str] | None = None,
) -> User:
    """A person; in the default team with the powers of ``role`` unless ``teams`` says otherwise (as the product
    puts a new user)."""
    return User(
        id=user_id,
        username=user_id,
        role=role,
        display_name=name or user_id.capitalize(),
        created_at=START,
        updated_at=START,
        email=email,
        timezone=timezone,
        reminder_offsets_minutes=reminders,
        status=UserStatus.ACTIVE if active else UserStatus.DELETED,
        telegram_chat_id=telegram,
        teams=teams if teams is not None else {DEFAULT_TEAM_ID: DEFAULT_TEAM_ROLE[role].value},
    )


class FakePeople:
    """``People`` (incidents, escalation, reminders): users by id, as identity's store returns them."""

    def __init__(self, *users: User) -> None:
        self.users: dict[str, User] = {u.id: u for u in users}

    def add(self, *users: User) -> None:
        self.users.update({u.id: u for u in users})

    def get(self, user_id: str) -> User | None:
        return self.users.get(user_id)


# -- notifications ---------------------------------------------------------------------------------------------------

#: statuses whose claim a new attempt may take over at once (the adapter's ``#s IN (...)``)
RETRYABLE = frozenset({"failed", "rate_limited", "no_channel", "cancelled"})


@dataclass
class DeliveryRecord:
    """The ``DELIVERY#<user>`` / ``KEY#<key>`` item."""

    status: str
    kind: str | None = None
    incident_id: str | None = None
    lease_until: int | None = None
    channel: str | None = None
    ref: str | None = None
    attempts: list[dict[str, str]] = field(default_factory=list)
    claimed_at: datetime | None = None
    queued_at: str | None = None
    finished_at: datetime | None = None


@dataclass(frozen=True)
class Pending:
    """The ``QUEUE#<user>#<channel>`` / ``KEY#<key>`` item: a message waiting for the channel's window."""

    message: dict[str, Any]
    context: dict[str, Any]
    queued_at: str


def _claimable(record: DeliveryRecord, now: datetime, *also: str) -> bool:
    """``#s IN (also) OR (#s = sending AND lease_until < now)``: the lease is compared in epoch seconds."""
    expired = record.status == "sending" and record.lease_until is not None and record.lease_until < _epoch(now)
    return record.status in also or expired


class FakeDeliveryLog:
    """``DeliveryLog``: delivery records, queued messages, page caps and channel flags, with the adapter's
    conditions."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], DeliveryRecord] = {}
        self.pending: dict[tuple[str, str], dict[str, Pending]] = {}
        self.caps: dict[tuple[str, str], int] = {}
        self.flagged: dict[str, dict[str, str]] = {}

    # what tests read
    def record(self, user_id: str, key: str) -> DeliveryRecord:
        return self.records[(user_id, key)]

    def queued_keys(self, user_id: str, channel: str) -> list[str]:
        return sorted(self.pending.get((user_id, channel), {}))

    def flags(self, user_id: str) -> frozenset[str]:
        return frozenset(self.flagged.get(user_id, {}))

    # the port
    def claim(self, user_id: str, message: Message, now: datetime, lease: timedelta) -> DeliveryClaim:
        stored = self.records.get((user_id, message.key))
        free = stored is None or stored.status in RETRYABLE or _claimable(stored, now)
        if not free:
            assert stored is not None
            return DeliveryClaim(won=False, status=stored.status, channel=stored.channel, ref=stored.ref)
        # a put: whatever an earlier attempt left (channel, ref, attempts) is gone
        self.records[(user_id, message.key)] = DeliveryRecord(
            status="sending",
            kind=message.kind.value,
            incident_id=message.incident_id,
            lease_until=_epoch(now + lease),
            claimed_at=now,
        )
        return DeliveryClaim(won=True)

    def _upsert(self, user_id: str, key: str) -> DeliveryRecord:
        # an UpdateItem creates the item when it is missing; the adapter's updates carry no existence condition
        return self.records.setdefault((user_id, key), DeliveryRecord(status=""))

    def finish(
        self,
        user_id: str,
        message: Message,
        status: DeliveryStatus,
        channel: str | None,
        ref: str | None,
        attempts: Sequence[Mapping[str, str]],
        now: datetime,
    ) -> None:
        record = self._upsert(user_id, message.key)
        record.status = status
        record.finished_at = now
        record.attempts = _json([dict(a) for a in attempts])
        record.lease_until = None
        record.channel = channel or None
        record.ref = ref or None

    def count_page(self, incident_id: str, user_id: str, cap: int, now: datetime) -> bool:
        pages = self.caps.get((incident_id, user_id))
        if pages is not None and pages >= cap:
            return False
        self.caps[(incident_id, user_id)] = (pages or 0) + 1
        return True

    def flag(self, user_id: str, channel: str, reason: str, now: datetime) -> None:
        self.flagged.setdefault(user_id, {})[channel] = reason or "blocked"

    def unflag(self, user_id: str, channel: str) -> None:
        self.flagged.get(user_id, {}).pop(channel, None)

    def status_of(self, user_id: str, key: str) -> str | None:
        stored = self.records.get((user_id, key))
        return stored.status if stored is not None and stored.status else None

    def enqueue(
        self,
        user_id: str,
        message: Message,
        channel: str,
        context: Mapping[str, Any],
        attempts: Sequence[Mapping[str, str]],
        now: datetime,
        moved_from: str | None = None,
    ) -> None:
        # one transaction: the record says queued, the message waits, and leaves the channel it moved from
        pending = Pending(_json(message_to_dict(message)), _json(dict(context)), now.isoformat())
        record = self._upsert(user_id, message.key)
        record.status = "queued"
        record.channel = channel
        record.queued_at = now.isoformat()
        record.attempts = _json([dict(a) for a in attempts])
        record.lease_until = None
        record.ref = None
        self.pending.setdefault((user_id, channel), {})[message.key] = pending
        if moved_from and moved_from != channel:
            self.pending.get((user_id, moved_from), {}).pop(message.key, None)

    def take_queued(self, user_id: str, channel: str, now: datetime, lease: timedelta, limit: int) -> list[Queued]:
        waiting = self.pending.get((user_id, channel), {})
        taken: list[Queued] = []
        for key, item in sorted(waiting.items(), key=lambda kv: (kv[1].queued_at, kv[0])):
            if len(taken) >= limit:
                break
            record = self.records.get((user_id, key))
            takeable = record is not None and record.channel == channel and _claimable(record, now, "queued")
            if not takeable:
                if record is None or record.status not in ("queued", "sending"):
                    # settled elsewhere: the pending item is stale
                    del waiting[key]
                continue
            assert record is not None
            record.status = "sending"
            record.lease_until = _epoch(now + lease)
            taken.append(Queued(message_from_dict(item.message), dict(item.context)))
        return taken

    def requeue(self, user_id: str, keys: Sequence[str]) -> None:
        for key in keys:
            record = self.records.get((user_id, key))
            if record is None or record.status != "sending":
                raise ConditionFailed(f"requeue {user_id}/{key}: not sending")
            record.status = "queued"
            record.lease_until = None

    def settle(
        self,
        user_id: str,
        message: Message,
        channel: str,
        status: DeliveryStatus,
        ref: str | None,
        attempts: Sequence[Mapping[str, str]],
        now: datetime,
    ) -> None:
        self.finish(user_id, message, status, channel, ref, attempts, now)
        for name in {channel, *(a.get("channel", "") for a in attempts)} - {""}:
            self.pending.get((user_id, name), {}).pop(message.key, None)


class FakeRateLimiter:
    """``RateLimiter``: each scope's next free time (``rate_terms``), taken like the adapter's two conditional writes.
    As there, scopes are taken in order and a full one stops the rest, so the scopes before it keep the slot just
    taken."""

    def __init__(self) -> None:
        self.tat: dict[str, int] = {}
        self.held: dict[str, int] = {}

    def acquire(self, scopes: Sequence[tuple[str, int]], wall: float, *, holder: bool = False) -> float:
        from oncall.domain.notifications import rate_terms, refused_wait

        now = int(wall * 1000)
        for scope, per_second in scopes:
            interval, tolerance = rate_terms(per_second)
            tat = self.tat.get(scope)
            if not holder and self.held.get(scope, 0) > now:
                return refused_wait(per_second, tat, self.held.get(scope), now, holder=holder)
            if tat is None or tat <= now:
                self.tat[scope] = now + interval
            elif tat <= now + tolerance:
                self.tat[scope] = tat + interval
            else:
                return refused_wait(per_second, tat, self.held.get(scope), now, holder=holder)
        return 0.0

    def hold(self, scopes: Sequence[tuple[str, int]], wall: float, seconds: float) -> None:
        from oncall.domain.notifications import HOLD_GRACE_S

        until = int((wall + seconds + HOLD_GRACE_S) * 1000)
        for scope, _ in scopes:
            self.held[scope] = max(self.held.get(scope, 0), until)

    def release(self, scopes: Sequence[tuple[str, int]]) -> None:
        for scope, _ in scopes:
            self.held.pop(scope, None)

    def fill(self, scope: str, wall: float, per_second: int) -> None:
        """Take every slot ``scope`` has at ``wall`` (other Lambdas sent there just now)."""
        from oncall.domain.notifications import rate_terms

        interval, tolerance = rate_terms(per_second)
        self.tat[scope] = int(wall * 1000) + tolerance + interval


@dataclass
class _Person:
    display_name: str
    timezone: str
    addresses: dict[str, str]
    rules: dict[Kind, tuple[str, ...]]
    active: bool = True


class FakeRecipientDirectory:
    """``RecipientDirectory``: people's addresses and rules, with channel flags read from the delivery log (the
    adapter reads them from the same table)."""

    def __init__(self, log: FakeDeliveryLog) -> None:
        self.log = log
        self.people: dict[str, _Person] = {}

    def add(
        self,
        user_id: str,
        *,
        telegram: str | None = None,
        email: str | None = None,
        rules: Mapping[Kind, tuple[str, ...]] | None = None,
        timezone: str = "UTC",
    ) -> None:
        addresses = {name: value for name, value in (("telegram", telegram), ("email", email)) if value}
        self.people[user_id] = _Person(user_id.capitalize(), timezone, addresses, dict(rules or {}))

    def deactivate(self, user_id: str) -> None:
        self.people[user_id].active = False

    def recipient(self, user_id: str) -> Recipient | None:
        person = self.people.get(user_id)
        if person is None or not person.active:
            return None
        return Recipient(
            user_id=user_id,
            display_name=person.display_name,
            timezone=person.timezone,
            addresses=dict(person.addresses),
            flagged=self.log.flags(user_id),
            rules=dict(person.rules),
        )


@dataclass(frozen=True)
class Sent:
    address: str
    message: Message
    ref: str


class FakeChannel:
    """``Channel``: records what it delivered and edited; told to fail, it raises what the real channels raise:
    ``block(address)`` (Telegram 403, from then on), ``fail(times, ...)`` (the next sends), ``down`` (every send)."""

    def __init__(self, name: str = "telegram", per_address: int = 1, overall: int = 30) -> None:
        self.name = name
        self.per_address = per_address
        self.overall = overall
        self.prefix = next(p for p, n in REF_PREFIXES.items() if n == name)
        self.sent: list[Sent] = []
        self.edits: list[tuple[str, str, tuple[tuple[Button, ...], ...]]] = []
        self.blocked: set[str] = set()
        self.down = False
        self._failures: list[Exception] = []
        self._ids = itertools.count(1)

    def fail(self, times: int = 1, error: Exception | None = None) -> None:
        self._failures += [error or ChannelFailed(f"{self.name}: HTTP 502") for _ in range(times)]

    def rate_limit(self, retry_after: float, times: int = 1) -> None:
        self.fail(times, ChannelRateLimited(retry_after))

    def block(self, address: str) -> None:
        self.blocked.add(address)

    def limits(self, address: str) -> Sequence[tuple[str, int]]:
        return [(f"{self.prefix}:chat:{address}", self.per_address), (f"{self.prefix}:bot", self.overall)]

    def send(self, address: str, message: Message) -> str:
        if address in self.blocked:
            raise ChannelBlocked(f"{self.name}: 403 blocked by the user")
        if self._failures:
            raise self._failures.pop(0)
        if self.down:
            raise ChannelFailed(f"{self.name}: HTTP 502")
        ref = f"{self.prefix}:{address}:{next(self._ids)}"
        self.sent.append(Sent(address, message, ref))
        return ref

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...]) -> None:
        if ref not in {s.ref for s in self.sent}:
            raise ChannelFailed(f"{self.name}: message to edit not found")
        if ref.split(":")[1] in self.blocked:
            raise ChannelBlocked(f"{self.name}: 403 blocked by the user")
        self.edits.append((ref, text, buttons))

    def to(self, address: str) -> list[Message]:
        return [s.message for s in self.sent if s.address == address]


class FakePageQueue:
    """``PageQueue``: keeps flush jobs (as the JSON an SQS message carries) with their delay; ``broken`` refuses
    them, as an unreachable queue does."""

    def __init__(self) -> None:
        self.jobs: list[tuple[dict[str, Any], float]] = []
        self.broken = False

    def later(self, job: Mapping[str, Any], delay_s: float) -> None:
        if self.broken:
            raise RuntimeError("SendMessage: the queue is unreachable")
        self.jobs.append((_json(dict(job)), delay_s))

    def take(self) -> list[tuple[dict[str, Any], float]]:
        jobs, self.jobs = self.jobs, []
        return jobs


class FakeQueueListener:
    """``QueueListener``: whether a queued message is still wanted (``unwanted`` keys are not), and every outcome it
    heard, by message key."""

    def __init__(self) -> None:
        self.unwanted: set[str] = set()
        self.outcomes: dict[str, str] = {}
        self.contexts: dict[str, dict[str, Any]] = {}

    def wanted(self, user_id: str, message: Message, context: Mapping[str, Any]) -> bool:
        return message.key not in self.unwanted

    def settled(
        self, user_id: str, message: Message, delivery: Delivery, context: Mapping[str, Any], now: datetime
    ) -> None:
        self.outcomes[message.key] = delivery.status
        self.contexts[message.key] = dict(context)


# -- incidents and escalation ----------------------------------------------------------------------------------------

#: a move writes the incident, at most this many timeline entries and its event (the adapter's transaction bound)
MAX_ENTRIES = 20
#: as the adapter: a repeated alert writes a timeline line when the count reaches a multiple of this
ALERT_LINE_EVERY = 50


@dataclass(frozen=True)
class Guard:
    """An alert claim written with an incident under its own condition, as the fake alert store makes them:
    ``holds`` is the condition, ``write`` the change. Nothing is written unless the condition holds."""

    holds: Callable[[], bool]
    write: Callable[[], None]


def _stored_entry(entry: TimelineEntry) -> TimelineEntry:
    # the adapter keeps ``data`` as JSON text
    return replace(entry, data=_json(entry.data))


class FakeIncidentStore:
    """``IncidentStore``: incidents, their timelines and the outbox events written with them, under the adapter's
    conditions (version and waiting token on a commit, status/generation/step on ``arm``)."""

    def __init__(self, alerts: FakeAlertStore | None = None) -> None:
        self.incidents: dict[str, Incident] = {}
        self.entries: dict[str, dict[str, TimelineEntry]] = {}
        self.events: list[DomainEvent] = []
        #: where alert claims written with an incident go
        self.alerts = alerts

    def _guards(self, claim: AlertClaim | None, incident_id: str, *, take: bool) -> list[Guard]:
        if claim is None:
            return []
        if self.alerts is None:
            raise TypeError("an alert claim needs the fake alert store: FakeIncidentStore(alerts=...)")
        guard = self.alerts.taking(claim, incident_id) if take else self.alerts.joining(claim, incident_id)
        return [guard] if guard is not None else []

    # what tests read
    def kinds(self, incident_id: str) -> list[str]:
        return [e.kind for e in self.all_entries(incident_id)]

    def all_entries(self, incident_id: str, kind: str | None = None) -> list[TimelineEntry]:
        found = [self.entries[incident_id][k] for k in sorted(self.entries.get(incident_id, {}))]
        return [e for e in found if kind is None or e.kind == kind]

    def put(self, incident: Incident) -> Incident:
        """An incident as if created earlier (no entries, no event)."""
        self.incidents[incident.id] = incident
        return incident

    # the port
    def _write_entries(self, entries: Sequence[TimelineEntry]) -> None:
        for e in entries:
            self.entries.setdefault(e.incident_id, {})[e.id] = _stored_entry(e)

    def create(
        self,
        incident: Incident,
        entries: Sequence[TimelineEntry],
        event: DomainEvent,
        claim: AlertClaim | None = None,
    ) -> None:
        guards = self._guards(claim, incident.id, take=True)
        if not all(g.holds() for g in guards):
            raise GuardFailed(f"a guard of incident {incident.id} failed")
        if incident.id in self.incidents:
            raise ConditionFailed(f"incident {incident.id} exists")
        self.incidents[incident.id] = incident
        self._write_entries(entries[:MAX_ENTRIES])
        self.events.append(event)
        for g in guards:
            g.write()

    def attach_alert(
        self, incident_id: str, at: datetime, entries: Sequence[TimelineEntry], claim: AlertClaim | None = None
    ) -> bool:
        guards = self._guards(claim, incident_id, take=False)
        if not all(g.holds() for g in guards):
            raise GuardFailed(f"a guard of incident {incident_id} failed")
        stored = self.incidents.get(incident_id)
        if stored is None or stored.status not in OPEN:
            return False
        summary = stored.last_alert
        for e in reversed(entries):
            if e.kind == "alert":
                page = _json(e.data).get("page")
                summary = AlertSummary.from_dict(page) if isinstance(page, dict) else summary
                break
        # as the adapter: the count lives apart from the incident (no version bump), and a repeat's line is sampled
        self.incidents[incident_id] = replace(
            stored, alert_count=stored.alert_count + 1, last_alert_at=at, last_alert=summary
        )
        if guards or (stored.alert_count + 1) % ALERT_LINE_EVERY == 0:
            self._write_entries(entries[:MAX_ENTRIES])
        for g in guards:
            g.write()
        return True

    def get(self, incident_id: str) -> Incident | None:
        return self.incidents.get(incident_id)

    def commit(
        self, before: Incident, after: Incident, entries: Sequence[TimelineEntry], event: DomainEvent | None
    ) -> None:
        stored = self.incidents.get(before.id)
        if stored is None or stored.version != before.version or stored.task_token != before.task_token:
            raise StaleWrite(before.id)
        self.incidents[after.id] = after
        self._write_entries(entries[:MAX_ENTRIES])
        if event is not None:
            self.events.append(event)

    def arm(self, incident_id: str, *, generation: int, status: Status, step: int | None, token: str) -> bool:
        stored = self.incidents.get(incident_id)
        if stored is None or stored.status is not status or stored.generation != generation:
            return False
        if step is not None and stored.escalation_step != step:
            return False
        self.incidents[incident_id] = replace(stored, task_token=token)
        return True

    def add_entries(self, entries: Sequence[TimelineEntry]) -> None:
        self._write_entries(entries)

    def page_entries(self, incident_id: str) -> list[TimelineEntry]:
        return [e for e in self.all_entries(incident_id, "page") if e.data.get("ref")]

    def timeline(
        self, incident_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[TimelineEntry], dict[str, Any] | None]:
        ids = sorted(self.entries.get(incident_id, {}))
        if cursor:
            ids = [i for i in ids if f"TL#{i}" > str(cursor["sk"])]
        chosen = ids[:limit]
        found = [self.entries[incident_id][i] for i in chosen]
        # like a Query that stopped at its Limit: a cursor whenever the page is full, even if nothing follows
        last = {"pk": f"INC#{incident_id}", "sk": f"TL#{chosen[-1]}"} if len(chosen) == limit and chosen else None
        return found, last

    def paginate(
        self, filters: IncidentFilter, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Incident], dict[str, Any] | None]:
        def created_sk(i: Incident) -> str:
            return f"{sort_key(i.created_at)}#{i.id}"

        def matches(i: Incident) -> bool:
            return (
                (filters.status is None or i.status is filters.status)
                and (filters.service_id is None or i.service_id == filters.service_id)
                and (filters.severity is None or i.severity.value == filters.severity)
                and (filters.source is None or i.source.value == filters.source)
                and (filters.created_from is None or sort_key(i.created_at) >= sort_key(filters.created_from))
                and (filters.created_to is None or sort_key(i.created_at) <= sort_key(filters.created_to) + "#~")
            )

        ordered = sorted((i for i in self.incidents.values() if matches(i)), key=created_sk, reverse=True)
        if cursor:
            ordered = [i for i in ordered if created_sk(i) < str(cursor["created_sk"])]
        found = ordered[:limit]
        more = len(ordered) > limit
        return found, ({"created_sk": created_sk(found[-1])} if more and found else None)

    def created_between(self, start: datetime, end: datetime) -> list[Incident]:
        return [i for i in self.incidents.values() if start <= i.created_at < end]


class FakeCatalogStore:
    """``CatalogStore``: services, policies and integration-key lookups. Versioned writes lose with ``Conflict`` as
    the adapter's transactions do; creating a policy whose id exists escapes as ``ConditionFailed``."""

    def __init__(self) -> None:
        self.services: dict[str, Service] = {}
        self.policies: dict[str, Policy] = {}
        self.keys: dict[str, str] = {}

    @staticmethod
    def _conflict() -> Conflict:
        return Conflict("changed by someone else meanwhile; read it again and retry")

    def put_service(self, service: Service) -> None:
        if service.id in self.services or service.key_hash in self.keys:
            raise self._conflict()
        self.services[service.id] = service
        self.keys[service.key_hash] = service.id

    def get_service(self, service_id: str) -> Service | None:
        return self.services.get(service_id)

    def update_service(self, before: Service, after: Service) -> None:
        stored = self.services.get(before.id)
        if stored is None or stored.version != before.version:
            raise self._conflict()
        self.services[after.id] = after

    def rotate_key(self, before: Service, after: Service) -> None:
        stored = self.services.get(before.id)
        if stored is None or stored.version != before.version or after.key_hash in self.keys:
            raise self._conflict()
        self.services[after.id] = after
        self.keys[after.key_hash] = after.id
        # the replaced key keeps its lookup (DynamoDB's TTL removes it after the overlap; the service re-checks)
        self.keys[before.key_hash] = before.id
        if before.previous_key_hash and before.previous_key_hash != before.key_hash:
            self.keys.pop(before.previous_key_hash, None)

    def delete_service(self, service: Service) -> None:
        self.services.pop(service.id, None)
        self.keys.pop(service.key_hash, None)
        if service.previous_key_hash:
            self.keys.pop(service.previous_key_hash, None)

    def service_id_for_key(self, key_hash: str) -> str | None:
        return self.keys.get(key_hash)

    @staticmethod
    def _listed[T](items: Sequence[T], name: Callable[[T], str], limit: int, cursor: dict[str, Any] | None) -> Any:
        ordered = sorted(items, key=name)
        if cursor:
            ordered = [i for i in ordered if name(i) > str(cursor["after"])]
        found = ordered[:limit]
        return found, ({"after": name(found[-1])} if len(ordered) > limit and found else None)

    def list_services(
        self, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None = None
    ) -> tuple[list[Service], dict[str, Any] | None]:
        mine = [s for s in self.services.values() if teams is None or team_of(s.team_id) in teams]
        result: tuple[list[Service], dict[str, Any] | None] = self._listed(
            mine, lambda s: f"{s.name.lower()}#{s.id}", limit, cursor
        )
        return result

    def team_owns_anything(self, team_id: str) -> bool:
        owned = [*self.services.values(), *self.policies.values()]
        return any(o.team_id == team_id for o in owned)

    def services_using(self, policy_id: str) -> list[Service]:
        return [s for s in self.services.values() if s.escalation_policy_id == policy_id]

    def put_policy(self, policy: Policy) -> None:
        if policy.id in self.policies:
            raise Conflict(f"policy {policy.id} exists")
        self.policies[policy.id] = policy

    def get_policy(self, policy_id: str) -> Policy | None:
        return self.policies.get(policy_id)

    def update_policy(self, before: Policy, after: Policy) -> None:
        stored = self.policies.get(before.id)
        if stored is None or stored.version != before.version:
            raise self._conflict()
        self.policies[after.id] = after

    def delete_policy(self, policy: Policy) -> None:
        stored = self.policies.get(policy.id)
        if stored is None or stored.version != policy.version:
            raise self._conflict()
        del self.policies[policy.id]

    def list_policies(
        self, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None = None
    ) -> tuple[list[Policy], dict[str, Any] | None]:
        mine = [p for p in self.policies.values() if teams is None or team_of(p.team_id) in teams]
        result: tuple[list[Policy], dict[str, Any] | None] = self._listed(
            mine, lambda p: f"{p.name.lower()}#{p.id}", limit, cursor
        )
        return result


class FakeLifecycle:
    """``Lifecycle``: executions by name (starting one that exists is success, as ``ExecutionAlreadyExists`` is), and
    callback tokens that wait until answered or failed once; a token not waiting is answered with ``False``."""

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}
        self.waiting: set[str] = set()
        self.answered: dict[str, dict[str, Any]] = {}
        self.failed: dict[str, tuple[str, str]] = {}
        self._tokens = itertools.count(1)

    def wait(self) -> str:
        """A token a task of the state machine now waits on (what Step Functions hands a callback task)."""
        token = f"token-{next(self._tokens)}"
        self.waiting.add(token)
        return token

    def start(self, name: str, payload: dict[str, Any]) -> str:
        self.executions.setdefault(name, _json(payload))
        return f"arn:aws:states:us-east-1:000000000000:execution:incident-lifecycle:{name}"

    def answer(self, token: str, outcome: dict[str, Any]) -> bool:
        if token not in self.waiting:
            return False
        self.waiting.discard(token)
        self.answered[token] = _json(outcome)
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        if token not in self.waiting:
            return False
        self.waiting.discard(token)
        self.failed[token] = (error, cause)
        return True


class FakeOnCall:
    """``OnCall``: shifts per schedule, ``[start, end)``."""

    def __init__(self) -> None:
        self.shifts: dict[str, list[tuple[datetime, datetime, str]]] = {}

    def put(self, schedule_id: str, user_id: str, start: datetime, end: datetime) -> None:
        self.shifts.setdefault(schedule_id, []).append((start, end, user_id))

    def who(self, schedule_id: str, at: datetime) -> str | None:
        for start, end, user_id in self.shifts.get(schedule_id, []):
            if start <= at < end:
                return user_id
        return None

    def team(self, team_id: str, at: datetime) -> list[str]:
        """Schedules named ``<team>/<anything>`` are the team's."""
        found = (self.who(s, at) for s in sorted(self.shifts) if s.startswith(f"{team_id}/"))
        return list(dict.fromkeys(w for w in found if w is not None))


#: page statuses after which a new send of the same key is not tried again (the delivery log's claim)
_PAGE_FINAL = frozenset({"sent", "queued", "sending", "capped"})


class FakePager:
    """``Pager``: one delivery per (person, page key), like the notification service's claim: a key already sent is
    ``duplicate``, one queued stays ``queued``, one that failed may be tried again. Each person's outcome is
    ``outcomes[user]`` (default: sent on Telegram); ``settle`` ends a queued page the way a flush would."""

    def __init__(self) -> None:
        self.outcomes: dict[str, PageResult] = {}
        self.deliveries: dict[tuple[str, str], PageResult] = {}
        self.pages: list[tuple[str, Page, dict[str, Any]]] = []
        self.edits: list[tuple[str, str, tuple[tuple[PageButton, ...], ...]]] = []
        self._ids = itertools.count(1)

    def send(self, user_id: str, page: Page, now: datetime, context: Mapping[str, Any] | None = None) -> PageResult:
        prior = self.deliveries.get((user_id, page.key))
        if prior is not None and prior.status in _PAGE_FINAL:
            if prior.status in ("queued", "capped"):
                return PageResult(prior.status, prior.channel)
            return PageResult("duplicate", prior.channel, prior.ref)
        self.pages.append((user_id, page, _json(dict(context or {}))))
        outcome = self.outcomes.get(user_id) or PageResult("sent", "telegram")
        if outcome.status == "sent" and outcome.ref is None:
            outcome = replace(outcome, ref=f"tg:{user_id}:{next(self._ids)}")
        self.deliveries[(user_id, page.key)] = outcome
        return outcome

    def status(self, user_id: str, key: str) -> str | None:
        found = self.deliveries.get((user_id, key))
        return found.status if found is not None else None

    def edit(self, ref: str, text: str, buttons: tuple[tuple[PageButton, ...], ...] = ()) -> None:
        self.edits.append((ref, text, buttons))

    def settle(self, user_id: str, key: str, result: PageResult) -> dict[str, Any]:
        """A queued page's end (sent, failed, cancelled); returns the context it was queued with."""
        assert self.status(user_id, key) == "queued", f"{user_id}/{key} is not queued"
        self.deliveries[(user_id, key)] = result
        return next(ctx for uid, page, ctx in self.pages if uid == user_id and page.key == key)

    def sent_to(self, user_id: str) -> list[Page]:
        return [p for uid, p, _ in self.pages if uid == user_id]


# -- reminders -------------------------------------------------------------------------------------------------------


def _stored_reminder(r: Reminder) -> Reminder:
    # times are kept as fixed-width UTC text, the lease as epoch seconds
    return replace(
        r,
        due_at=from_sort_key(sort_key(r.due_at)),
        shift_start=from_sort_key(sort_key(r.shift_start)),
        shift_end=from_sort_key(sort_key(r.shift_end)),
        sent_at=from_sort_key(sort_key(r.sent_at)) if r.sent_at is not None else None,
        lease_until=datetime.fromtimestamp(_epoch(r.lease_until), UTC) if r.lease_until is not None else None,
    )


class FakeReminderStore:
    """``ReminderStore``: reminders per (shift, offset), the newest shift version applied, the tick cursor and its
    revision, under the adapter's conditions; a reminder marked sent also leaves its ``reminder.sent`` event (the
    adapter writes it to the outbox in the same transaction)."""

    def __init__(self) -> None:
        self.versions: dict[str, int] = {}
        self.reminders: dict[tuple[str, int], Reminder] = {}
        self.notes: dict[tuple[str, int], str] = {}
        self.low: str | None = None
        self.rev: int | None = None
        self.events: list[DomainEvent] = []

    # what tests read
    def get(self, shift_id: str, offset: int) -> Reminder:
        return self.reminders[(shift_id, offset)]

    def statuses(self, shift_id: str) -> dict[int, ReminderStatus]:
        return {o: r.status for (s, o), r in sorted(self.reminders.items()) if s == shift_id}

    # the port
    def planned_version(self, shift_id: str) -> int | None:
        return self.versions.get(shift_id)

    def accept_version(self, shift_id: str, version: int, now: datetime) -> bool:
        if shift_id in self.versions and self.versions[shift_id] >= version:
            return False
        self.versions[shift_id] = version
        return True

    def of_shift(self, shift_id: str) -> list[Reminder]:
        return [r for (s, _), r in sorted(self.reminders.items()) if s == shift_id]

    def write(self, reminder: Reminder) -> bool:
        key = (reminder.shift_id, reminder.offset_minutes)
        stored = self.reminders.get(key)
        if stored is not None and stored.shift_version > reminder.shift_version:
            return False
        # a put: the item is exactly the reminder (no lease, no note)
        self.reminders[key] = _stored_reminder(replace(reminder, lease_until=None))
        self.notes.pop(key, None)
        return True

    def touch_cursor(self, low: str | None) -> None:
        if low is not None and (self.low is None or self.low > low):
            self.low = low
        self.rev = (self.rev or 0) + 1

    def cursor(self) -> tuple[str | None, int]:
        return self.low, self.rev or 0

    def move_cursor(self, low: str, read_revision: int) -> bool:
        if (self.rev or 0) != read_revision:
            return False
        self.low = low
        return True

    def due(self, bucket: str, now: datetime) -> list[Reminder]:
        # the sparse index: pending reminders only, in due order
        found = [
            r
            for r in self.reminders.values()
            if r.status is ReminderStatus.PENDING
            and reminder_rules.bucket(r.due_at) == bucket
            and sort_key(r.due_at) <= sort_key(now) + "~"
        ]
        return sorted(found, key=lambda r: (sort_key(r.due_at), r.shift_id, r.offset_minutes))

    def _current(self, reminder: Reminder, *, same_due: bool = True) -> Reminder | None:
        stored = self.reminders.get((reminder.shift_id, reminder.offset_minutes))
        if (
            stored is None
            or stored.status is not ReminderStatus.PENDING
            or stored.shift_version != reminder.shift_version
            or (same_due and sort_key(stored.due_at) != sort_key(reminder.due_at))
        ):
            return None
        return stored

    def claim(self, reminder: Reminder, now: datetime, lease: timedelta) -> bool:
        stored = self._current(reminder)
        if stored is None or (stored.lease_until is not None and _epoch(stored.lease_until) >= _epoch(now)):
            return False
        self.reminders[(reminder.shift_id, reminder.offset_minutes)] = _stored_reminder(
            replace(stored, lease_until=now + lease)
        )
        return True

    def finish(self, reminder: Reminder, status: ReminderStatus, now: datetime, late: bool, note: str) -> bool:
        stored = self._current(reminder)
        if stored is None:
            return False
        key = (reminder.shift_id, reminder.offset_minutes)
        self.reminders[key] = _stored_reminder(
            replace(
                stored,
                status=status,
                late=late,
                lease_until=None,
                sent_at=now if status is ReminderStatus.SENT else stored.sent_at,
            )
        )
        self.notes[key] = note[:300] or "-"
        if status is ReminderStatus.SENT:
            from oncall.adapters.dynamodb.reminders import sent_event

            self.events.append(sent_event(reminder, now, late, note))
        return True

    def release(self, reminder: Reminder) -> None:
        stored = self._current(reminder, same_due=False)
        if stored is not None:
            self.reminders[(reminder.shift_id, reminder.offset_minutes)] = replace(stored, lease_until=None)


class FakeScheduleFacts:
    """``ScheduleFacts`` for reminder texts: schedule names and who hands over."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.handovers: dict[tuple[str, datetime], str] = {}

    def schedule_name(self, schedule_id: str) -> str | None:
        return self.names.get(schedule_id)

    def handover_from(self, schedule_id: str, start: datetime, shift_id: str) -> str | None:
        return self.handovers.get((schedule_id, start))


# -- schedules -------------------------------------------------------------------------------------------------------


def _at_sk(start: datetime, shift_id: str) -> str:
    return f"AT#{sort_key(start)}#{shift_id}"


class FakeScheduleStore:
    """``ScheduleStore`` as the adapter lays it out: one table of ``(pk, sk)`` items in key order, every shift in
    three views (schedule by start, schedule by id, person by start), guard versions on the schedule and on each
    person, tombstones for removed rotation slots. ``apply`` is one all-or-nothing write under the adapter's
    conditions: a guard that moved is ``VersionConflict``, a shift id already taken (or tombstoned) ``ShiftExists``.
    The outbox events a write announces are kept in ``events``."""

    #: the adapter's transaction bound
    MAX_ITEMS = 100

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[DomainEvent] = []
        self.applied = 0

    # what tests read
    def shifts(self, schedule_id: str) -> list[Shift]:
        """Every shift of the schedule in start order (the schedule view)."""
        return [i["shift"] for i in self._query(f"SCHED#{schedule_id}", "AT#", "AT#~")]

    def person_shifts(self, user_id: str) -> list[Shift]:
        return [i["shift"] for i in self._query(f"USER#{user_id}", "AT#", "AT#~")]

    def guard(self, user_id: str) -> int:
        return int(self.items.get((f"USER#{user_id}", "GUARD"), {}).get("version", 0))

    # the table
    def _query(
        self, pk: str, lo: str, hi: str, *, descending: bool = False, after: str | None = None
    ) -> list[dict[str, Any]]:
        keys = sorted(sk for p, sk in self.items if p == pk and lo <= sk <= hi)
        if descending:
            keys.reverse()
        if after is not None:
            keys = [k for k in keys if (k < after if descending else k > after)]
        return [self.items[(pk, k)] for k in keys]

    def _page(
        self, pk: str, lo: str, hi: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        found = self._query(pk, lo, hi, after=str(cursor["sk"]) if cursor else None)[:limit]
        # a Query that stopped at its Limit hands back where it stopped, even when nothing follows
        last = {"pk": pk, "sk": found[-1]["sk"]} if len(found) == limit and found else None
        return [i["shift"] for i in found], last

    # -- schedules
    def create_schedule(self, schedule: Schedule, now: datetime) -> None:
        key = (f"SCHED#{schedule.id}", "META")
        if key in self.items:
            raise ConditionFailed(f"schedule {schedule.id} exists")
        self.items[key] = {"sk": "META", "schedule": replace(schedule, version=0), "version": 0}

    def get_schedule(self, schedule_id: str) -> Schedule | None:
        pk = f"SCHED#{schedule_id}"
        return self._schedule_at(pk) if (pk, "META") in self.items else None

    def list_schedules(
        self, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None = None
    ) -> tuple[list[Schedule], dict[str, Any] | None]:
        def kind_sort(s: Schedule) -> str:
            return f"{s.name.lower()}#{s.id}"

        every = sorted(
            (self._schedule_at(pk) for pk, sk in self.items if sk == "META" and pk.startswith("SCHED#")), key=kind_sort
        )
        every = [s for s in every if teams is None or team_of(s.team_id) in teams]
        if cursor:
            every = [s for s in every if kind_sort(s) > str(cursor["after"])]
        found = every[:limit]
        return found, ({"after": kind_sort(found[-1])} if len(every) > limit and found else None)

    def team_owns_anything(self, team_id: str) -> bool:
        return any(
            self._schedule_at(pk).team_id == team_id
            for pk, sk in self.items
            if sk == "META" and pk.startswith("SCHED#")
        )

    def _schedule_at(self, pk: str) -> Schedule:
        item = self.items[(pk, "META")]
        schedule: Schedule = item["schedule"]
        return replace(schedule, version=item["version"])

    def update_schedule(self, schedule: Schedule) -> None:
        item = self.items.get((f"SCHED#{schedule.id}", "META"))
        if item is None:
            raise ConditionFailed(f"schedule {schedule.id} does not exist")
        stored: Schedule = item["schedule"]
        # name and time zone are set; a team of None leaves the stored team as it is
        item["schedule"] = replace(
            stored,
            name=schedule.name,
            timezone=schedule.timezone,
            team=schedule.team or stored.team,
            team_id=schedule.team_id or stored.team_id,
        )

    def delete_schedule_record(self, schedule: Schedule) -> None:
        pk = f"SCHED#{schedule.id}"
        leftovers = [sk for p, sk in self.items if p == pk and sk != "META"]
        if any(sk.startswith("AT#") for sk in leftovers):
            raise VersionConflict("shifts were added while the schedule was being deleted")
        for sk in leftovers:
            del self.items[(pk, sk)]
        meta = self.items.get((pk, "META"))
        if meta is None or meta["version"] != schedule.version:
            raise VersionConflict("the schedule changed while being deleted")
        del self.items[(pk, "META")]

    # -- guards and neighbours
    def guards(self, schedule_id: str, user_ids: Sequence[str]) -> tuple[Schedule | None, dict[str, int]]:
        return self.get_schedule(schedule_id), {u: self.guard(u) for u in user_ids}

    def _before(self, pk: str, upper: str) -> Shift | None:
        found = self._query(pk, "AT#", upper, descending=True)
        return found[0]["shift"] if found else None

    def _neighbours(self, pk: str, window: Interval, limit: int) -> list[Shift]:
        before = self._before(pk, f"AT#{sort_key(window.start)}")
        inside = self._query(pk, f"AT#{sort_key(window.start)}", f"AT#{sort_key(window.end)}")[:limit]
        return ([before] if before else []) + [i["shift"] for i in inside]

    def schedule_neighbours(self, schedule_id: str, window: Interval, limit: int) -> list[Shift]:
        return self._neighbours(f"SCHED#{schedule_id}", window, limit)

    def user_neighbours(self, user_id: str, window: Interval, limit: int) -> list[Shift]:
        return self._neighbours(f"USER#{user_id}", window, limit)

    def _list(
        self, pk: str, window: Interval, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        head: list[Shift] = []
        if cursor is None:
            before = self._before(pk, f"AT#{sort_key(window.start)}")
            if before is not None and before.end > window.start:
                head = [before]
        found, last = self._page(pk, f"AT#{sort_key(window.start)}", f"AT#{sort_key(window.end)}", limit, cursor)
        return head + found, last

    def schedule_shifts(
        self, schedule_id: str, window: Interval, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        return self._list(f"SCHED#{schedule_id}", window, limit, cursor)

    def user_shifts(
        self, user_id: str, window: Interval, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]:
        return self._list(f"USER#{user_id}", window, limit, cursor)

    def _all(self, pk: str, window: Interval) -> list[Shift]:
        out, cursor = self._list(pk, window, 500, None)
        while cursor:
            more, cursor = self._list(pk, window, 500, cursor)
            out += more
        return out

    def schedule_window(self, schedule_id: str, window: Interval) -> list[Shift]:
        return self._all(f"SCHED#{schedule_id}", window)

    def user_window(self, user_id: str, window: Interval) -> list[Shift]:
        return self._all(f"USER#{user_id}", window)

    def on_call(self, schedule_id: str, at: datetime) -> Shift | None:
        latest = self._before(f"SCHED#{schedule_id}", f"AT#{sort_key(at)}#~")
        return latest if latest is not None and latest.end > at else None

    def get_shift(self, schedule_id: str, shift_id: str) -> Shift | None:
        item = self.items.get((f"SCHED#{schedule_id}", f"SHIFT#{shift_id}"))
        return item["shift"] if item and "state" not in item else None

    def known_ids(self, schedule_id: str, shift_ids: Sequence[str]) -> set[str]:
        return {i for i in shift_ids if (f"SCHED#{schedule_id}", f"SHIFT#{i}") in self.items}

    # -- the one write path
    @staticmethod
    def _views(shift: Shift) -> list[tuple[str, str]]:
        return [
            (f"SCHED#{shift.schedule_id}", _at_sk(shift.start, shift.id)),
            (f"SCHED#{shift.schedule_id}", f"SHIFT#{shift.id}"),
            (f"USER#{shift.user_id}", _at_sk(shift.start, shift.id)),
        ]

    def apply(self, change: Change) -> None:
        writes: dict[tuple[str, str], dict[str, Any] | None] = {}
        for old in change.deletes:
            for pk, sk in self._views(old):
                tombstone = sk.startswith("SHIFT#") and old.rotation_id and not change.purge
                writes[(pk, sk)] = {"sk": sk, "state": "deleted", "id": old.id} if tombstone else None
        replaced = {old.id for old in change.deletes}
        must_be_new: list[tuple[str, str]] = []
        for new in change.puts:
            stored = _stored_shift(new)
            for pk, sk in self._views(new):
                writes[(pk, sk)] = {"sk": sk, "shift": stored}
                if sk.startswith("SHIFT#") and new.id not in replaced:
                    must_be_new.append((pk, sk))
        size = 1 + len(change.user_versions) + len(writes) + len(change.events)
        if size > self.MAX_ITEMS:
            raise ValueError(f"a change of {size} items exceeds the 100-item transaction limit")
        # every condition is judged on the table as it was before the write
        meta = self.items.get((f"SCHED#{change.schedule_id}", "META"))
        if meta is None or meta["version"] != change.schedule_version:
            raise VersionConflict("schedule guard")
        for user_id, read in change.user_versions.items():
            guard = self.items.get((f"USER#{user_id}", "GUARD"))
            if (guard is None and read != 0) or (guard is not None and guard["version"] != read):
                raise VersionConflict(f"guard of {user_id}")
        if any(key in self.items for key in must_be_new):
            raise ShiftExists("a shift id is taken")
        meta["version"] += 1
        for user_id, read in change.user_versions.items():
            self.items[(f"USER#{user_id}", "GUARD")] = {"sk": "GUARD", "version": read + 1}
        for key, item in writes.items():
            if item is None:
                self.items.pop(key, None)
            else:
                self.items[key] = item
        for event_type, shift in change.events:
            self.events.append(
                DomainEvent(
                    entity_type="shift",
                    entity_id=shift.id,
                    version=shift.version,
                    detail_type=event_type,
                    snapshot=shift.to_dict(),
                    occurred_at=change.now or shift.start,
                    resources=(f"schedule/{shift.schedule_id}",),
                )
            )
        self.applied += 1

    # -- rotations
    def put_rotation(self, rotation: Rotation) -> None:
        self.items[(f"SCHED#{rotation.schedule_id}", f"ROT#{rotation.id}")] = {
            "sk": f"ROT#{rotation.id}",
            "rotation": _stored_rotation(rotation),
        }

    def get_rotation(self, schedule_id: str, rotation_id: str) -> Rotation | None:
        item = self.items.get((f"SCHED#{schedule_id}", f"ROT#{rotation_id}"))
        return item["rotation"] if item else None

    def list_rotations(self, schedule_id: str) -> list[Rotation]:
        return [i["rotation"] for i in self._query(f"SCHED#{schedule_id}", "ROT#", "ROT#~")]

    def delete_rotation(self, schedule_id: str, rotation_id: str) -> None:
        self.items.pop((f"SCHED#{schedule_id}", f"ROT#{rotation_id}"), None)

    def all_rotations(self) -> list[Rotation]:
        every = [i["rotation"] for i in self.items.values() if "rotation" in i]
        return sorted(every, key=lambda r: f"{r.schedule_id}#{r.id}")

    # -- calendar feed tokens
    def feed_token_hash(self, owner: str) -> str | None:
        item = self.items.get((owner, "FEED"))
        return str(item["token_sha256"]) if item else None

    def set_feed_token_hash(self, owner: str, token_hash: str) -> None:
        self.items[(owner, "FEED")] = {"sk": "FEED", "token_sha256": token_hash}


def _stored_shift(shift: Shift) -> Shift:
    # times are kept as fixed-width UTC text
    return replace(shift, start=from_sort_key(sort_key(shift.start)), end=from_sort_key(sort_key(shift.end)))


def _stored_rotation(rotation: Rotation) -> Rotation:
    def utc(value: datetime | None) -> datetime | None:
        return from_sort_key(sort_key(value)) if value is not None else None

    start = utc(rotation.start)
    assert start is not None
    return replace(rotation, start=start, end=utc(rotation.end), effective_from=utc(rotation.effective_from))


class FakePersonNames:
    """``PersonNames``: display names of people who exist; a deleted person is unknown."""

    def __init__(self, **names: str) -> None:
        self.names = dict(names)

    def name_of(self, user_id: str) -> str | None:
        return self.names.get(user_id)


# -- alerts ----------------------------------------------------------------------------------------------------------


@dataclass
class StoredClaim:
    """The ``GRP#<service>#<group>`` / ``CLAIM`` item: which incident a group of alerts feeds, until when."""

    incident_id: str
    live_until: int
    open_keys: set[str]


class FakeAlertStore:
    """``AlertStore``: group claims, alert keys, per-service minute windows and parked events, under the adapter's
    conditions. A claim written with an incident (``AlertClaim``) becomes a ``Guard`` here that the fake incident
    store checks and writes in the same all-or-nothing step, as the adapter's items ride in the incident's
    transaction: build the incident store with ``FakeIncidentStore(alerts=this)``."""

    def __init__(self) -> None:
        self.claims: dict[tuple[str, str], StoredClaim] = {}
        self.keys: dict[tuple[str, str], KeyRef] = {}
        self.windows: dict[tuple[str, int], int] = {}
        self.parked: list[tuple[str, str, Any]] = []

    def claim(self, service_id: str, group: str) -> alert_ports.GroupClaim | None:
        stored = self.claims.get((service_id, group))
        if stored is None:
            return None
        return alert_ports.GroupClaim(
            stored.incident_id, datetime.fromtimestamp(stored.live_until, UTC), frozenset(stored.open_keys)
        )

    def taking(self, claim: AlertClaim, incident_id: str) -> Guard:
        """The group taken for a new incident: held by nobody, expired at ``claim.at``, or still naming the stale
        incident."""
        where = (claim.service_id, claim.group)

        def holds() -> bool:
            stored = self.claims.get(where)
            return (
                stored is None
                or stored.live_until <= _epoch(claim.at)
                or (claim.stale is not None and stored.incident_id == claim.stale)
            )

        def write() -> None:
            # a put: the keys the group had open for an older incident are not carried over
            keys = {claim.key} if claim.key is not None else set()
            self.claims[where] = StoredClaim(incident_id, _epoch(claim.live_until), keys)
            if claim.key is not None:
                self.keys[(claim.service_id, claim.key)] = KeyRef(incident_id, claim.group)

        return Guard(holds, write)

    def joining(self, claim: AlertClaim, incident_id: str) -> Guard | None:
        """The alert's key recorded as open on a claim still naming ``incident_id`` (nothing for a keyless one)."""
        if claim.key is None:
            return None
        key, where = claim.key, (claim.service_id, claim.group)

        def holds() -> bool:
            stored = self.claims.get(where)
            return stored is not None and stored.incident_id == incident_id

        def write() -> None:
            self.claims[where].open_keys.add(key)
            self.keys[(claim.service_id, key)] = KeyRef(incident_id, claim.group)

        return Guard(holds, write)

    def key(self, service_id: str, key: str) -> KeyRef | None:
        return self.keys.get((service_id, key))

    def join(self, service_id: str, group: str, incident_id: str, keys: Sequence[str], live_until: datetime) -> bool:
        for k in keys:  # the key records first, as the adapter writes them
            self.keys[(service_id, k)] = KeyRef(incident_id, group)
        stored = self.claims.get((service_id, group))
        if stored is None or stored.incident_id != incident_id:
            return False
        stored.open_keys.update(keys)
        return True

    def refs(self, service_id: str, keys: Sequence[str]) -> dict[str, KeyRef]:
        return {k: self.keys[(service_id, k)] for k in keys if (service_id, k) in self.keys}

    def release_many(
        self, service_id: str, group: str, incident_id: str, keys: Sequence[str]
    ) -> tuple[frozenset[str], int] | None:
        stored = self.claims.get((service_id, group))
        if stored is None or stored.incident_id != incident_id:
            return None
        released = frozenset(stored.open_keys & set(keys))
        stored.open_keys -= set(keys)
        return released, len(stored.open_keys)

    def release(self, service_id: str, group: str, incident_id: str, key: str) -> int | None:
        stored = self.claims.get((service_id, group))
        if stored is None or stored.incident_id != incident_id or key not in stored.open_keys:
            return None
        stored.open_keys.discard(key)
        return len(stored.open_keys)

    def take(self, service_id: str, count: int, limit: int, now: datetime) -> bool:
        if count > limit:
            return False
        minute = _epoch(now) // 60
        n = self.windows.get((service_id, minute))
        if n is not None and n > limit - count:
            return False
        self.windows[(service_id, minute)] = (n or 0) + count
        return True

    def park(self, event_id: str, reason: str, event: Any, now: datetime) -> None:
        self.parked.append((event_id, reason[:2000], _json(event)))
