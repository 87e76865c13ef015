"""Notification rules: which channels a message kind may use, message values, callback data. Pure; no I/O, no clock.

The notification service (``oncall.services.notify``) applies these; channels themselves are adapters registered by
name, so a new channel is one registration plus a place in ``DEFAULT_ROUTES``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from oncall.domain import texts
from oncall.domain.errors import InvalidInput
from oncall.domain.page_content import PageContent

#: Telegram's limit on ``callback_data`` (bytes, UTF-8)
CALLBACK_DATA_MAX_BYTES = 64
#: Telegram's limit on a message's text (characters)
TEXT_MAX_CHARS = 4096
#: a dedup key is part of a DynamoDB key; keep it short and printable
KEY_MAX_CHARS = 200

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
_DOMAIN = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")


class Kind(StrEnum):
    PAGE = "page"
    #: a low-urgency incident: the current on-call is told once, by the channels they chose for it, never escalated
    LOW_URGENCY = "low_urgency"
    ESCALATION = "escalation"
    REMINDER = "reminder"
    RESOLUTION = "resolution"
    INFO = "info"


#: kinds that count towards the per-incident page cap
CAPPED_KINDS = frozenset({Kind.PAGE, Kind.LOW_URGENCY, Kind.ESCALATION})

#: channel preference per kind, best first; a person's rules narrow this, channels not registered are skipped
DEFAULT_ROUTES: Mapping[Kind, tuple[str, ...]] = {
    # SMS costs money per message: by default only pages and escalations, and only when nothing else took them
    Kind.PAGE: ("telegram", "slack", "email", "sms"),
    Kind.LOW_URGENCY: ("telegram", "slack", "email"),
    Kind.ESCALATION: ("telegram", "slack", "email", "sms"),
    Kind.REMINDER: ("telegram", "slack", "email"),
    Kind.RESOLUTION: ("telegram", "slack", "email"),
    Kind.INFO: ("telegram", "slack", "email"),
}


def rate_terms(per_second: int) -> tuple[int, int]:
    """A rate limit of ``per_second`` messages as the limiter's schedule (the generic cell rate algorithm): the
    interval between slots and how far ahead of now a scope's schedule may run, both in milliseconds.

    A slot is taken when the scope's next free time (``tat``) is at most ``tolerance`` ahead of now, and moves it one
    interval on. So a scope takes ``max(2, per_second)`` messages at once, then one per interval: a chat (1/s) takes
    two in a row, then one a second, which is the "short burst" Telegram tolerates above its one message a second
    per chat; a bot (30/s) a second's worth. A steady 1/s to one person therefore never waits on jitter, where fixed
    one-second windows queued every page that landed in the same calendar second as the one before."""
    interval = -(-1000 // max(1, per_second))
    return interval, max(interval, (per_second - 1) * interval)


def refused_wait(per_second: int, tat: int | None, held_until: int | None, now: int, *, holder: bool) -> float:
    """Seconds until a scope that refused a slot at ``now`` (ms) has one again, from its stored schedule: when its
    next free time is within the tolerance, exactly (a page refused by 50 ms of jitter waits 50 ms, not a whole
    interval). A scope held for its queue answers one interval to anyone but the holder: the hold ends when the
    queue's flush releases it, which no schedule says. At least a millisecond: a slot that opened in between is
    taken by asking again."""
    interval, tolerance = rate_terms(per_second)
    if not holder and held_until is not None and held_until > now:
        return interval / 1000
    if tat is None:
        return 0.001
    return min(interval, max(1, tat - tolerance - now)) / 1000


#: how long a rate scope's hold for its queue outlasts the wait it was set for (the flush job that ends it runs on a
#: queue, not on time); a hold that is never released lapses by itself
HOLD_GRACE_S = 2.0

#: kinds whose send, when a channel's window is full, is *queued* and sent (digested per person) as soon as the window
#: allows, instead of being reported back for the caller to retry: nothing else retries a page in time
QUEUED_KINDS = frozenset({Kind.PAGE, Kind.LOW_URGENCY, Kind.ESCALATION})

#: what happened to one message:
#: ``sent``; ``duplicate`` (sent, or being sent, by an earlier attempt); ``queued`` (a channel's rate window was full:
#: it goes out, alone or in a digest, as soon as the window allows); ``capped`` (the per-incident page cap);
#: ``failed`` (every usable channel failed); ``no_channel`` (nothing reaches the person); ``rate_limited`` (a window
#: was full and the kind is not queued: the caller retries); ``cancelled`` (queued, then no longer wanted: the
#: incident moved on before the window opened)
Status = Literal["sent", "duplicate", "queued", "capped", "failed", "no_channel", "rate_limited", "cancelled"]

#: statuses after which the person has been, or will shortly be, reached by this message
REACHING: frozenset[str] = frozenset({"sent", "duplicate", "queued", "capped"})


@dataclass(frozen=True)
class Button:
    """An inline button; ``callback_data`` comes back to the bot as ``<domain>:<action>:<id>`` (≤ 64 bytes)."""

    text: str
    callback_data: str

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise InvalidInput("text", "a button needs a label")
        if not self.callback_data or len(self.callback_data.encode()) > CALLBACK_DATA_MAX_BYTES:
            raise InvalidInput("callback_data", f"must be 1-{CALLBACK_DATA_MAX_BYTES} bytes")


@dataclass(frozen=True)
class Message:
    """One notification. ``key`` identifies it for dedup: the same key to the same person is delivered once."""

    kind: Kind
    key: str
    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    incident_id: str | None = None
    #: the page as data, when it is one: channels with markup render it (``oncall.domain.page_content``); ``text``
    #: stays its plain-text rendering for every other use
    content: PageContent | None = None

    def __post_init__(self) -> None:
        if not _KEY.match(self.key):
            raise InvalidInput("key", f"1-{KEY_MAX_CHARS} printable ASCII characters without spaces")
        if not self.text.strip():
            raise InvalidInput("text", "must not be empty")
        if len(self.text) > TEXT_MAX_CHARS:
            raise InvalidInput("text", f"at most {TEXT_MAX_CHARS} characters")


@dataclass(frozen=True)
class Delivery:
    """What happened to one ``notify`` call. ``ref`` names the sent message for later edits
    (``tg:<chat_id>:<message_id>``); a duplicate carries the first delivery's channel and ref."""

    status: Status
    channel: str | None
    ref: str | None
    #: why a message did not go out, one clause per channel tried (``telegram: HTTP 502; email: no address``)
    detail: str | None = None
    #: how many messages went out as this one message (> 1: a digest; editing it would rewrite the others too)
    batch: int = 1


@dataclass(frozen=True)
class Recipient:
    """What the service needs to know about a person to reach them."""

    user_id: str
    display_name: str
    timezone: str
    #: channel name → address (chat id, email address); only channels the person has set up
    addresses: Mapping[str, str]
    #: channels flagged unusable (the person blocked the bot): skipped until they link again
    flagged: frozenset[str] = frozenset()
    #: the person's own channel order per kind (``check_rules``); kinds not named follow ``DEFAULT_ROUTES``
    rules: Mapping[Kind, tuple[str, ...]] = field(default_factory=dict)
    #: channels that get a copy of a kind's message besides the one that took it (``check_also``): "page me in
    #: Slack, and by SMS too"
    also: Mapping[Kind, tuple[str, ...]] = field(default_factory=dict)


def channels_for(kind: Kind, recipient: Recipient, registered: Sequence[str]) -> list[str]:
    """The channels to try for ``kind``, in order: the person's rule for the kind (else the default route), then
    only registered, addressable and unflagged ones. A page or escalation that the person's rule would leave with
    no usable channel still goes out by the default route: nobody can configure themselves out of being paged."""
    preferred = recipient.rules.get(kind, DEFAULT_ROUTES[kind])

    def usable(names: Sequence[str]) -> list[str]:
        return [n for n in names if n in registered and recipient.addresses.get(n) and n not in recipient.flagged]

    chosen = usable(preferred)
    if not chosen and kind in CAPPED_KINDS:
        chosen = usable(DEFAULT_ROUTES[kind])
    return chosen


def copies_for(kind: Kind, recipient: Recipient, registered: Sequence[str], taken: str) -> list[str]:
    """The channels a copy of the message goes to besides ``taken`` (the one that took it): the person's ``also``
    for the kind, only registered, addressable and unflagged ones."""
    return [
        n
        for n in recipient.also.get(kind, ())
        if n != taken and n in registered and recipient.addresses.get(n) and n not in recipient.flagged
    ]


#: channels a person may name in their rules
CHANNELS = ("telegram", "slack", "email", "sms")


def check_rules(raw: Mapping[str, Sequence[str]]) -> dict[Kind, tuple[str, ...]]:
    """``{"reminder": ["email"], "resolution": []}`` → validated rules. An empty list mutes that kind, except
    pages and escalations, which need at least one channel."""
    rules: dict[Kind, tuple[str, ...]] = {}
    for key, channels in raw.items():
        try:
            kind = Kind(key)
        except ValueError:
            raise InvalidInput(f"rules.{key}", f"unknown kind; one of {[k.value for k in Kind]}") from None
        names: list[str] = []
        for i, name in enumerate(channels):
            if name not in CHANNELS:
                raise InvalidInput(f"rules.{key}[{i}]", f"unknown channel; one of {list(CHANNELS)}")
            if name not in names:
                names.append(name)
        if not names and kind in CAPPED_KINDS:
            raise InvalidInput(f"rules.{key}", "pages, low-urgency notices and escalations need at least one channel")
        rules[kind] = tuple(names)
    return rules


def check_also(raw: Mapping[str, Sequence[str]]) -> dict[Kind, tuple[str, ...]]:
    """``{"page": ["sms"]}`` → validated copies per kind (an empty list: no copy)."""
    also: dict[Kind, tuple[str, ...]] = {}
    for key, channels in raw.items():
        try:
            kind = Kind(key)
        except ValueError:
            raise InvalidInput(f"also.{key}", f"unknown kind; one of {[k.value for k in Kind]}") from None
        names: list[str] = []
        for i, name in enumerate(channels):
            if name not in CHANNELS:
                raise InvalidInput(f"also.{key}[{i}]", f"unknown channel; one of {list(CHANNELS)}")
            if name not in names:
                names.append(name)
        also[kind] = tuple(names)
    return also


@dataclass(frozen=True)
class CallbackData:
    domain: str
    action: str
    ident: str


def parse_callback_data(raw: object) -> CallbackData | None:
    """``<domain>:<action>:<id>`` or None for anything else (old buttons, garbage, a forged press)."""
    if not isinstance(raw, str) or not raw or len(raw.encode()) > CALLBACK_DATA_MAX_BYTES:
        return None
    parts = raw.split(":", 2)
    if len(parts) != 3 or not all(parts) or not _DOMAIN.match(parts[0]):
        return None
    return CallbackData(parts[0], parts[1], parts[2])


def callback_data(domain: str, action: str, ident: str) -> str:
    """Build callback data, refusing what would not fit (so a page never fails at send time)."""
    data = f"{domain}:{action}:{ident}"
    if parse_callback_data(data) != CallbackData(domain, action, ident):
        raise InvalidInput("callback_data", f"{data!r} is not <domain>:<action>:<id> within 64 bytes")
    return data


def telegram_ref(chat_id: str | int, message_id: int) -> str:
    return f"tg:{chat_id}:{message_id}"


def parse_ref(ref: str) -> tuple[str, str]:
    """``"tg:123:45"`` → ``("telegram", "123:45")``: the channel and its own part of the ref."""
    prefix, _, rest = ref.partition(":")
    channel = REF_PREFIXES.get(prefix)
    if channel is None or not rest:
        raise InvalidInput("ref", "not a delivery reference")
    return channel, rest


def slack_ref(channel_id: str, ts: str) -> str:
    """A Slack message is named by its conversation and its timestamp (``chat.update`` needs both)."""
    return f"slack:{channel_id}:{ts}"


REF_PREFIXES: Mapping[str, str] = {"tg": "telegram", "mail": "email", "slack": "slack", "sms": "sms"}


#: how many messages one digest lists: two buttons each stay well inside Telegram's keyboard, the text inside 4096
DIGEST_MAX = 20


def headline(message: Message) -> str:
    """The first line of a message's text: what a digest lists for it."""
    first = message.text.strip().split("\n", 1)[0].strip()
    return first if len(first) <= 160 else first[:159] + "…"


def digest(messages: Sequence[Message]) -> Message:
    """One message standing for several queued to the same person on the same channel: a numbered list of their
    headlines, and each one's buttons relabelled with its number (callback data unchanged, so a press acts on that
    one incident). Reaches a person faster than one message per rate window: N pages in one window, not N windows."""
    if not messages:
        raise ValueError("a digest needs at least one message")
    if len(messages) > DIGEST_MAX:
        raise ValueError(f"a digest lists at most {DIGEST_MAX} messages")
    pages = sum(1 for m in messages if m.kind in CAPPED_KINDS)
    lines = [texts.digest_heading(len(messages), all_pages=pages == len(messages)), ""]
    rows: list[tuple[Button, ...]] = []
    for number, message in enumerate(messages, start=1):
        lines.append(texts.digest_line(number, headline(message)))
        for row in message.buttons:
            rows.append(tuple(Button(texts.digest_button(b.text, number), b.callback_data) for b in row))
    text = "\n".join(lines)
    if len(text) > TEXT_MAX_CHARS:
        text = text[: TEXT_MAX_CHARS - 1] + "…"
    kind = Kind.PAGE if pages else messages[0].kind
    return Message(kind=kind, key=f"digest:{messages[0].key}"[:KEY_MAX_CHARS], text=text, buttons=tuple(rows))


def message_to_dict(message: Message) -> dict[str, object]:
    """A queued message as JSON (it waits in a DynamoDB item and travels in an SQS job)."""
    out: dict[str, object] = {
        "kind": message.kind.value,
        "key": message.key,
        "text": message.text,
        "buttons": [[[b.text, b.callback_data] for b in row] for row in message.buttons],
    }
    if message.incident_id:
        out["incident_id"] = message.incident_id
    if message.content is not None:
        out["content"] = message.content.to_dict()
    return out


def message_from_dict(raw: Mapping[str, object]) -> Message:
    buttons = raw.get("buttons") or []
    if not isinstance(buttons, list):
        raise InvalidInput("buttons", "must be a list of rows")
    incident_id = raw.get("incident_id")
    content = raw.get("content")
    return Message(
        kind=Kind(str(raw["kind"])),
        key=str(raw["key"]),
        text=str(raw["text"]),
        buttons=tuple(tuple(Button(str(t), str(d)) for t, d in row) for row in buttons),
        incident_id=str(incident_id) if incident_id else None,
        content=PageContent.from_dict(content) if isinstance(content, Mapping) else None,
    )
