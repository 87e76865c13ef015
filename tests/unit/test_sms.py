"""SMS, pure: E.164 numbers, one GSM-7 part per page, the ack token (forged, altered or malformed tokens refused), and
the copies a person asks for besides the channel that took a message, and whether a number's code waits, expired or is
forgotten."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.domain.errors import InvalidInput
from oncall.domain.notifications import Kind, Recipient, check_also, copies_for
from oncall.domain.sms import (
    EXPIRED_CODE_SHOWN,
    MAX_CODE_ATTEMPTS,
    SMS_MAX,
    check_e164,
    code_hash,
    code_state,
    codes_match,
    gsm7,
    link_digest,
    new_link_token,
    page_text,
    septets,
    short_text,
)

KEY = b"k" * 32


def test_numbers_are_e164() -> None:
    assert check_e164("+49 151 1234-5678") == "+4915112345678"
    for bad in ("015112345678", "+0151123456", "+1", "+1234567890123456", "+49abc", ""):
        with pytest.raises(InvalidInput) as caught:
            check_e164(bad)
        assert caught.value.field == "number"


@given(title=st.text(max_size=400), short=st.text(alphabet="0123456789ABCDEFGHJKMNPQRSTVWXYZ", min_size=8, max_size=8))
def test_a_page_is_one_gsm7_part_whatever_the_title(title: str, short: str) -> None:
    link = "https://abcdef1234.execute-api.eu-central-1.amazonaws.com/sms/ack/" + "A" * 28
    text = page_text(short, title, link)
    assert septets(text) <= SMS_MAX and text.endswith(link) and text == gsm7(text)
    assert text.startswith(f"OnCall #{short} ")
    assert septets(short_text(title)) <= SMS_MAX


def test_brackets_survive_and_cost_two_septets() -> None:
    text = page_text("ABCD1234", "[CRITICAL] Disk full on db-1 {eu}", None)
    assert text == "OnCall #ABCD1234 [CRITICAL] Disk full on db-1 {eu}"
    assert septets("[]") == 4 and gsm7("Zürich ✓ 🔴") == "Zürich ? ?"
    long = page_text("ABCD1234", "[" * 200, None)
    assert septets(long) <= SMS_MAX and long.endswith("...")


def test_ack_tokens_are_ours_or_nothing() -> None:
    token, digest = new_link_token(KEY)
    assert len(token) == 28 and link_digest(KEY, token) == digest
    assert link_digest(b"another key" * 3, token) is None
    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    assert link_digest(KEY, flipped) is None
    for bad in ("", "A" * 27, "A" * 29, "!" * 28, token + "=", None):
        assert link_digest(KEY, bad) is None  # type: ignore[arg-type]
    assert new_link_token(KEY)[0] != token


def test_codes_are_bound_to_their_person() -> None:
    stored = code_hash("u1", "123456")
    assert codes_match(stored, "u1", " 123456 ")
    assert not codes_match(stored, "u2", "123456") and not codes_match(stored, "u1", "123457")


def test_copies_go_to_usable_channels_other_than_the_one_that_took_it() -> None:
    also = check_also({"page": ["sms", "slack", "sms"], "reminder": []})
    assert also == {Kind.PAGE: ("sms", "slack"), Kind.REMINDER: ()}
    person = Recipient("u1", "Ada", "UTC", {"slack": "D1", "sms": "+15550100001/u1"}, frozenset({"telegram"}), {}, also)
    assert copies_for(Kind.PAGE, person, ["slack", "sms"], taken="slack") == ["sms"]
    assert copies_for(Kind.PAGE, person, ["slack"], taken="slack") == []
    assert copies_for(Kind.REMINDER, person, ["slack", "sms"], taken="slack") == []
    flagged = Recipient("u1", "Ada", "UTC", person.addresses, frozenset({"sms"}), {}, also)
    assert copies_for(Kind.PAGE, flagged, ["slack", "sms"], taken="slack") == []
    with pytest.raises(InvalidInput) as caught:
        check_also({"page": ["pigeon"]})
    assert caught.value.field == "also.page[0]"


def test_a_code_is_pending_until_it_expires_then_said_expired_for_a_day_then_forgotten() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    at = int(now.timestamp())
    assert code_state(None, now) is None
    assert code_state(at + 1, now) == "pending"
    assert code_state(at, now) == "expired"  # the same instant verify() refuses it at
    assert code_state(at - 86_399, now) == "expired"
    assert code_state(at - 86_400, now) is None
    assert code_state(at, now + EXPIRED_CODE_SHOWN - timedelta(seconds=1)) == "expired"


def test_a_code_used_up_by_wrong_guesses_is_said_expired_before_its_time() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    at = int(now.timestamp())
    assert code_state(at + 600, now, attempts=MAX_CODE_ATTEMPTS - 1) == "pending"
    assert code_state(at + 600, now, attempts=MAX_CODE_ATTEMPTS) == "expired"
    assert code_state(at - 86_400, now, attempts=MAX_CODE_ATTEMPTS) is None
