"""Which of a person's channels reach them now (``oncall.domain.channel_states``), from what the recipient directory
would read: the user item's Telegram chat and email address, and the person's partition of the notifications table
(Slack and SMS addresses, flags, a number waiting for its code)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from oncall.domain.channel_states import Block, ChannelState, channel_states
from oncall.domain.notifications import CHANNELS
from oncall.domain.sms import code_state
from oncall.domain.users import User


@dataclass(frozen=True)
class StoredChannels:
    """What the person's partition says: addresses linked there (``CHANNEL#<name>``), flags, and when a number's
    code expires (epoch seconds), if one is waiting."""

    addresses: Mapping[str, str] = field(default_factory=dict)
    blocks: Mapping[str, Block] = field(default_factory=dict)
    pending_until: int | None = None
    #: wrong codes entered for the waiting one
    pending_attempts: int = 0


class ChannelFacts(Protocol):
    def stored_channels(self, user_id: str) -> StoredChannels: ...


class ChannelStates:
    def __init__(self, facts: ChannelFacts, clock: Callable[[], datetime], *, sms_enabled: bool) -> None:
        self.facts = facts
        self.clock = clock
        self.sms_enabled = sms_enabled

    def of(self, person: User) -> tuple[ChannelState, ...]:
        stored = self.facts.stored_channels(person.id)
        addresses = {
            **({"telegram": person.telegram_chat_id} if person.telegram_chat_id else {}),
            **({"email": person.email} if person.email else {}),
            **stored.addresses,
        }
        offered = frozenset(c for c in CHANNELS if c != "sms" or self.sms_enabled)
        sms_code = code_state(stored.pending_until, self.clock(), stored.pending_attempts)
        return channel_states(addresses, stored.blocks, sms_code=sms_code, offered=offered)
