"""Outgoing webhooks: subscriptions (admin API) and reliable, signed delivery (the notifier).

Delivery path (docs/architecture.md, "How an event flows"): a bus rule puts ``incident.*``, ``shift.*`` and
``reminder.sent`` events on the notifier's SQS queue. For each event ``fan_out`` stores one delivery per interested
subscription (id derived from event and subscription, so a duplicated event creates nothing new) and queues one
*attempt job* per delivery. An attempt job claims its attempt (conditional write), POSTs the signed body through the
SSRF guard and records the outcome; a failure queues the next attempt with an SQS delay after the configured schedule
(``DelaySeconds`` is at most 15 minutes, so longer waits are chained: a job that arrives early is re-queued with the
rest of its wait; no Lambda ever sleeps). When the schedule is spent the delivery is dead-lettered, listed at
``GET /webhooks/{id}/deliveries`` and can be redelivered; a subscription whose deliveries die ``disable_after_dead``
times in a row is disabled and a ``webhook.disabled`` event is published (outbox).

Every attempt of one delivery carries the same ``webhook-id``: receivers deduplicate on it (Standard Webhooks).

This module holds the subscriptions (the admin API) and ``WebhookService``, the one entry to both; the delivery path
is ``oncall.services.webhook_dispatch`` and the ports ``oncall.services.webhook_ports``. Every name callers used
stays importable from here.

A delivery is stored before its job is queued, and queued jobs live only in SQS: a crash between the two, or a local
runner restart (the emulator keeps queues in memory), leaves a pending delivery nothing will attempt. ``sweep`` (the
notifier on a schedule) re-queues a job for each pending delivery overdue by more than ``sweep_grace``; the requeue
is a conditional write, so concurrent sweeps queue one job, and the attempt claim still makes a duplicate job send
nothing.
"""

from __future__ import annotations

import secrets as _secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from oncall.domain.errors import ConcurrentUpdate, Conflict, InvalidInput, NotFound
from oncall.domain.webhooks import (
    DEFAULT_RETRY_SCHEDULE,
    SECRET_BYTES,
    DeliveryStatus,
    Subscription,
    WebhookDelivery,
    check_events,
    check_url_shape,
    new_secret,
)
from oncall.services.audit_ports import NO_AUDIT, Recorder
from oncall.services.webhook_dispatch import (
    JOB_KIND,
    AttemptOutcome,
    SweepResult,
    WebhookDispatcher,
    attempt_job,
    is_job,
)
from oncall.services.webhook_ports import (
    AttemptInFlight,
    JobQueue,
    OverdueDelivery,
    Sender,
    SendResult,
    UrlGuard,
    WebhookStore,
)

__all__ = [
    "JOB_KIND",
    "AttemptInFlight",
    "AttemptOutcome",
    "JobQueue",
    "OverdueDelivery",
    "SendResult",
    "Sender",
    "SweepResult",
    "UrlGuard",
    "WebhookService",
    "WebhookSettings",
    "WebhookStore",
    "is_job",
]


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


@dataclass
class WebhookService:
    store: WebhookStore
    sender: Sender
    jobs: JobQueue
    guard: UrlGuard
    settings: WebhookSettings = field(default_factory=WebhookSettings)
    random_bytes: Callable[[int], bytes] = _secrets.token_bytes
    new_id: Callable[[], str] = lambda: "wh_" + uuid.uuid4().hex[:20]
    audit: Recorder = NO_AUDIT

    # -- subscriptions (admin API) -------------------------------------------------------------------------------
    def create(
        self,
        url: str,
        events: Sequence[str],
        now: datetime,
        description: str | None = None,
        teams: Sequence[str] = (),
        actor_id: str | None = None,
    ) -> Subscription:
        url = check_url_shape(url)
        self.guard(url)
        sub = Subscription(
            id=self.new_id(),
            url=url,
            events=check_events(events),
            secret=new_secret(self.random_bytes(SECRET_BYTES)),
            created_at=now,
            description=description,
            teams=tuple(dict.fromkeys(teams)),
        )
        with self.audit(actor_id, "webhook.created", sub.id, None, _audited(sub)):
            self.store.create(sub)
        return sub

    def get(self, subscription_id: str) -> Subscription:
        sub = self.store.get(subscription_id)
        if sub is None:
            raise NotFound("webhook", subscription_id)
        return sub

    def paginate(
        self, limit: int, cursor: Mapping[str, Any] | None
    ) -> tuple[list[Subscription], dict[str, Any] | None]:
        return self.store.paginate(limit, cursor)

    def delete(self, subscription_id: str, actor_id: str | None = None) -> None:
        with self.audit(actor_id, "webhook.deleted", subscription_id, {"id": subscription_id}, None):
            if not self.store.delete(subscription_id):
                raise NotFound("webhook", subscription_id)

    def rotate_secret(self, subscription_id: str, now: datetime, actor_id: str | None = None) -> Subscription:
        """A new secret; the old one keeps signing (second signature) for ``rotation_overlap``."""
        for _ in range(3):
            sub = self.get(subscription_id)
            secret = new_secret(self.random_bytes(SECRET_BYTES))
            until = now + self.settings.rotation_overlap
            with self.audit(
                actor_id, "webhook.secret_rotated", subscription_id, {"secret": sub.secret}, {"secret": secret}
            ):
                rotated = self.store.rotate(sub, secret, until)
            if rotated:
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
        self.jobs.send(attempt_job(reopened, 0, now), 0)
        return reopened

    # -- delivery (the notifier: oncall.services.webhook_dispatch) --------------------------------------------
    def fan_out(self, event: Mapping[str, Any], now: datetime) -> list[str]:
        return self._dispatcher().fan_out(event, now)

    def attempt(self, job: Mapping[str, Any], now: datetime) -> AttemptOutcome:
        return self._dispatcher().attempt(job, now)

    def sweep(self, now: datetime) -> SweepResult:
        return self._dispatcher().sweep(now)

    def _dispatcher(self) -> WebhookDispatcher:
        return WebhookDispatcher(self.store, self.sender, self.jobs, self.settings)


def _audited(sub: Subscription) -> dict[str, Any]:
    """What the audit log keeps of a subscription (its secret only as a redacted mark)."""
    return {
        "url": sub.url,
        "events": list(sub.events),
        "teams": list(sub.teams),
        "description": sub.description,
        "secret": sub.secret,
    }
