"""Outgoing webhooks: subscriptions (admin API) and reliable, signed delivery (the notifier).

Delivery path (DESIGN §1, §3): a bus rule puts ``incident.*``, ``shift.*`` and ``reminder.sent`` events on the
notifier's SQS queue. For each event ``fan_out`` stores one delivery per interested subscription (id derived from
event and subscription, so a duplicated event creates nothing new) and queues one *attempt job* per delivery. An
attempt job claims its attempt (conditional write), POSTs the signed body through the SSRF guard and records the
outcome; a failure queues the next attempt with an SQS delay after the configured schedule (``DelaySeconds`` is at
most 15 minutes, so longer waits are chained: a job that arrives early is re-queued with the rest of its wait; no
Lambda ever sleeps). When the schedule is spent the delivery is dead-lettered, listed at
``GET /webhooks/{id}/deliveries`` and can be redelivered; a subscription whose deliveries die
``disable_after_dead`` times in a row is disabled and a ``webhook.disabled`` event is published (outbox).

Every attempt of one delivery carries the same ``webhook-id``: receivers deduplicate on it (Standard Webhooks).

A delivery is stored before its job is queued, and queued jobs live only in SQS: a crash between the two, or a local
runner restart (the emulator keeps queues in memory), leaves a pending delivery nothing will attempt. ``sweep`` (the
notifier on a schedule) re-queues a job for each pending delivery overdue by more than ``sweep_grace``; the requeue
is a conditional write, so concurrent sweeps queue one job, and the attempt claim still makes a duplicate job send
nothing.
"""

from __future__ import annotations

import json
import logging
import secrets as _secrets
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from oncall.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound
from oncall.domain.events import DomainEvent
from oncall.domain.webhooks import (
    DEFAULT_RETRY_SCHEDULE,
    MAX_TIMEOUT_S,
    SECRET_BYTES,
    Attempt,
    DeliveryStatus,
    Subscription,
    WebhookDelivery,
    check_events,
    check_url_shape,
    delivery_id,
    headers,
    is_success,
    new_secret,
    next_delay,
    parse_schedule,
    queue_delay,
)

log = logging.getLogger("oncall.webhooks")

JOB_KIND = "webhook.attempt"


@dataclass(frozen=True)
class OverdueDelivery:
    subscription_id: str
    delivery_id: str
    #: attempts claimed so far
    attempts: int
    #: when its next attempt was due
    due: datetime
    #: set while an attempt holds (or a crashed one held) the delivery
    lease_until: datetime | None
    #: the due marker as read: the requeue is conditional on it being unchanged
    token: str


@dataclass(frozen=True)
class SweepResult:
    found: int
    requeued: int
    #: overdue but an attempt is in flight, or another sweep / attempt got there first
    skipped: int


class AttemptInFlight(Exception):
    """Another invocation holds this attempt's lease (or crashed holding it): try the job again after the lease."""


# -- ports ---------------------------------------------------------------------------------------------------------


class WebhookStore(Protocol):
    def create(self, sub: Subscription) -> None: ...
    def get(self, subscription_id: str) -> Subscription | None: ...
    def page(
        self, limit: int, cursor: Mapping[str, Any] | None
    ) -> tuple[list[Subscription], dict[str, Any] | None]: ...
    def all(self) -> Iterator[Subscription]: ...
    def delete(self, subscription_id: str) -> bool: ...
    def rotate(self, sub: Subscription, secret: str, previous_until: datetime) -> bool: ...
    def record_success(self, subscription_id: str) -> None: ...
    def record_dead(self, subscription_id: str) -> Subscription | None: ...
    def disable(self, sub: Subscription, reason: str, event: DomainEvent) -> bool: ...
    def enable(self, sub: Subscription) -> None: ...
    def add_delivery(self, delivery: WebhookDelivery) -> bool: ...
    def delivery(self, subscription_id: str, delivery_id: str) -> WebhookDelivery | None: ...
    def deliveries(
        self, subscription_id: str, limit: int, cursor: Mapping[str, Any] | None, status: str | None = None
    ) -> tuple[list[WebhookDelivery], dict[str, Any] | None]: ...
    def claim(
        self, subscription_id: str, delivery_id: str, attempts_made: int, now: datetime, lease: timedelta
    ) -> WebhookDelivery | None:
        """The delivery with ``attempts_made + 1`` recorded, or None when that attempt was made already (a duplicate
        job). Raises ``AttemptInFlight`` while another claimant's lease on it runs."""
        ...

    def finish(
        self, delivery: WebhookDelivery, attempt: Attempt, status: DeliveryStatus, next_attempt_at: datetime | None
    ) -> None: ...
    def cancel(self, delivery: WebhookDelivery, reason: str, now: datetime) -> None: ...
    def reopen(self, delivery: WebhookDelivery, now: datetime) -> WebhookDelivery | None: ...
    def overdue(self, cutoff: datetime, limit: int) -> list[OverdueDelivery]: ...
    def mark_requeued(self, overdue: OverdueDelivery, now: datetime) -> bool: ...


@dataclass(frozen=True)
class SendResult:
    #: HTTP status, or None when no response came (refused by the SSRF guard, timeout, connection error)
    status: int | None
    detail: str
    duration_ms: int


class Sender(Protocol):
    def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult: ...


class UrlGuard(Protocol):
    def __call__(self, url: str) -> None:
        """Raise ``InvalidInput("url", ...)`` for a URL we must not send to."""
        ...


class JobQueue(Protocol):
    def send(self, job: Mapping[str, Any], delay_seconds: int) -> None: ...


# -- settings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookSettings:
    #: seconds to wait after the 1st, 2nd, ... failed attempt; attempts = 1 + len(schedule)
    retry_schedule: tuple[int, ...] = DEFAULT_RETRY_SCHEDULE
    timeout_s: float = 10.0
    #: dead letters in a row after which a subscription is disabled
    disable_after_dead: int = 5
    #: how long the previous secret still signs after a rotation
    rotation_overlap: timedelta = timedelta(hours=24)
    #: protects an attempt in flight; must exceed the timeout (a crash mid-attempt is retried after it)
    lease: timedelta = timedelta(seconds=60)
    #: a pending delivery this far past its due time has lost its job: the sweep queues another
    sweep_grace: timedelta = timedelta(minutes=10)
    #: most deliveries one sweep re-queues (the rest wait for the next run)
    sweep_batch: int = 500

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebhookSettings:
        values: dict[str, Any] = {}
        if env.get("ONCALL_WEBHOOK_LEASE_SECONDS"):
            values["lease"] = timedelta(seconds=float(env["ONCALL_WEBHOOK_LEASE_SECONDS"]))
        if "ONCALL_WEBHOOK_RETRY_SCHEDULE" in env:  # an empty value means: no retries
            values["retry_schedule"] = parse_schedule(env["ONCALL_WEBHOOK_RETRY_SCHEDULE"])
        if env.get("ONCALL_WEBHOOK_TIMEOUT_SECONDS"):
            timeout = float(env["ONCALL_WEBHOOK_TIMEOUT_SECONDS"])
            if not 0 < timeout <= MAX_TIMEOUT_S:
                raise ValueError(f"ONCALL_WEBHOOK_TIMEOUT_SECONDS must be in (0, {MAX_TIMEOUT_S:g}]")
            values["timeout_s"] = timeout
        if env.get("ONCALL_WEBHOOK_DISABLE_AFTER"):
            values["disable_after_dead"] = max(1, int(env["ONCALL_WEBHOOK_DISABLE_AFTER"]))
        if env.get("ONCALL_WEBHOOK_SWEEP_GRACE_SECONDS"):
            values["sweep_grace"] = timedelta(seconds=float(env["ONCALL_WEBHOOK_SWEEP_GRACE_SECONDS"]))
        if env.get("ONCALL_WEBHOOK_SWEEP_BATCH"):
            values["sweep_batch"] = max(1, int(env["ONCALL_WEBHOOK_SWEEP_BATCH"]))
        if env.get("ONCALL_WEBHOOK_ROTATION_OVERLAP_SECONDS"):
            values["rotation_overlap"] = timedelta(seconds=int(env["ONCALL_WEBHOOK_ROTATION_OVERLAP_SECONDS"]))
        return cls(**values)


# -- the service ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttemptOutcome:
    #: sent | retry | dead | cancelled | duplicate | requeued | missing
    result: str
    delivery_id: str
    status: int | None = None


@dataclass
class WebhookService:
    store: WebhookStore
    sender: Sender
    jobs: JobQueue
    guard: UrlGuard
    settings: WebhookSettings = field(default_factory=WebhookSettings)
    random_bytes: Callable[[int], bytes] = _secrets.token_bytes
    new_id: Callable[[], str] = lambda: "wh_" + uuid.uuid4().hex[:20]

    # -- subscriptions (admin API) -------------------------------------------------------------------------------
    def create(self, url: str, events: Sequence[str], now: datetime, description: str | None = None) -> Subscription:
        url = check_url_shape(url)
        self.guard(url)
        sub = Subscription(
            id=self.new_id(),
            url=url,
            events=check_events(events),
            secret=new_secret(self.random_bytes(SECRET_BYTES)),
            created_at=now,
            description=description,
        )
        self.store.create(sub)
        return sub

    def get(self, subscription_id: str) -> Subscription:
        sub = self.store.get(subscription_id)
        if sub is None:
            raise NotFound("webhook", subscription_id)
        return sub

    def page(self, limit: int, cursor: Mapping[str, Any] | None) -> tuple[list[Subscription], dict[str, Any] | None]:
        return self.store.page(limit, cursor)

    def delete(self, subscription_id: str) -> None:
        if not self.store.delete(subscription_id):
            raise NotFound("webhook", subscription_id)

    def rotate_secret(self, subscription_id: str, now: datetime) -> Subscription:
        """A new secret; the old one keeps signing (second signature) for ``rotation_overlap``."""
        for _ in range(3):
            sub = self.get(subscription_id)
            secret = new_secret(self.random_bytes(SECRET_BYTES))
            until = now + self.settings.rotation_overlap
            if self.store.rotate(sub, secret, until):
                return replace(
                    sub, secret=secret, previous_secret=sub.secret, previous_until=until, version=sub.version + 1
                )
        raise ConcurrentUpdate("the webhook changed while rotating its secret; try again")

    def deliveries(
        self, subscription_id: str, limit: int, cursor: Mapping[str, Any] | None, status: str | None = None
    ) -> tuple[list[WebhookDelivery], dict[str, Any] | None]:
        self.get(subscription_id)
        if status is not None and status not in {s.value for s in DeliveryStatus}:
            raise InvalidInput("status", f"one of {sorted(s.value for s in DeliveryStatus)}")
        return self.store.deliveries(subscription_id, limit, cursor, status)

    def redeliver(self, subscription_id: str, delivery_id_: str, now: datetime) -> WebhookDelivery:
        """Start a finished delivery over (same ``webhook-id``, fresh schedule). Redelivering to a disabled
        subscription re-enables it: the admin is saying the receiver is back."""
        sub = self.get(subscription_id)
        delivery = self.store.delivery(subscription_id, delivery_id_)
        if delivery is None:
            raise NotFound("delivery", delivery_id_)
        if delivery.status is DeliveryStatus.PENDING:
            raise Conflict("the delivery is still being attempted", status=delivery.status.value)
        if not sub.enabled:
            self.store.enable(sub)
        reopened = self.store.reopen(delivery, now)
        if reopened is None:
            raise Conflict("the delivery was redelivered concurrently")
        self.jobs.send(self._job(reopened, 0, now), 0)
        return reopened

    # -- delivery (the notifier) ---------------------------------------------------------------------------------
    def fan_out(self, event: Mapping[str, Any], now: datetime) -> list[str]:
        """Store and queue one delivery per subscription that wants this bus event; returns their ids."""
        event_type = str(event.get("detail-type") or "")
        event_id = str(event.get("id") or "")
        if not event_type or not event_id:
            raise ValueError("not an EventBridge event (no id or detail-type)")
        wanted = [s for s in self.store.all() if s.wants(event_type)]
        if not wanted:
            return []
        body = json.dumps(
            {"type": event_type, "timestamp": event.get("time") or now.isoformat(), "data": event.get("detail") or {}},
            separators=(",", ":"),
        )
        stamp = _compact(event.get("time"), now)
        ids = []
        for sub in wanted:
            delivery = WebhookDelivery(
                id=f"msg_{stamp}_{delivery_id(event_id, sub.id)[4:]}",
                subscription_id=sub.id,
                event_type=event_type,
                event_id=event_id,
                body=body,
                status=DeliveryStatus.PENDING,
                created_at=now,
            )
            created = self.store.add_delivery(delivery)
            if not created:
                existing = self.store.delivery(sub.id, delivery.id)
                # already queued by an earlier copy of this event, unless that copy died before queueing its job
                if existing is None or existing.status is not DeliveryStatus.PENDING or existing.attempts > 0:
                    continue
            # a job queued twice is harmless: the attempt claim lets one of them through
            self.jobs.send(self._job(delivery, 0, now), 0)
            ids.append(delivery.id)
        return ids

    def attempt(self, job: Mapping[str, Any], now: datetime) -> AttemptOutcome:
        sub_id, dlv_id = str(job["subscription_id"]), str(job["delivery_id"])
        attempts_made = int(job.get("attempts_made", 0))
        due = _parse_time(job.get("due"))
        if due is not None and due > now:
            # a chained wait: longer than one SQS delay allows, or the queue delivered early
            self.jobs.send(dict(job), queue_delay(due, now))
            return AttemptOutcome("requeued", dlv_id)
        delivery = self.store.delivery(sub_id, dlv_id)
        if delivery is None:
            return AttemptOutcome("missing", dlv_id)
        sub = self.store.get(sub_id)
        if sub is None or not sub.enabled:
            self.store.cancel(delivery, "subscription deleted" if sub is None else "subscription disabled", now)
            return AttemptOutcome("cancelled", dlv_id)
        claimed = self.store.claim(sub_id, dlv_id, attempts_made, now, self.settings.lease)
        if claimed is None:
            return AttemptOutcome("duplicate", dlv_id)
        body = claimed.body.encode()
        timestamp = int(now.timestamp())
        result = self.sender.send(
            sub.url, headers(sub.signing_secrets(now), claimed.id, timestamp, body), body, self.settings.timeout_s
        )
        ok = is_success(result.status)
        attempt = Attempt(at=now, status=result.status, ok=ok, detail=result.detail, duration_ms=result.duration_ms)
        if ok:
            self.store.finish(claimed, attempt, DeliveryStatus.SUCCEEDED, None)
            if sub.consecutive_dead:
                self.store.record_success(sub.id)
            return AttemptOutcome("sent", dlv_id, result.status)
        delay = next_delay(self.settings.retry_schedule, claimed.attempts)
        if delay is not None:
            due_next = now + timedelta(seconds=delay)
            self.store.finish(claimed, attempt, DeliveryStatus.PENDING, due_next)
            self.jobs.send(self._job(claimed, claimed.attempts, due_next), queue_delay(due_next, now))
            log.info(
                "webhook %s → %s: attempt %d failed (%s); next in %ss",
                dlv_id,
                sub.url,
                claimed.attempts,
                result.detail,
                delay,
            )
            return AttemptOutcome("retry", dlv_id, result.status)
        self.store.finish(claimed, attempt, DeliveryStatus.DEAD, None)
        log.warning("webhook %s → %s: dead-lettered after %d attempts", dlv_id, sub.url, claimed.attempts)
        self._count_dead(sub.id, now)
        return AttemptOutcome("dead", dlv_id, result.status)

    def sweep(self, now: datetime) -> SweepResult:
        """Re-queue an attempt job for every pending delivery overdue by more than ``sweep_grace``."""
        found = self.store.overdue(now - self.settings.sweep_grace, self.settings.sweep_batch)
        requeued = skipped = 0
        for item in found:
            if item.lease_until is not None and item.lease_until >= now:
                skipped += 1  # an attempt is running; its own outcome reschedules it
                continue
            # an expired lease is a claimant that crashed: its attempt is claimable again (see WebhookStore.claim)
            attempts_made = item.attempts - 1 if item.lease_until is not None else item.attempts
            if not self.store.mark_requeued(item, now):
                skipped += 1
                continue
            # sent after the mark: a crash in between is found again one grace later. The job's own due time is
            # the delivery's (past) one, so even a sweep acting for a later moment queues a job that runs at once.
            self.jobs.send(self._job_for(item.subscription_id, item.delivery_id, max(0, attempts_made), item.due), 0)
            requeued += 1
        if requeued:
            log.warning("webhook sweep: re-queued %d overdue deliveries (%d skipped)", requeued, skipped)
        return SweepResult(found=len(found), requeued=requeued, skipped=skipped)

    def _count_dead(self, subscription_id: str, now: datetime) -> None:
        sub = self.store.record_dead(subscription_id)
        if sub is None or not sub.enabled or sub.consecutive_dead < self.settings.disable_after_dead:
            return
        reason = f"{sub.consecutive_dead} deliveries in a row were dead-lettered"
        snapshot = {
            "id": sub.id,
            "url": sub.url,
            "events": list(sub.events),
            "enabled": False,
            "disabled_reason": reason,
            "consecutive_dead": sub.consecutive_dead,
            "version": sub.version + 1,
        }
        event = DomainEvent(
            entity_type="webhook",
            entity_id=sub.id,
            version=sub.version + 1,
            detail_type="webhook.disabled",
            snapshot=snapshot,
            occurred_at=now,
        )
        if self.store.disable(sub, reason, event):
            log.warning("webhook %s disabled: %s", sub.id, reason)

    def _job(self, delivery: WebhookDelivery, attempts_made: int, due: datetime) -> dict[str, Any]:
        return self._job_for(delivery.subscription_id, delivery.id, attempts_made, due)

    def _job_for(self, subscription_id: str, delivery_id_: str, attempts_made: int, due: datetime) -> dict[str, Any]:
        return {
            "kind": JOB_KIND,
            "subscription_id": subscription_id,
            "delivery_id": delivery_id_,
            "attempts_made": attempts_made,
            "due": due.astimezone(UTC).isoformat(),
        }


def is_job(body: Mapping[str, Any]) -> bool:
    return body.get("kind") == JOB_KIND


def _parse_time(raw: Any) -> datetime | None:
    if not raw:
        return None
    value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _compact(raw: Any, now: datetime) -> str:
    """``20260101T120000Z``: the event time as a sortable prefix of the delivery id (newest-first listing)."""
    try:
        when = _parse_time(raw) or now
    except ValueError:
        when = now
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
