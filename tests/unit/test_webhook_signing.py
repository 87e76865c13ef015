"""Standard Webhooks signatures, subscriptions and the retry schedule (pure rules, no I/O).

Signatures are checked two independent ways: the ``standardwebhooks`` reference library, and a verifier written
here from the specification's text (sign ``{id}.{timestamp}.{body}`` with HMAC-SHA256 keyed by the base64-decoded
secret after ``whsec_``; header ``v1,<base64>``, several space-separated).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from oncall.domain.errors import InvalidInput
from oncall.domain.webhooks import (
    DEFAULT_RETRY_SCHEDULE,
    MAX_QUEUE_DELAY_S,
    Subscription,
    check_events,
    check_url_shape,
    headers,
    horizon,
    matches,
    new_secret,
    next_delay,
    parse_schedule,
    queue_delay,
    sign,
    verify,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def spec_verify(secret: str, header_map: dict[str, str], body: bytes) -> bool:
    """Written from the spec text, sharing nothing with the product code."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{header_map['webhook-id']}.{header_map['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for part in header_map["webhook-signature"].split(" "):
        version, _, value = part.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


def test_secret_is_whsec_and_at_least_24_random_bytes() -> None:
    secret = new_secret(bytes(range(32)))
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    with pytest.raises(ValueError, match="24-64"):
        new_secret(b"x" * 23)


def test_known_vector_from_the_reference_library() -> None:
    """The reference library signs the same content to the same value."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"type":"incident.triggered"}'
    assert sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == Webhook(secret).sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1614265330, tz=UTC), body.decode()
    )


@settings(max_examples=50)
@given(
    key=st.binary(min_size=24, max_size=64),
    msg_id=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=30),
    body=st.text(max_size=300).map(str.encode),
)
def test_every_signature_verifies_with_the_reference_library_and_the_spec_text(
    key: bytes, msg_id: str, body: bytes
) -> None:
    secret = new_secret(key)
    ts = int(time.time())
    h = headers([secret], msg_id, ts, body)
    assert spec_verify(secret, h, body)
    Webhook(secret).verify(body, h, json_parse=False)  # raises if it does not verify


def test_rotation_sends_both_signatures_and_either_secret_verifies() -> None:
    old, new = new_secret(b"o" * 32), new_secret(b"n" * 32)
    body = b'{"a":1}'
    h = headers([new, old], "msg_1", int(time.time()), body)
    assert len(h["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert spec_verify(secret, h, body)
        Webhook(secret).verify(body, h, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret(b"x" * 32)).verify(body, h, json_parse=False)


def test_a_changed_body_id_or_timestamp_does_not_verify() -> None:
    secret = new_secret(b"k" * 32)
    ts = int(NOW.timestamp())
    h = headers([secret], "msg_1", ts, b"body")
    assert verify(secret, "msg_1", str(ts), b"body", h["webhook-signature"], NOW)
    assert not verify(secret, "msg_1", str(ts), b"bodY", h["webhook-signature"], NOW)
    assert not verify(secret, "msg_2", str(ts), b"body", h["webhook-signature"], NOW)
    assert not verify(secret, "msg_1", str(ts + 1), b"body", h["webhook-signature"], NOW)
    # replay protection: outside five minutes of the receiver's clock
    assert not verify(secret, "msg_1", str(ts), b"body", h["webhook-signature"], NOW + timedelta(minutes=6))


def test_previous_secret_signs_only_during_the_overlap() -> None:
    sub = Subscription(
        id="wh_1",
        url="https://example.com",
        events=("*",),
        secret="whsec_bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3",
        created_at=NOW,
        previous_secret="whsec_b2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xk",
        previous_until=NOW + timedelta(hours=24),
    )
    assert sub.signing_secrets(NOW) == (sub.secret, sub.previous_secret)
    assert sub.signing_secrets(NOW + timedelta(hours=24)) == (sub.secret,)


def test_default_schedule_retries_for_more_than_a_day_with_growing_waits() -> None:
    assert horizon(DEFAULT_RETRY_SCHEDULE) >= timedelta(hours=24)
    assert list(DEFAULT_RETRY_SCHEDULE) == sorted(DEFAULT_RETRY_SCHEDULE)
    assert next_delay(DEFAULT_RETRY_SCHEDULE, 1) == 5
    assert next_delay(DEFAULT_RETRY_SCHEDULE, len(DEFAULT_RETRY_SCHEDULE)) == 36000
    assert next_delay(DEFAULT_RETRY_SCHEDULE, len(DEFAULT_RETRY_SCHEDULE) + 1) is None


def test_schedule_from_configuration() -> None:
    assert parse_schedule("1, 2,4") == (1, 2, 4)
    assert parse_schedule("") == ()
    with pytest.raises(InvalidInput):
        parse_schedule("1,x")
    with pytest.raises(InvalidInput):
        parse_schedule("-1")


@given(wait=st.integers(min_value=0, max_value=48 * 3600))
def test_long_waits_are_chains_of_sqs_delays(wait: int) -> None:
    due = NOW + timedelta(seconds=wait)
    now, hops = NOW, 0
    while (delay := queue_delay(due, now)) > 0:
        assert delay <= MAX_QUEUE_DELAY_S
        now += timedelta(seconds=delay)
        hops += 1
    assert now == due
    assert hops == -(-wait // MAX_QUEUE_DELAY_S)


def test_event_types_and_wildcards() -> None:
    assert check_events(["incident.triggered", "incident.triggered", "shift.*"]) == ("incident.triggered", "shift.*")
    with pytest.raises(InvalidInput) as err:
        check_events(["incident.new"])
    assert err.value.field == "events[0]"
    with pytest.raises(InvalidInput):
        check_events([])
    assert matches(["incident.*"], "incident.resolved")
    assert not matches(["incident.*"], "shift.created")
    assert matches(["*"], "reminder.sent")
    assert not matches(["incident.triggered"], "incident.resolved")


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x", "example.com/hook"])
def test_only_http_and_https_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        check_url_shape(url)


def test_the_readme_receiver_snippet_verifies_our_signatures() -> None:
    """The standard-library verifier README gives receivers is run as written."""
    from infra.topology import ROOT

    readme = (ROOT / "README.md").read_text()
    start = readme.index("import base64, hashlib, hmac, time")
    namespace: dict[str, object] = {}
    exec(readme[start : readme.index("```", start)], namespace)
    snippet = namespace["verify"]
    assert callable(snippet)
    current, previous = new_secret(b"c" * 32), new_secret(b"p" * 32)
    h = headers([current, previous], "msg_readme", int(time.time()), b'{"type":"incident.resolved"}')
    assert snippet(current, h, b'{"type":"incident.resolved"}')
    assert snippet(previous, h, b'{"type":"incident.resolved"}')
    assert not snippet(current, h, b'{"type":"incident.triggered"}')
    assert not snippet(new_secret(b"x" * 32), h, b'{"type":"incident.resolved"}')
