"""Reliable, signed delivery of bus events to webhook subscriptions: what the notifier does with each event and each
attempt job, and the sweep that re-queues lost jobs (the module docstring of ``oncall.services.webhooks`` tells the
whole path).

Every attempt of one delivery carries the same ``webhook-id``: receivers deduplicate on it (Standard Webhooks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from oncall import observability
from oncall.domain.events import DomainEvent
from oncall.domain.webhooks import (
    Attempt,
    DeliveryStatus,
    WebhookDelivery,
    delivery_id,
    headers,
    is_success,
    next_delay,
    queue_delay,
)
from oncall.observability import log
from oncall.services.webhook_ports import DeliverySettings, JobQueue, Sender, WebhookStore

JOB_KIND = "webhook.attempt"


@dataclass(frozen=True)
class SweepResult:
    found: int
    requeued: int
    #: overdue but an attempt is in flight, or another sweep / attempt got there first
    skipped: int


@dataclass(frozen=True)
class AttemptOutcome:
    #: sent | retry | dead | cancelled | duplicate | requeued | missing
    result: str
    delivery_id: str
    status: int | None = None


@dataclass
class WebhookDispatcher:
    store: WebhookStore
    sender: Sender
    jobs: JobQueue
    settings: DeliverySettings

    def fan_out(self, event: Mapping[str, Any], now: datetime) -> list[str]:
        """Store and queue one delivery per subscription that wants this bus event; returns their ids."""
        event_type = str(event.get("detail-type") or "")
        event_id = str(event.get("id") or "")
        if not event_type or not event_id:
            raise ValueError("not an EventBridge event (no id or detail-type)")
        detail = event.get("detail")
        team_id = detail.get("team_id") if isinstance(detail, Mapping) else None
        wanted = [s for s in self.store.all() if s.wants(event_type, team_id)]
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
            self.jobs.send(attempt_job(delivery, 0, now), 0)
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
        observability.count(
            "WebhookDeliveries",
            properties={"subscription_id": sub.id, "http_status": result.status},
            outcome="delivered" if ok else "failed",
        )
        attempt = Attempt(at=now, status=result.status, ok=ok, detail=result.detail, duration_ms=result.duration_ms)
        if ok:
            self.store.finish(claimed, attempt, DeliveryStatus.SUCCEEDED, None)
            if sub.consecutive_dead:
                self.store.record_success(sub.id)
            return AttemptOutcome("sent", dlv_id, result.status)
        # a target refused by policy stays refused: retrying it for the whole schedule only hides the problem
        delay = None if result.final else next_delay(self.settings.retry_schedule, claimed.attempts)
        if delay is not None:
            due_next = now + timedelta(seconds=delay)
            self.store.finish(claimed, attempt, DeliveryStatus.PENDING, due_next)
            self.jobs.send(attempt_job(claimed, claimed.attempts, due_next), queue_delay(due_next, now))
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
        log.warning(
            "webhook %s → %s: dead-lettered after %d attempts (%s)", dlv_id, sub.url, claimed.attempts, result.detail
        )
        self._count_dead(sub.id, now)
        observability.count("WebhookDeadLetters", properties={"subscription_id": sub.id, "delivery_id": dlv_id})
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
            self.jobs.send(job_for(item.subscription_id, item.delivery_id, max(0, attempts_made), item.due), 0)
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


def attempt_job(delivery: WebhookDelivery, attempts_made: int, due: datetime) -> dict[str, Any]:
    return job_for(delivery.subscription_id, delivery.id, attempts_made, due)


def job_for(subscription_id: str, delivery_id_: str, attempts_made: int, due: datetime) -> dict[str, Any]:
    """The attempt job after ``attempts_made`` attempts, due at ``due`` (an earlier copy waits out the rest)."""
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
