"""Queued messages: pages and escalations that met a full rate window wait in the delivery log, and a delayed job on
the page queue calls ``flush`` when the window opens. ``flush`` sends everything queued for that person on that
channel as one message (a digest when several), so a storm of N incidents reaches the on-call person in one window
instead of N; what the channel refuses goes to the person's next channels, and what is only busy there is queued
there. A ``QueueListener`` (the lifecycle, for pages) decides before sending whether a message is still wanted and
hears how each one ended.

The send path itself (channels in order, rate windows, fallback) is the notification service's
(``oncall.services.notify``), which this module reaches through ``Router``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from oncall import observability
from oncall.domain.notifications import DIGEST_MAX, Delivery, Message, Recipient, channels_for, digest
from oncall.observability import log
from oncall.services.notify_ports import (
    FLUSH_JOB,
    Channel,
    DeliveryLog,
    NotifySettings,
    Outcome,
    PageQueue,
    QueueListener,
    RateLimiter,
    RecipientDirectory,
    Route,
    own_scopes,
)


def count_delivery(message: Message, status: str, channel: str | None) -> None:
    """``PagesSent`` / ``PagesFailed`` by channel for a delivery that settled (a queued one counts when flushed)."""
    name = {"sent": "PagesSent", "failed": "PagesFailed", "no_channel": "PagesFailed"}.get(status)
    if name is not None:
        properties = {"kind": message.kind.value, "incident_id": message.incident_id}
        observability.count(name, properties=properties, channel=channel or "none")


class Router(Protocol):
    """The notification service's send path, as the queue uses it."""

    def route(
        self,
        user_id: str,
        person: Recipient,
        message: Message,
        names: Sequence[str],
        route: Route,
        now: datetime,
        *,
        window_taken: str | None = None,
    ) -> tuple[str, str] | None: ...

    def send_on(
        self, channel: Channel, address: str, message: Message, *, queues: bool, window_taken: bool = False
    ) -> tuple[Outcome, str, float]: ...


@dataclass
class DeliveryQueue:
    deliveries: DeliveryLog
    people: RecipientDirectory
    limiter: RateLimiter
    router: Router
    settings: NotifySettings
    wall: Callable[[], float]
    sleep: Callable[[float], None]
    #: the registered channels as they are now (a channel may be registered after the service was built)
    channels: Callable[[], Mapping[str, Channel]]
    queue: PageQueue | None

    def schedule(self, user_id: str, key: str, channel: str, delay_s: float) -> None:
        assert self.queue is not None
        self.queue.later({"type": FLUSH_JOB, "user_id": user_id, "key": key, "channel": channel}, delay_s)

    def enqueue(
        self,
        user_id: str,
        message: Message,
        channel: str,
        wait: float,
        context: Mapping[str, Any],
        route: Route,
        now: datetime,
        moved_from: str | None = None,
    ) -> Delivery:
        route.note(channel, "queued", f"waiting {wait:.2f}s for the window")
        self.deliveries.enqueue(user_id, message, channel, context, route.attempts, now, moved_from=moved_from)
        try:
            self.schedule(user_id, message.key, channel, wait)
        except Exception:
            # no job, no send: say failed now rather than leave a page nobody will flush
            log.exception("notify %s → %s: could not queue the flush job", message.key, user_id)
            route.note(channel, "failed", "could not queue the message")
            self.deliveries.settle(user_id, message, channel, "failed", None, route.attempts, now)
            count_delivery(message, "failed", channel)
            return Delivery("failed", channel, None, route.detail)
        log.info("notify %s %s → %s: queued on %s for %.2fs", message.kind.value, message.key, user_id, channel, wait)
        return Delivery("queued", channel, None, route.detail)

    def flush(self, job: Mapping[str, Any], now: datetime, listener: QueueListener | None = None) -> str:
        """Send what is queued for the job's person on its channel, as one message (a digest when several), once the
        channel's window has room; a full window re-queues the job for when it opens. What the channel still refuses
        goes to the person's next channels. Returns what happened (for logs and tests)."""
        user_id, key, channel_name = str(job["user_id"]), str(job["key"]), str(job["channel"])
        if self.deliveries.status_of(user_id, key) not in ("queued", "sending"):
            return "done"  # sent meanwhile, in another job's digest
        channel = self.channels().get(channel_name)
        person = self.people.recipient(user_id)
        address = person.addresses.get(channel_name) if person is not None else None
        scopes = channel.limits(address) if channel is not None and address else []
        # the recipient's own scopes are held for this queue: only its flush takes their next slot
        own = own_scopes(scopes, address) if address else []
        if channel is not None and address and person is not None and channel_name not in person.flagged:
            wait = self.limiter.acquire(scopes, self.wall(), holder=True)
            if wait > 0:
                self.limiter.hold(own, self.wall(), wait)
                if wait <= self.settings.max_wait_s:
                    # the queue's delays are whole seconds and round down: the job comes up to a second before the
                    # window opens and waits the rest here, so a queued page goes out when its slot does
                    self.sleep(wait)
                    wait = self.limiter.acquire(scopes, self.wall(), holder=True)
            if wait > 0:
                self.schedule(user_id, key, channel_name, wait)
                return "waiting"
        most = max(1, min(self.settings.digest_max, DIGEST_MAX))
        taken = self.deliveries.take_queued(user_id, channel_name, now, self.settings.lease, most)
        if len(taken) < most and own:
            # everything that waited is in hand: newer messages may take the window again
            self.limiter.release(own)
        wanted: list[Any] = []
        for item in taken:
            if listener is not None and not listener.wanted(user_id, item.message, item.context):
                cancelled = Delivery("cancelled", channel_name, None, "no longer needed")
                self.deliveries.settle(user_id, item.message, channel_name, "cancelled", None, [], now)
                listener.settled(user_id, item.message, cancelled, item.context, now)
            else:
                wanted.append(item)
        if not wanted:
            return "cancelled" if taken else "done"
        if len(taken) == most:
            # more may be waiting behind this digest: their own jobs may already have run
            self.schedule(user_id, key, channel_name, 1.0)
        if channel is None or person is None or not address or channel_name in person.flagged:
            outcome: Outcome = "failed"
            detail = f"{channel_name} no longer reaches the person"
        else:
            message = wanted[0].message if len(wanted) == 1 else digest([w.message for w in wanted])
            outcome, detail, wait = self.router.send_on(channel, address, message, queues=True, window_taken=True)
            if outcome == "rate_limited" and wait <= self.settings.queue_max_delay_s:
                self.deliveries.requeue(user_id, [w.message.key for w in wanted])
                self.limiter.hold(own, self.wall(), wait)
                self.schedule(user_id, key, channel_name, wait)
                return "waiting"
            if outcome == "blocked":
                self.deliveries.flag(user_id, channel_name, detail[:200], now)
        for item in wanted:
            route = Route()
            route.note(channel_name, outcome, detail)
            delivered: Delivery
            if outcome == "sent":
                delivered = Delivery("sent", channel_name, detail, batch=len(wanted))
            else:
                # the rest of the person's channels, after the one that failed it
                later = self._later_channels(person, item.message, channel_name)
                sent = self.router.route(user_id, person, item.message, later, route, now) if person else None
                if sent is not None:
                    delivered = Delivery("sent", *sent)
                elif route.wait_on is not None:
                    # another channel of theirs is only busy: queue it there
                    other, wait = route.wait_on
                    self.enqueue(user_id, item.message, other, wait, item.context, route, now, moved_from=channel_name)
                    continue
                else:
                    delivered = Delivery("failed", channel_name, None, route.detail)
            self.deliveries.settle(
                user_id,
                item.message,
                delivered.channel or channel_name,
                delivered.status,
                delivered.ref,
                route.attempts,
                now,
            )
            count_delivery(item.message, delivered.status, delivered.channel or channel_name)
            log.info(
                "notify %s %s → %s: %s (queued, %d in one message)",
                item.message.kind.value,
                item.message.key,
                user_id,
                delivered.status,
                len(wanted),
            )
            if listener is not None:
                listener.settled(user_id, item.message, delivered, item.context, now)
        return "sent" if outcome == "sent" else "fallback"

    def _later_channels(self, person: Recipient | None, message: Message, failed: str) -> list[str]:
        if person is None:
            return []
        names = channels_for(message.kind, person, list(self.channels()))
        return names[names.index(failed) + 1 :] if failed in names else [n for n in names if n != failed]
