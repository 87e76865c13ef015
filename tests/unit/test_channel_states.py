"""Which channels reach a person now: the same facts ``channels_for`` pages by (an address, no flag), plus what is
missing for the others; and the service's merge of the user item with the person's stored channels."""

from __future__ import annotations

from datetime import UTC, datetime

from oncall.domain.channel_states import Block, ChannelState, channel_states
from oncall.domain.notifications import CHANNELS, Kind, Recipient, channels_for
from oncall.domain.users import Role, User
from oncall.services.channel_states import ChannelStates, StoredChannels

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def by_name(states: tuple[ChannelState, ...]) -> dict[str, tuple[str, str | None]]:
    return {s.channel: (s.state, s.detail) for s in states}


def test_every_channel_a_rule_may_name_has_a_state_in_that_order() -> None:
    states = channel_states({}, {})
    assert [s.channel for s in states] == list(CHANNELS)
    assert {s.state for s in states} == {"not_set_up"}


def test_ready_is_exactly_what_the_notification_service_would_use() -> None:
    addresses = {"telegram": "42", "slack": "D1", "email": "a@example.com", "sms": "+15550100/u1"}
    blocks = {"slack": Block("channel_not_found", NOW), "sms": Block("the number opted out of SMS (STOP)")}
    states = channel_states(addresses, blocks)
    recipient = Recipient("u1", "A", "UTC", addresses, flagged=frozenset(blocks), rules={Kind.INFO: CHANNELS})
    used = channels_for(Kind.INFO, recipient, CHANNELS)
    assert [s.channel for s in states if s.usable] == used == ["telegram", "email"]
    assert by_name(states)["slack"] == ("blocked", "channel_not_found")
    assert by_name(states)["sms"] == ("blocked", "the number opted out of SMS (STOP)")
    assert next(s for s in states if s.channel == "slack").since == NOW


def test_a_flag_without_an_address_is_not_set_up_and_a_pending_number_is_pending() -> None:
    states = by_name(channel_states({}, {"telegram": Block("Forbidden: bot was blocked")}, sms_code="pending"))
    assert states["telegram"] == ("not_set_up", None)
    assert states["sms"] == ("pending", None)
    assert by_name(channel_states({}, {}, sms_code="expired"))["sms"] == ("code_expired", None)
    # a verified number is what counts: a new number's code, waiting or expired, does not hide it
    assert by_name(channel_states({"sms": "+15550100/u1"}, {}, sms_code="expired"))["sms"] == ("ready", None)


def test_a_channel_the_deployment_does_not_offer_is_off_whatever_is_stored() -> None:
    states = by_name(channel_states({"sms": "+15550100/u1"}, {}, offered=frozenset({"telegram", "email"})))
    assert states["sms"] == ("off", None) and states["slack"] == ("off", None)


class Stored:
    def __init__(self, stored: StoredChannels) -> None:
        self.stored = stored

    def stored_channels(self, user_id: str) -> StoredChannels:
        return self.stored


def person(*, telegram_chat_id: str | None = None, email: str | None = None) -> User:
    return User(
        id="u1",
        username="ann",
        role=Role.RESPONDER,
        display_name="Ann",
        created_at=NOW,
        updated_at=NOW,
        telegram_chat_id=telegram_chat_id,
        email=email,
    )


def test_the_service_reads_telegram_and_email_off_the_user_and_says_a_code_expired_for_a_day() -> None:
    expired = int(NOW.timestamp()) - 1
    service = ChannelStates(Stored(StoredChannels({"slack": "D1"}, {}, expired)), lambda: NOW, sms_enabled=True)
    states = by_name(service.of(person(telegram_chat_id="42")))
    assert states == {
        "telegram": ("ready", None),
        "slack": ("ready", None),
        "email": ("not_set_up", None),
        "sms": ("code_expired", None),
    }
    # a day after the code expired it is as if none had been asked for (the item may outlive that: TTL is late)
    long_ago = int(NOW.timestamp()) - 86_400
    forgotten = ChannelStates(Stored(StoredChannels({}, {}, long_ago)), lambda: NOW, sms_enabled=True)
    assert by_name(forgotten.of(person()))["sms"] == ("not_set_up", None)
    waiting = ChannelStates(Stored(StoredChannels({}, {}, expired + 2)), lambda: NOW, sms_enabled=True)
    assert by_name(waiting.of(person(email="ann@example.com")))["sms"] == ("pending", None)
    off = ChannelStates(Stored(StoredChannels({"sms": "+15550100/u1"})), lambda: NOW, sms_enabled=False)
    assert by_name(off.of(person()))["sms"] == ("off", None)
