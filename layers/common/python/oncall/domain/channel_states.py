"""Whether each channel can reach a person right now, and if not, why: what a person needs beside their notification
rules to know whether those rules will work. Pure; the caller gathers the facts (docs/architecture.md, "SMS" and
"Slack": addresses and flags live beside the rules).

The answer follows exactly what ``channels_for`` would do with the same facts: a channel is ``ready`` when it has an
address and no flag. Everything else says what is missing:

- ``not_set_up``: no address (Telegram or Slack not linked, no email address, no verified number);
- ``pending``: a number is waiting for the code texted to it (SMS only);
- ``code_expired``: the code texted to a number expired unused (or wrong codes used it up): a new one must be asked
  for (SMS only; said for a day, ``oncall.domain.sms.code_state``, the same rule ``GET /me/phone`` answers by);
- ``blocked``: the channel failed for good for this person (the bot was blocked, Slack said ``channel_not_found``,
  the number opted out); ``detail`` is what the channel said. Linking (or verifying) again lifts it;
- ``off``: this deployment does not offer the channel at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from oncall.domain.notifications import CHANNELS
from oncall.domain.sms import CodeState

State = Literal["ready", "not_set_up", "pending", "code_expired", "blocked", "off"]


@dataclass(frozen=True)
class Block:
    """A channel flagged unusable for a person: what the channel said, and when."""

    reason: str
    since: datetime | None = None


@dataclass(frozen=True)
class ChannelState:
    channel: str
    state: State
    #: why a blocked channel is blocked, as the channel reported it
    detail: str | None = None
    since: datetime | None = None

    @property
    def usable(self) -> bool:
        return self.state == "ready"


def channel_states(
    addresses: Mapping[str, str],
    blocks: Mapping[str, Block],
    *,
    sms_code: CodeState | None = None,
    offered: frozenset[str] = frozenset(CHANNELS),
) -> tuple[ChannelState, ...]:
    """One state per channel a person may name in their rules, in ``CHANNELS`` order."""
    out = []
    for name in CHANNELS:
        block = blocks.get(name)
        if name not in offered:
            out.append(ChannelState(name, "off"))
        elif addresses.get(name):
            out.append(
                ChannelState(name, "blocked", block.reason, block.since) if block else ChannelState(name, "ready")
            )
        elif name == "sms" and sms_code == "pending":
            out.append(ChannelState(name, "pending"))
        elif name == "sms" and sms_code == "expired":
            out.append(ChannelState(name, "code_expired"))
        else:
            out.append(ChannelState(name, "not_set_up"))
    return tuple(out)
