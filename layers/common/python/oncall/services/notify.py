"""The one notification service: every outbound message (page, escalation, reminder, resolution) goes through here.

``notify(user_id, message, now)``:

1. **dedup**: claims ``(person, message.key)`` with a conditional put (a short lease while sending), so a retried or
   concurrent caller gets ``duplicate`` instead of a second message. A key whose earlier attempt ended ``failed``,
   ``rate_limited`` or ``no_channel`` may be tried again; ``sent`` (and an unexpired ``sending`` lease) may not.
2. **page cap**: pages and escalations of one incident count per person (an atomic counter); past the cap →
   ``capped``.
3. **channels** from the person's rules (``oncall.domain.notifications.channels_for``): preferred order per kind,
   only channels that are registered, that the person has an address for and that are not flagged.
4. **rate limits** shared by every concurrent Lambda: a schedule in DynamoDB for each scope the channel names
   (Telegram: the chat at ~1/s after a burst of two, the bot at ~30/s; ``oncall.domain.notifications.rate_terms``).

   - Pages and escalations (``QUEUED_KINDS``) never wait in-process and are never reported "rate limited": a full
     window *queues* the message (its delivery record says ``queued``, the message waits in a pending item, and a
     delayed job on the page queue calls ``flush`` when the window opens). ``flush`` sends everything queued for
     that person on that channel as one message (``digest``), so a storm of N incidents reaches the on-call person
     in one window instead of N. A wait longer than ``queue_max_delay_s`` (Telegram's flood control) tries the next
     channel first, and queues only when no other channel takes it.
   - Other kinds wait out a short window (≤ ``max_wait_s``), else return ``rate_limited`` for their caller to retry
     (the reminder tick on its next minute, the notifier queue's redelivery).
5. **copies**: once a channel took the message, each channel of the person's ``also`` for the kind gets a copy
   (same claim, no waiting, outcome noted, never edited): "Slack, and SMS too".
6. **fallback**: a channel that fails for this message — permanently (Telegram 403: blocked; the person is flagged on
   that channel) or after its own bounded retries (5xx, network, timeout) — hands the message to the person's next
   channel by their rules at once. Only when every channel has failed is the result ``failed`` (``no_channel`` when
   nothing could even be tried), with each channel's reason in ``Delivery.detail``.
7. **record**: the claim item becomes the delivery record (status, channel, ref, attempts, when).

A caller that queues may pass a ``context`` (the escalation level a page belongs to); ``flush`` hands it back to its
``QueueListener``: ``wanted`` before sending (an incident acknowledged meanwhile is not paged), ``settled`` after the
queued message was finally sent or failed, so the lifecycle learns of a level that turned out unreachable.

Channels are registrations (``channels={"telegram": TelegramChannel(...)}``); each implements ``Channel``. The ports
and settings are ``oncall.services.notify_ports``; the queued messages (enqueue, flush, digests, requeue) are
``oncall.services.notify_queue``, which ``flush`` hands over to.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from oncall import observability
from oncall.domain.notifications import (
    CAPPED_KINDS,
    QUEUED_KINDS,
    Button,
    Delivery,
    Kind,
    Message,
    Recipient,
    Status,
    channels_for,
    copies_for,
    parse_ref,
)
from oncall.observability import log
from oncall.services.notify_ports import (
    FLUSH_JOB,
    Channel,
    ChannelBlocked,
    ChannelFailed,
    ChannelRateLimited,
    DeliveryClaim,
    DeliveryLog,
    NotifySettings,
    Outcome,
    PageQueue,
    Queued,
    QueueListener,
    RateLimiter,
    RecipientDirectory,
    Route,
    own_scopes,
)
from oncall.services.notify_queue import DeliveryQueue, count_delivery

__all__ = [
    "FLUSH_JOB",
    "Button",
    "Channel",
    "ChannelBlocked",
    "ChannelFailed",
    "ChannelRateLimited",
    "Delivery",
    "DeliveryClaim",
    "DeliveryLog",
    "Kind",
    "Message",
    "NotificationService",
    "NotifySettings",
    "PageQueue",
    "QueueListener",
    "Queued",
    "RateLimiter",
    "Recipient",
    "RecipientDirectory",
]


@dataclass
class NotificationService:
    deliveries: DeliveryLog
    people: RecipientDirectory
    limiter: RateLimiter
    channels: Mapping[str, Channel] = field(default_factory=dict)
    settings: NotifySettings = field(default_factory=NotifySettings)
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    #: where queued messages' flush jobs go; without one nothing is queued (pages report ``rate_limited``)
    queue: PageQueue | None = None

    def register(self, channel: Channel) -> None:
        self.channels = {**self.channels, channel.name: channel}

    def _queues(self, message: Message) -> bool:
        return self.queue is not None and message.kind in QUEUED_KINDS

    def notify(
        self, user_id: str, message: Message, now: datetime, context: Mapping[str, Any] | None = None
    ) -> Delivery:
        claim = self.deliveries.claim(user_id, message, now, self.settings.lease)
        if not claim.won:
            if claim.status == "capped":
                return Delivery("capped", None, None)
            if claim.status == "queued" and self.queue is not None and claim.channel:
                # a retried caller: the flush job may be what its first attempt lost; a second job is a no-op
                self._queued().schedule(user_id, message.key, claim.channel, 1.0)
                return Delivery("queued", claim.channel, None)
            return Delivery("duplicate", claim.channel, claim.ref)
        route = Route()

        def done(status: Status, channel: str | None = None, ref: str | None = None) -> Delivery:
            self.deliveries.finish(user_id, message, status, channel, ref, route.attempts, now)
            count_delivery(message, status, channel)
            log.info(
                "notify %s %s → %s: %s%s",
                message.kind.value,
                message.key,
                user_id,
                status,
                f" via {channel}" if channel else "",
            )
            return Delivery(status, channel, ref, None if status == "sent" else route.detail)

        try:
            person = self.people.recipient(user_id)
            if person is None:
                route.note("", "no_channel", "no active person")
                return done("no_channel")
            if (
                message.kind in CAPPED_KINDS
                and message.incident_id
                and not self.deliveries.count_page(
                    message.incident_id, user_id, self.settings.page_cap_per_incident, now
                )
            ):
                return done("capped")
            names = channels_for(message.kind, person, list(self.channels))
            if not names:
                route.note("", "no_channel", "no channel is set up for the person")
            sent = self.route(user_id, person, message, names, route, now)
            if sent is not None:
                self._copies(user_id, person, message, sent[0], route, now)
                return done("sent", *sent)
            if route.wait_on is not None and self._queues(message):
                channel, wait = route.wait_on
                # newer messages to that chat queue behind this one until its flush (``RateLimiter``)
                address = person.addresses[channel]
                self.limiter.hold(own_scopes(self.channels[channel].limits(address), address), self.wall(), wait)
                return self._queued().enqueue(user_id, message, channel, wait, context or {}, route, now)
            if route.wait_on is not None:
                return done("rate_limited", route.wait_on[0])
            return done("failed" if route.failed else "no_channel")
        except BaseException:
            # leave a record that lets the next attempt through at once instead of after the lease
            route.note("", "error", "unexpected error")
            self.deliveries.finish(user_id, message, "failed", None, None, route.attempts, now)
            raise

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
    ) -> tuple[str, str] | None:
        """Try ``names`` in order; the (channel, ref) that took the message, or None with ``route`` saying why."""
        queues = self._queues(message)
        for name in names:
            channel = self.channels[name]
            outcome, detail, wait = self.send_on(
                channel,
                person.addresses[name],
                message,
                queues=queues,
                window_taken=name == window_taken,
                # a window a moment from opening is waited for: queuing and flushing the page would take longer
                wait_up_to=self.settings.page_wait_s if queues else None,
            )
            route.note(name, outcome, detail)
            if outcome == "sent":
                return name, detail
            if outcome == "blocked":
                # permanent: as if the person had no address there (``no_channel`` when nothing else is left)
                self.deliveries.flag(user_id, name, detail[:200], now)
                continue
            if outcome == "rate_limited":
                if route.wait_on is None or wait < route.wait_on[1]:
                    route.wait_on = (name, wait)
                if not queues or wait <= self.settings.queue_max_delay_s:
                    # a short wait on the preferred channel beats a switch of channel
                    return None
                continue
            route.failed = True
        return None

    def _copies(
        self, user_id: str, person: Recipient, message: Message, taken: str, route: Route, now: datetime
    ) -> None:
        """A copy on each channel the person wants besides the one that took the message (``Recipient.also``), under
        the same claim (so once), never waiting for a window and never changing the outcome: the message has been
        delivered. Each copy is noted in the record's attempts; a copy is never edited later."""
        for name in copies_for(message.kind, person, list(self.channels), taken):
            outcome, detail, _ = self.send_on(self.channels[name], person.addresses[name], message, queues=True)
            route.note(name, outcome if outcome != "sent" else "copy", "" if outcome == "sent" else detail)
            if outcome == "blocked":
                self.deliveries.flag(user_id, name, detail[:200], now)

    def send_on(
        self,
        channel: Channel,
        address: str,
        message: Message,
        *,
        queues: bool,
        window_taken: bool = False,
        wait_up_to: float | None = None,
    ) -> tuple[Outcome, str, float]:
        """One send on one channel: the outcome, its detail (the ref when sent) and, when rate limited, the wait.
        The rate window is taken here unless the caller took it (``window_taken``); a window opening within
        ``wait_up_to`` seconds is waited for in-process (default: never for kinds that queue, ``max_wait_s`` for
        the others)."""
        if not window_taken:
            scopes = channel.limits(address)
            # pages queue behind a queue's hold; other kinds (a reminder, a notice) are rare and wait in-process
            wait = self.limiter.acquire(scopes, self.wall(), holder=not queues)
            if wait > 0:
                longest = wait_up_to if wait_up_to is not None else 0.0 if queues else self.settings.max_wait_s
                if wait > longest:
                    return "rate_limited", f"window full; next in {wait:.2f}s", wait
                self.sleep(wait)
                wait = self.limiter.acquire(scopes, self.wall(), holder=not queues)
                if wait > 0:
                    return "rate_limited", f"window full; next in {wait:.2f}s", wait
        try:
            with observability.span(f"send {channel.name}", incident_id=message.incident_id, kind=message.kind.value):
                return "sent", channel.send(address, message), 0.0
        except ChannelBlocked as exc:
            return "blocked", str(exc), 0.0
        except ChannelRateLimited as exc:
            return "rate_limited", str(exc), exc.retry_after
        except ChannelFailed as exc:
            return "failed", str(exc), 0.0

    def flush(self, job: Mapping[str, Any], now: datetime, listener: QueueListener | None = None) -> str:
        """Send what is queued for the job's person on its channel (``DeliveryQueue.flush``); returns what happened,
        for logs and tests."""
        return self._queued().flush(job, now, listener)

    def _queued(self) -> DeliveryQueue:
        # built per use from the service's current parts: a channel registered later is flushed like the others
        return DeliveryQueue(
            deliveries=self.deliveries,
            people=self.people,
            limiter=self.limiter,
            router=self,
            settings=self.settings,
            wall=self.wall,
            sleep=self.sleep,
            channels=lambda: self.channels,
            queue=self.queue,
        )

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...] = ()) -> None:
        """Best effort: an edit that cannot be made (message deleted, chat blocked) is logged, never raised, because
        the action it reports (an acknowledgement) has already happened."""
        name, rest = parse_ref(ref)
        channel = self.channels.get(name)
        if channel is None:
            log.warning("edit %s: channel %s not registered", ref, name)
            return
        # an edit rewrites a message already delivered: it never queues, so a queue's hold does not stop it
        wait = self.limiter.acquire(channel.limits(rest.split(":", 1)[0]), self.wall(), holder=True)
        if 0 < wait <= self.settings.max_wait_s:
            self.sleep(wait)
        try:
            channel.edit(ref, text, buttons)
        except (ChannelFailed, ChannelBlocked, ChannelRateLimited) as exc:
            log.warning("edit %s failed: %s", ref, exc)
