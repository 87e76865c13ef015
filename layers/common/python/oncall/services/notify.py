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
   names (Telegram: the chat at ~1/s, the bot at ~30/s). A full window is waited out only when the wait is short
   (≤ ``max_wait_s``); otherwise the call returns ``rate_limited`` and the caller retries later (the reminder tick on
   its next minute, a Step Functions task through its Retry). No in-process queueing.
5. **fallback**: a permanent failure of a channel for this person (Telegram 403: blocked, or never started the bot)
   flags the person on that channel and the next channel is tried; with none left the result is ``no_channel``
   (today Telegram is the only channel: email registers itself in issue 9 with no change here).
6. **record**: the claim item becomes the delivery record (status, channel, ref, attempts, when).

Channels are registrations (``channels={"telegram": TelegramChannel(...)}``); each implements ``Channel``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, Protocol

from oncall.domain.notifications import (
    CAPPED_KINDS,
    Button,
    Delivery,
    Kind,
    Message,
    Recipient,
    Status,
    channels_for,
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
    #: longest in-process wait for a rate-limit window or a Telegram retry_after
    max_wait_s: float = 1.5


@dataclass
class NotificationService:
    deliveries: DeliveryLog
    people: RecipientDirectory
    limiter: RateLimiter
    channels: Mapping[str, Channel] = field(default_factory=dict)
    settings: NotifySettings = field(default_factory=NotifySettings)
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def register(self, channel: Channel) -> None:
        self.channels = {**self.channels, channel.name: channel}

    def notify(self, user_id: str, message: Message, now: datetime) -> Delivery:
        claim = self.deliveries.claim(user_id, message, now, self.settings.lease)
        if not claim.won:
            if claim.status == "capped":
                return Delivery("capped", None, None)
            return Delivery("duplicate", claim.channel, claim.ref)
        attempts: list[dict[str, str]] = []

        def done(status: Status, channel: str | None = None, ref: str | None = None) -> Delivery:
            self.deliveries.finish(user_id, message, status, channel, ref, attempts, now)
            log.info(
                "notify %s %s → %s: %s%s",
                message.kind.value,
                message.key,
                user_id,
                status,
                f" via {channel}" if channel else "",
            )
            return Delivery(status, channel, ref)

        try:
            person = self.people.recipient(user_id)
            if person is None:
                return done("no_channel")
            if (
                message.kind in CAPPED_KINDS
                and message.incident_id
                and not self.deliveries.count_page(
                    message.incident_id, user_id, self.settings.page_cap_per_incident, now
                )
            ):
                return done("capped")
            for name in channels_for(message.kind, person, list(self.channels)):
                channel = self.channels[name]
                address = person.addresses[name]
                outcome, detail = self._send(channel, address, message)
                attempts.append({"channel": name, "outcome": outcome, "detail": detail[:200]})
                if outcome == "sent":
                    return done("sent", name, detail)
                if outcome == "blocked":
                    self.deliveries.flag(user_id, name, detail[:200], now)
                    continue
                return done("rate_limited" if outcome == "rate_limited" else "failed", name)
            return done("no_channel")
        except BaseException:
            # leave a record that lets the next attempt through at once instead of after the lease
            attempts.append({"channel": "", "outcome": "error", "detail": "unexpected error"})
            self.deliveries.finish(user_id, message, "failed", None, None, attempts, now)
            raise

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

    def _send(
        self, channel: Channel, address: str, message: Message
    ) -> tuple[Literal["sent", "blocked", "rate_limited", "failed"], str]:
        scopes = channel.limits(address)
        wait = self.limiter.acquire(scopes, self.wall())
        if wait > 0:
            if wait > self.settings.max_wait_s:
                return "rate_limited", f"local limit; next window in {wait:.2f}s"
            self.sleep(wait)
            wait = self.limiter.acquire(scopes, self.wall())
            if wait > 0:
                return "rate_limited", f"local limit; next window in {wait:.2f}s"
        try:
            return "sent", channel.send(address, message)
        except ChannelBlocked as exc:
            return "blocked", str(exc)
        except ChannelRateLimited as exc:
            return "rate_limited", str(exc)
        except ChannelFailed as exc:
            return "failed", str(exc)
