"""Digests and queued messages (pure): what one message standing for several says, and a queued message's JSON
round trip (it waits in DynamoDB and travels in an SQS job)."""

from __future__ import annotations

import json

import pytest

from oncall.domain.notifications import (
    DIGEST_MAX,
    TEXT_MAX_CHARS,
    Button,
    Kind,
    Message,
    digest,
    headline,
    message_from_dict,
    message_to_dict,
)
from oncall.domain.page_content import compose


def page(n: int, title: str = "disk full") -> Message:
    incident = f"inc{n:02d}"
    return Message(
        kind=Kind.PAGE,
        key=f"{incident}:1:0:step0:u1",
        text=f"🔴 [CRITICAL] {title} {n}\nIncident {incident} · status triggered",
        buttons=((Button("Acknowledge", f"inc:ack:{incident}"), Button("Resolve", f"inc:res:{incident}")),),
        incident_id=incident,
    )


def test_a_digest_lists_each_headline_numbered_with_its_own_buttons() -> None:
    out = digest([page(1), page(2), page(3)])
    assert out.kind is Kind.PAGE
    lines = out.text.split("\n")
    assert lines[0] == "🚨 3 incidents need you"
    assert lines[2:] == ["1. 🔴 [CRITICAL] disk full 1", "2. 🔴 [CRITICAL] disk full 2", "3. 🔴 [CRITICAL] disk full 3"]
    assert [[(b.text, b.callback_data) for b in row] for row in out.buttons] == [
        [(f"Acknowledge #{n}", f"inc:ack:inc{n:02d}"), (f"Resolve #{n}", f"inc:res:inc{n:02d}")] for n in (1, 2, 3)
    ]


def test_a_digest_stays_within_telegram_limits_at_its_largest() -> None:
    out = digest([page(n, "x" * 400) for n in range(DIGEST_MAX)])
    assert len(out.text) <= TEXT_MAX_CHARS
    assert sum(len(row) for row in out.buttons) == 2 * DIGEST_MAX  # Telegram allows 100 buttons
    assert all(len(line) <= 170 for line in out.text.split("\n"))
    with pytest.raises(ValueError, match="at most"):
        digest([page(n) for n in range(DIGEST_MAX + 1)])
    with pytest.raises(ValueError, match="at least one"):
        digest([])


def test_headline_is_the_first_line_bounded() -> None:
    assert headline(page(7)) == "🔴 [CRITICAL] disk full 7"
    assert len(headline(page(1, "y" * 500))) == 160


def test_a_queued_message_survives_json_with_its_page_content() -> None:
    content = compose(title="DB down", incident_id="inc01", severity="critical", status="triggered", alert_count=3)
    original = Message(
        kind=Kind.ESCALATION,
        key="inc01:1:0:step1:u1",
        text="🔴 [CRITICAL] DB down",
        buttons=((Button("Acknowledge", "inc:ack:inc01"),),),
        incident_id="inc01",
        content=content,
    )
    back = message_from_dict(json.loads(json.dumps(message_to_dict(original))))
    assert back == original
    plain = Message(kind=Kind.INFO, key="k", text="hello")
    assert message_from_dict(json.loads(json.dumps(message_to_dict(plain)))) == plain
