"""Ports the outgoing webhooks depend on: the store of subscriptions and deliveries, the SSRF-guarded HTTP sender and
URL check, the job queue that carries attempt jobs, and the delivery settings the dispatcher reads."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from oncall.domain.events import DomainEvent
from oncall.domain.webhooks import Attempt, DeliveryStatus, Subscription, WebhookDelivery


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


class AttemptInFlight(Exception):
    """Another invocation holds this attempt's lease (or crashed holding it): try the job again after the lease."""


class WebhookStore(Protocol):
    def create(self, sub: Subscription) -> None: ...
    def get(self, subscription_id: str) -> Subscription | None: ...
    def paginate(
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
    #: retrying cannot help (the SSRF guard refused the target by policy): the delivery is dead-lettered at once
    final: bool = False


class Sender(Protocol):
    def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult: ...


class UrlGuard(Protocol):
    def __call__(self, url: str) -> None:
        """Raise ``InvalidInput("url", ...)`` for a URL we must not send to."""
        ...


class JobQueue(Protocol):
    def send(self, job: Mapping[str, Any], delay_seconds: int) -> None: ...


class DeliverySettings(Protocol):
    """What the dispatcher reads of ``WebhookSettings`` (``oncall.services.webhooks``)."""

    @property
    def retry_schedule(self) -> tuple[int, ...]: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def disable_after_dead(self) -> int: ...
    @property
    def lease(self) -> timedelta: ...
    @property
    def sweep_grace(self) -> timedelta: ...
    @property
    def sweep_batch(self) -> int: ...
