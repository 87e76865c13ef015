"""What the notification service (``oncall.services.notify``) depends on and shares between its send path and its
queue: the exceptions channels raise, the ports adapters implement (channels, the delivery log, the recipient
directory, rate windows, the page queue), its settings, and the record of one message's way across channels.

``PersonNotifier`` is the service itself as its callers (the reminder tick, the notifier's fan-out) depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from oncall.domain.notifications import DIGEST_MAX, Button, Delivery, Message, Recipient, Status

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
        """Rate-limit scopes this send counts against, each with its messages-per-second budget. A scope named
        ``…:<address>`` is the recipient's own (a chat, a conversation); the others are shared by every recipient
        (the bot, the app, the account)."""
        ...

    def send(self, address: str, message: Message) -> str:
        """Deliver; return the ref (``tg:<chat>:<message id>``). Raises the ``Channel*`` exceptions above."""
        ...

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...]) -> None: ...


class RecipientDirectory(Protocol):
    def recipient(self, user_id: str) -> Recipient | None: ...


@dataclass(frozen=True)
class DeliveryClaim:
    """The outcome of claiming ``(user, key)`` in the delivery log: ``won`` or the stored record of an earlier
    attempt."""

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
    def claim(self, user_id: str, message: Message, now: datetime, lease: timedelta) -> DeliveryClaim: ...
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
        """Deliver ``job`` to ``NotificationService.flush`` after about ``delay_s`` seconds (at least once), up to a
        second early where delays are whole seconds: the flush waits a short remainder out itself."""
        ...


class QueueListener(Protocol):
    """The owner of queued messages' ``context`` (the lifecycle, for pages)."""

    def wanted(self, user_id: str, message: Message, context: Mapping[str, Any]) -> bool: ...

    def settled(
        self, user_id: str, message: Message, delivery: Delivery, context: Mapping[str, Any], now: datetime
    ) -> None: ...


def own_scopes(scopes: Sequence[tuple[str, int]], address: str) -> list[tuple[str, int]]:
    """The recipient's own scopes among a channel's (``Channel.limits``): the only ones a queue may hold, since a
    queue is one person's on one channel and a shared scope held for it would hold back everyone else's pages."""
    return [(scope, rate) for scope, rate in scopes if scope.endswith(f":{address}")]


class RateLimiter(Protocol):
    """Rate windows shared by every Lambda. A scope with queued messages is *held* for them: new pages do not take
    its slots until the queue's flush has taken what waits (or the hold lapses), so a queued page is never
    overtaken, window after window, by newer pages to the same chat; they queue behind it and join its digest.
    Callers that never queue (edits, reminders waiting in-process) pass as the ``holder``."""

    def acquire(self, scopes: Sequence[tuple[str, int]], wall: float, *, holder: bool = False) -> float:
        """Take one slot in each scope's schedule (``oncall.domain.notifications.rate_terms``); 0 when taken, else
        seconds until the scope has a slot again (nothing is taken in that scope or the ones after it). A held
        scope has no slot for anyone but the ``holder`` (the flush of its queue)."""
        ...

    def hold(self, scopes: Sequence[tuple[str, int]], wall: float, seconds: float) -> None:
        """Hold the scopes for their queue for ``seconds`` (plus a grace), or longer if already held longer."""
        ...

    def release(self, scopes: Sequence[tuple[str, int]]) -> None:
        """The queue's flush has taken what waited: new messages may take the scopes' slots again."""
        ...


class PersonNotifier(Protocol):
    """One message to one person, deduplicated by its key: what ``NotificationService.notify`` does."""

    def notify(self, user_id: str, message: Message, now: datetime) -> Delivery: ...


# -- settings, and what the send path and the queue share -----------------------------------------------------------


@dataclass
class NotifySettings:
    page_cap_per_incident: int = 10
    #: how long a claim protects an in-flight send; a crash mid-send is retried after it (a rare duplicate)
    lease: timedelta = timedelta(seconds=60)
    #: longest in-process wait for a rate-limit window (kinds that are not queued)
    max_wait_s: float = 1.5
    #: longest in-process wait for a page's window before it is queued instead: a chat paged about once a second
    #: finds its window a few milliseconds from opening now and then, which queuing would turn into a second or more
    page_wait_s: float = 0.5
    #: a queued message whose channel asks for a longer wait than this tries the person's next channel first
    queue_max_delay_s: float = 10.0
    #: most messages one flush sends as one digest (1: one message per window, as without digests)
    digest_max: int = DIGEST_MAX


#: a flush job on the page queue
FLUSH_JOB = "notify.flush"

#: what one send on one channel came to
Outcome = Literal["sent", "blocked", "rate_limited", "failed"]


@dataclass
class Route:
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
