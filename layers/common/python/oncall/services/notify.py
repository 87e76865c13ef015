"""The one notification service: every outbound message (page, escalation, reminder, resolution) goes through here.

``notify(user_id, message, now)``:

1. **dedup**: claims ``(person, message.key)`` with a conditional put (a short lease while sending), so a retried or
   concurrent caller gets ``duplicate`` instead of a second message. A key whose earlier attempt ended ``failed``,
   ``rate_limited`` or ``no_channel`` may be tried again; ``sent`` (and an unexpired ``sending`` lease) may not.
2. **page cap**: pages and escalations of one incident count per person (an atomic counter); past the cap →
   ``capped``.
3. **channels** from the person's rules (``oncall.domain.notifications.channels_for``): preferred order per kind,
   only channels that are registered, that the person has an address for and that are not flagged.
4. **rate limits** shared by every concurrent Lambda: per-second windows in DynamoDB for each scope the channel
   names (Telegram: the chat at ~1/s, the bot at ~30/s).

   - Pages and escalations (``QUEUED_KINDS``) never wait in-process and are never reported "rate limited": a full
     window *queues* the message (its delivery record says ``queued``, the message waits in a pending item, and a
     delayed job on the page queue calls ``flush`` when the window opens). ``flush`` sends everything queued for
     that person on that channel as one message (``digest``), so a storm of N incidents reaches the on-call person
     in one window instead of N. A wait longer than ``queue_max_delay_s`` (Telegram's flood control) tries the next
     channel first, and queues only when no other channel takes it.
   - Other kinds wait out a short window (≤ ``max_wait_s``), else return ``rate_limited`` for their caller to retry
     (the reminder tick on its next minute, the notifier queue's redelivery).
5. **fallback**: a channel that fails for this message — permanently (Telegram 403: blocked; the person is flagged on
   that channel) or after its own bounded retries (5xx, network, timeout) — hands the message to the person's next
   channel by their rules at once. Only when every channel has failed is the result ``failed`` (``no_channel`` when
   nothing could even be tried), with each channel's reason in ``Delivery.detail``.
6. **record**: the claim item becomes the delivery record (status, channel, ref, attempts, when).

A caller that queues may pass a ``context`` (the escalation level a page belongs to); ``flush`` hands it back to its
``QueueListener``: ``wanted`` before sending (an incident acknowledged meanwhile is not paged), ``settled`` after the
queued message was finally sent or failed, so the lifecycle learns of a level that turned out unreachable.

Channels are registrations (``channels={"telegram": TelegramChannel(...)}``); each implements ``Channel``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from oncall.domain.notifications import (
    CAPPED_KINDS,
    DIGEST_MAX,
    QUEUED_KINDS,
    Button,
    Delivery,
    Kind,
    Message,
    Recipient,
    Status,
    channels_for,
    digest,
    parse_ref,
)

__all__ = [
    "Button",
    "Channel",
    "ChannelBlocked",
    "ChannelFailed",
    "ChannelRateLimited",
    "Delivery",
    "DeliveryLog",
    "Kind",
    "Message",
    "NotificationService",
    "PageQueue",
    "QueueListener",
    "RateLimiter",
    "Recipient",
    "RecipientDirectory",
]

log = logging.getLogger("oncall.notify")


# -- what channels raise -------------------------------------------------------------------------------------------


class ChannelFailed(Exception):
    """A transient failure that survived the channel's own retries (5xx, network): try again later."""


class ChannelBlocked(Exception):
    """Permanent for this person on this channel (Telegram 403): flag them and fall back."""


class ChannelRateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after:g}s")
        self.retry_after = retry_after


# -- ports ---------------------------------------------------------------------------------------------------------


class Channel(Protocol):
    name: str

    def limits(self, address: str) -> Sequence[tuple[str, int]]:
        """Rate-limit scopes this send counts against, each with its messages-per-second budget."""
        ...

    def send(self, address: str, message: Message) -> str:
        """Deliver; return the ref (``tg:<chat>:<message id>``). Raises the ``Channel*`` exceptions above."""
        ...

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...]) -> None: ...


class RecipientDirectory(Protocol):
    def recipient(self, user_id: str) -> Recipient | None: ...


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming ``(user, key)``: ``won`` or the stored record of an earlier attempt."""

    won: bool
    status: str | None = None
    channel: str | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Queued:
    """A message waiting for a channel's window, as ``DeliveryLog.take_queued`` hands it out."""

    message: Message
    context: Mapping[str, Any]


class DeliveryLog(Protocol):
    def claim(self, user_id: str, message: Message, now: datetime, lease: timedelta) -> Claim: ...
    def finish(
        self,
        user_id: str,
        message: Message,
        status: Status,
        channel: str | None,
        ref: str | None,
        attempts: Sequence[Mapping[str, str]],
        now: datetime,
    ) -> None: ...
    def count_page(self, incident_id: str, user_id: str, cap: int, now: datetime) -> bool:
        """Add one page for (incident, person); False when the cap was already reached."""
        ...

    def flag(self, user_id: str, channel: str, reason: str, now: datetime) -> None: ...
    def unflag(self, user_id: str, channel: str) -> None: ...

    def status_of(self, user_id: str, key: str) -> str | None:
        """The stored status of ``(user, key)`` (strongly consistent), None when never claimed."""
        ...

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
        """Mark the claimed record ``queued`` on ``channel`` and keep the message (and context) as pending for
        that person and channel, in one write (dropping its pending item on ``moved_from``)."""
        ...

    def take_queued(self, user_id: str, channel: str, now: datetime, lease: timedelta, limit: int) -> list[Queued]:
        """Claim up to ``limit`` pending messages of the person on the channel (``queued``, or ``sending`` with an
        expired lease → ``sending`` with a new lease), oldest first; pending items of settled records are dropped."""
        ...

    def requeue(self, user_id: str, keys: Sequence[str]) -> None:
        """Hand taken messages back (``sending`` → ``queued``): the send met a full window again."""
        ...

    def settle(
        self,
        user_id: str,
        message: Message,
        channel: str,
        status: Status,
        ref: str | None,
        attempts: Sequence[Mapping[str, str]],
        now: datetime,
    ) -> None:
        """A queued message's final outcome: the record says it, the pending item is gone."""
        ...


class PageQueue(Protocol):
    def later(self, job: Mapping[str, Any], delay_s: float) -> None:
        """Deliver ``job`` to ``NotificationService.flush`` after about ``delay_s`` seconds (at least once)."""
        ...


class QueueListener(Protocol):
    """The owner of queued messages' ``context`` (the lifecycle, for pages)."""

    def wanted(self, user_id: str, message: Message, context: Mapping[str, Any]) -> bool: ...

    def settled(
        self, user_id: str, message: Message, delivery: Delivery, context: Mapping[str, Any], now: datetime
    ) -> None: ...


class RateLimiter(Protocol):
    def acquire(self, scopes: Sequence[tuple[str, int]], wall: float) -> float:
        """Take one slot in each scope's current one-second window; 0 when taken, else seconds until the next
        window (nothing is taken then)."""
        ...


# -- the service ---------------------------------------------------------------------------------------------------


@dataclass
class NotifySettings:
    page_cap_per_incident: int = 10
    #: how long a claim protects an in-flight send; a crash mid-send is retried after it (a rare duplicate)
    lease: timedelta = timedelta(seconds=60)
    #: longest in-process wait for a rate-limit window (kinds that are not queued)
    max_wait_s: float = 1.5
    #: a queued message whose channel asks for a longer wait than this tries the person's next channel first
    queue_max_delay_s: float = 10.0
    #: most messages one flush sends as one digest (1: one message per window, as without digests)
    digest_max: int = DIGEST_MAX


#: a flush job on the page queue
FLUSH_JOB = "notify.flush"

Outcome = Literal["sent", "blocked", "rate_limited", "failed"]


@dataclass
class _Route:
    """Where one message got to across the person's channels."""

    attempts: list[dict[str, str]] = field(default_factory=list)
    #: the channel that may take it once its window opens, and how long that is
    wait_on: tuple[str, float] | None = None
    failed: bool = False

    def note(self, channel: str, outcome: str, detail: str) -> None:
        self.attempts.append({"channel": channel, "outcome": outcome, "detail": detail[:200]})

    @property
    def detail(self) -> str | None:
        reasons = [f"{a['channel']}: {a['detail'] or a['outcome']}" for a in self.attempts if a["outcome"] != "sent"]
        return "; ".join(reasons)[:500] or None


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
                self._schedule(user_id, message.key, claim.channel, 1.0)
                return Delivery("queued", claim.channel, None)
            return Delivery("duplicate", claim.channel, claim.ref)
        route = _Route()

        def done(status: Status, channel: str | None = None, ref: str | None = None) -> Delivery:
            self.deliveries.finish(user_id, message, status, channel, ref, route.attempts, now)
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
            sent = self._route(user_id, person, message, names, route, now)
            if sent is not None:
                return done("sent", *sent)
            if route.wait_on is not None and self._queues(message):
                channel, wait = route.wait_on
                return self._enqueue(user_id, message, channel, wait, context or {}, route, now)
            if route.wait_on is not None:
                return done("rate_limited", route.wait_on[0])
            return done("failed" if route.failed else "no_channel")
        except BaseException:
            # leave a record that lets the next attempt through at once instead of after the lease
            route.note("", "error", "unexpected error")
            self.deliveries.finish(user_id, message, "failed", None, None, route.attempts, now)
            raise

    def _route(
        self,
        user_id: str,
        person: Recipient,
        message: Message,
        names: Sequence[str],
        route: _Route,
        now: datetime,
        *,
        window_taken: str | None = None,
    ) -> tuple[str, str] | None:
        """Try ``names`` in order; the (channel, ref) that took the message, or None with ``route`` saying why."""
        queues = self._queues(message)
        for name in names:
            channel = self.channels[name]
            outcome, detail, wait = self._send(
                channel, person.addresses[name], message, queues=queues, window_taken=name == window_taken
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

    def _send(
        self, channel: Channel, address: str, message: Message, *, queues: bool, window_taken: bool = False
    ) -> tuple[Outcome, str, float]:
        if not window_taken:
            scopes = channel.limits(address)
            wait = self.limiter.acquire(scopes, self.wall())
            if wait > 0:
                if queues or wait > self.settings.max_wait_s:
                    return "rate_limited", f"window full; next in {wait:.2f}s", wait
                self.sleep(wait)
                wait = self.limiter.acquire(scopes, self.wall())
                if wait > 0:
                    return "rate_limited", f"window full; next in {wait:.2f}s", wait
        try:
            return "sent", channel.send(address, message), 0.0
        except ChannelBlocked as exc:
            return "blocked", str(exc), 0.0
        except ChannelRateLimited as exc:
            return "rate_limited", str(exc), exc.retry_after
        except ChannelFailed as exc:
            return "failed", str(exc), 0.0

    # -- queued messages --------------------------------------------------------------------------------------------

    def _schedule(self, user_id: str, key: str, channel: str, delay_s: float) -> None:
        assert self.queue is not None
        self.queue.later({"type": FLUSH_JOB, "user_id": user_id, "key": key, "channel": channel}, delay_s)

    def _enqueue(
        self,
        user_id: str,
        message: Message,
        channel: str,
        wait: float,
        context: Mapping[str, Any],
        route: _Route,
        now: datetime,
        moved_from: str | None = None,
    ) -> Delivery:
        route.note(channel, "queued", f"waiting {wait:.2f}s for the window")
        self.deliveries.enqueue(user_id, message, channel, context, route.attempts, now, moved_from=moved_from)
        try:
            self._schedule(user_id, message.key, channel, wait)
        except Exception:
            # no job, no send: say failed now rather than leave a page nobody will flush
            log.exception("notify %s → %s: could not queue the flush job", message.key, user_id)
            route.note(channel, "failed", "could not queue the message")
            self.deliveries.settle(user_id, message, channel, "failed", None, route.attempts, now)
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
        channel = self.channels.get(channel_name)
        person = self.people.recipient(user_id)
        address = person.addresses.get(channel_name) if person is not None else None
        if channel is not None and address and person is not None and channel_name not in person.flagged:
            wait = self.limiter.acquire(channel.limits(address), self.wall())
            if wait > 0:
                self._schedule(user_id, key, channel_name, wait)
                return "waiting"
        most = max(1, min(self.settings.digest_max, DIGEST_MAX))
        taken = self.deliveries.take_queued(user_id, channel_name, now, self.settings.lease, most)
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
            self._schedule(user_id, key, channel_name, 1.0)
        if channel is None or person is None or not address or channel_name in person.flagged:
            outcome: Outcome = "failed"
            detail = f"{channel_name} no longer reaches the person"
        else:
            message = wanted[0].message if len(wanted) == 1 else digest([w.message for w in wanted])
            outcome, detail, wait = self._send(channel, address, message, queues=True, window_taken=True)
            if outcome == "rate_limited" and wait <= self.settings.queue_max_delay_s:
                self.deliveries.requeue(user_id, [w.message.key for w in wanted])
                self._schedule(user_id, key, channel_name, wait)
                return "waiting"
            if outcome == "blocked":
                self.deliveries.flag(user_id, channel_name, detail[:200], now)
        for item in wanted:
            route = _Route()
            route.note(channel_name, outcome, detail)
            delivered: Delivery
            if outcome == "sent":
                delivered = Delivery("sent", channel_name, detail, batch=len(wanted))
            else:
                # the rest of the person's channels, after the one that failed it
                later = self._later_channels(person, item.message, channel_name)
                sent = self._route(user_id, person, item.message, later, route, now) if person else None
                if sent is not None:
                    delivered = Delivery("sent", *sent)
                elif route.wait_on is not None:
                    # another channel of theirs is only busy: queue it there
                    other, wait = route.wait_on
                    self._enqueue(user_id, item.message, other, wait, item.context, route, now, moved_from=channel_name)
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
        names = channels_for(message.kind, person, list(self.channels))
        return names[names.index(failed) + 1 :] if failed in names else [n for n in names if n != failed]

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...] = ()) -> None:
        """Best effort: an edit that cannot be made (message deleted, chat blocked) is logged, never raised, because
        the action it reports (an acknowledgement) has already happened."""
        name, rest = parse_ref(ref)
        channel = self.channels.get(name)
        if channel is None:
            log.warning("edit %s: channel %s not registered", ref, name)
            return
        wait = self.limiter.acquire(channel.limits(rest.split(":", 1)[0]), self.wall())
        if 0 < wait <= self.settings.max_wait_s:
            self.sleep(wait)
        try:
            channel.edit(ref, text, buttons)
        except (ChannelFailed, ChannelBlocked, ChannelRateLimited) as exc:
            log.warning("edit %s failed: %s", ref, exc)
