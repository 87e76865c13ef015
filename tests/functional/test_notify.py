"""The notification service against the emulator and a fake Bot API on 127.0.0.1: dedup (also under concurrent
callers), page cap, 429/5xx/403 handling, the blocked-person fallback, shared rate limits, edits."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.identity import make_user
from tests.support.telegram import linked_user, message_update, post_update, telegram_env


@pytest.fixture
def tg(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    with telegram_env(monkeypatch) as fake:
        yield fake


@pytest.fixture
def locked_dynamo() -> Iterator[None]:
    """moto's DynamoDB made atomic under threads, as the runner does (docs/architecture.md, "Invariants")."""
    from infra.local import dynamo_lock

    dynamo_lock.install()
    try:
        yield
    finally:
        dynamo_lock.uninstall()


def _now() -> datetime:
    return datetime.now(UTC)


def _message(key: str, **kwargs):  # type: ignore[no-untyped-def]
    from oncall.services.notify import Kind, Message

    kwargs.setdefault("kind", Kind.INFO)
    kwargs.setdefault("text", f"hello {key}")
    return Message(key=key, **kwargs)


def _service():  # type: ignore[no-untyped-def]
    from oncall import wiring

    return wiring.notifications.notification_service()


def test_sends_to_the_linked_chat_and_records_the_delivery(tg: FakeTelegram) -> None:
    from oncall import wiring

    user, chat = linked_user()
    delivery = _service().notify(user.id, _message("info-1"), _now())
    assert delivery.status == "sent" and delivery.channel == "telegram"
    message_id = int(str(delivery.ref).rsplit(":", 1)[1])
    assert delivery.ref == f"tg:{chat}:{message_id}"
    assert tg.messages[(str(chat), message_id)]["text"] == "hello info-1"
    record = wiring.notifications.delivery_log().get(user.id, "info-1")
    assert record["status"] == "sent" and record["ref"] == delivery.ref and record["kind"] == "info"


def test_same_key_is_delivered_once(tg: FakeTelegram) -> None:
    user, chat = linked_user()
    first = _service().notify(user.id, _message("dup-1"), _now())
    second = _service().notify(user.id, _message("dup-1"), _now())
    assert first.status == "sent"
    assert second.status == "duplicate" and second.ref == first.ref
    assert [m["text"] for m in tg.sent(chat)].count("hello dup-1") == 1
    # the key is per person: someone else still gets it
    other, _other_chat = linked_user()
    assert _service().notify(other.id, _message("dup-1"), _now()).status == "sent"


def test_concurrent_callers_with_one_key_send_once(tg: FakeTelegram, locked_dynamo: None) -> None:
    user, chat = linked_user()
    service = _service()
    results: list[str] = []
    barrier = threading.Barrier(8)

    def go() -> None:
        barrier.wait()
        results.append(service.notify(user.id, _message("race-1"), _now()).status)

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["duplicate"] * 7 + ["sent"]
    assert [m["text"] for m in tg.sent(chat)].count("hello race-1") == 1


def test_pages_are_capped_per_incident_and_person(tg: FakeTelegram, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncall import wiring
    from oncall.services.notify import Kind
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_NOTIFY_PAGE_CAP", "2")
    get_settings.cache_clear()
    wiring.reset()
    user, _ = linked_user()
    statuses = [
        _service().notify(user.id, _message(f"page-{i}", kind=Kind.PAGE, incident_id="INC9"), _now()).status
        for i in range(4)
    ]
    # two pages are the chat's burst (sent at once) and the incident's cap for the person: the rest are capped
    assert statuses == ["sent", "sent", "capped", "capped"]
    # another incident has its own count; reminders are never capped
    assert _service().notify(user.id, _message("page-x", kind=Kind.ESCALATION, incident_id="INC10"), _now()).status in (
        "sent",
        "queued",
    )
    assert (
        _service().notify(user.id, _message("rem-1", kind=Kind.REMINDER, incident_id="INC9"), _now()).status == "sent"
    )
    # a capped key stays capped on retry
    again = _service().notify(user.id, _message("page-2", kind=Kind.PAGE, incident_id="INC9"), _now())
    assert again.status == "capped"
    get_settings.cache_clear()


def test_429_with_short_retry_after_is_waited_out(tg: FakeTelegram) -> None:
    user, _chat = linked_user()
    tg.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    started = time.monotonic()
    delivery = _service().notify(user.id, _message("ra-1"), _now())
    assert delivery.status == "sent"
    calls = [c for c in tg.of("sendMessage") if c.params.get("text") == "hello ra-1"]
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.9
    assert time.monotonic() - started < 5


def test_429_with_long_retry_after_is_rate_limited_and_retryable(tg: FakeTelegram) -> None:
    user, _chat = linked_user()
    tg.fail("sendMessage", 429, "Too Many Requests: retry after 35", retry_after=35)
    started = time.monotonic()
    assert _service().notify(user.id, _message("ra-2"), _now()).status == "rate_limited"
    assert time.monotonic() - started < 3  # no 35 s sleep inside a Lambda
    time.sleep(1.05)  # the per-chat window
    assert _service().notify(user.id, _message("ra-2"), _now()).status == "sent"


def test_5xx_then_success_is_retried(tg: FakeTelegram) -> None:
    user, _chat = linked_user()
    tg.fail("sendMessage", 502, times=2)
    assert _service().notify(user.id, _message("5xx-1"), _now()).status == "sent"
    calls = [c.status for c in tg.of("sendMessage") if c.params.get("text") == "hello 5xx-1"]
    assert calls == [502, 502, 200]


def test_5xx_that_persists_fails_and_may_be_retried(tg: FakeTelegram) -> None:
    from oncall import wiring

    user, _chat = linked_user()
    tg.fail("sendMessage", 500, times=10)
    assert _service().notify(user.id, _message("5xx-2"), _now()).status == "failed"
    assert wiring.notifications.delivery_log().get(user.id, "5xx-2")["status"] == "failed"


def test_403_blocked_flags_the_person_and_falls_back(tg: FakeTelegram) -> None:
    from oncall import wiring

    user, chat = linked_user()
    tg.block(chat)
    first = _service().notify(user.id, _message("blk-1"), _now())
    # no email address on file: honestly nothing reaches them
    assert first.status == "no_channel"
    assert wiring.notifications.delivery_log().flags(user.id) == frozenset({"telegram"})
    record = wiring.notifications.delivery_log().get(user.id, "blk-1")
    assert record["status"] == "no_channel" and "blocked" in record["attempts"]
    calls_before = len(tg.of("sendMessage"))
    assert _service().notify(user.id, _message("blk-2"), _now()).status == "no_channel"
    assert len(tg.of("sendMessage")) == calls_before  # flagged: Telegram is not even tried
    # linking again (after unblocking the bot) lifts the flag
    tg.blocked.clear()
    code = wiring.core.user_service().create_link_code(user, user.id).code
    post_update(message_update(chat, f"/start {code}"))
    assert wiring.notifications.delivery_log().flags(user.id) == frozenset()
    assert _service().notify(user.id, _message("blk-3"), _now()).status == "sent"


def test_fallback_uses_the_next_registered_channel(tg: FakeTelegram) -> None:
    """The channel seam: a second channel registered (as email is) receives what Telegram cannot."""
    from oncall import wiring

    class Recorder:
        name = "email"

        def __init__(self) -> None:
            self.sent: list[tuple[str, str]] = []

        def limits(self, address: str):  # type: ignore[no-untyped-def]
            return ()

        def send(self, address: str, message) -> str:  # type: ignore[no-untyped-def]
            self.sent.append((address, message.text))
            return f"mail:{len(self.sent)}"

        def edit(self, ref, text, buttons) -> None:  # type: ignore[no-untyped-def]
            raise AssertionError("mail cannot be edited")

    user, chat = linked_user()
    wiring.core.user_service().update(user, user.id, {"email": "ada@example.com"})
    recorder = Recorder()
    _service().register(recorder)
    tg.block(chat)
    delivery = _service().notify(user.id, _message("fb-1"), _now())
    assert delivery == type(delivery)("sent", "email", "mail:1")
    assert recorder.sent == [("ada@example.com", "hello fb-1")]


def test_unknown_or_unlinked_person_has_no_channel(tg: FakeTelegram) -> None:
    unlinked = make_user()
    assert _service().notify(unlinked.id, _message("nc-1"), _now()).status == "no_channel"
    assert _service().notify("no-such-user", _message("nc-2"), _now()).status == "no_channel"
    assert tg.of("sendMessage") == []


def test_edit_changes_text_drops_buttons_and_tolerates_not_modified(tg: FakeTelegram) -> None:
    from oncall.services.notify import Button, Kind

    user, chat = linked_user()
    page = _message("edit-1", kind=Kind.PAGE, incident_id="INC1", buttons=((Button("Acknowledge", "inc:ack:INC1"),),))
    delivery = _service().notify(user.id, page, _now())
    assert tg.of("sendMessage")[-1].params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Acknowledge", "callback_data": "inc:ack:INC1"}]]
    }
    _service().edit(delivery.ref, "Acknowledged by Ada")
    _service().edit(delivery.ref, "Acknowledged by Ada")  # same again: "message is not modified" is fine
    edits = tg.of("editMessageText")
    assert [e.status for e in edits] == [200, 400]
    message_id = int(delivery.ref.rsplit(":", 1)[1])
    assert tg.messages[(str(chat), message_id)]["text"] == "Acknowledged by Ada"
    assert "reply_markup" not in tg.messages[(str(chat), message_id)]
    _service().edit(f"tg:{chat}:999999", "gone")  # a deleted message: logged, not raised


def test_rate_limits_hold_across_concurrent_senders(aws: dict[str, str], locked_dynamo: None) -> None:
    """50 Lambdas' worth of threads at one instant against a 30/s bot budget: exactly 30 get a slot (the bot's
    burst), the others are told to wait one interval, and what is stored books exactly those 30 slots."""
    from oncall.adapters.dynamodb.notifications import DynamoRateLimiter
    from oncall.domain.notifications import rate_terms

    limiter = DynamoRateLimiter(aws["ONCALL_TABLE_NOTIFICATIONS"])
    wall = time.time()
    results: list[float] = []
    barrier = threading.Barrier(50)

    def go() -> None:
        barrier.wait()
        results.append(limiter.acquire([("tg:bot", 30)], wall))

    threads = [threading.Thread(target=go) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    interval, _ = rate_terms(30)
    assert results.count(0.0) == 30
    assert all(w == interval / 1000 for w in results if w)
    assert limiter.booked("tg:bot", wall) == 30 * interval / 1000


def test_one_chat_gets_a_burst_of_two_then_one_message_per_second(tg: FakeTelegram, locked_dynamo: None) -> None:
    user, chat = linked_user()
    service = _service()
    statuses: list[str] = []
    barrier = threading.Barrier(4)

    def go(i: int) -> None:
        barrier.wait()
        statuses.append(service.notify(user.id, _message(f"burst-{i}"), _now()).status)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [
        c for c in tg.of("sendMessage") if str(c.params.get("chat_id")) == str(chat) and "burst" in c.params["text"]
    ]
    # two at once (the burst Telegram tolerates); the other two wait the one second the chat's schedule asks (not a
    # queued kind: in-process), then one takes the next slot and the last is told to retry
    assert sorted(statuses) == ["rate_limited", "sent", "sent", "sent"]
    assert len(sent) == 3
    # what is stored: the chat is booked three seconds on from the burst, one slot a second
    from oncall.adapters.dynamodb.notifications import DynamoRateLimiter

    booked = DynamoRateLimiter(os.environ["ONCALL_TABLE_NOTIFICATIONS"]).booked(f"tg:chat:{chat}", started)
    assert 2.9 <= booked <= 3.5, booked


def test_the_token_never_reaches_the_logs(tg: FakeTelegram) -> None:
    from oncall.adapters.telegram import TelegramClient, TelegramUnavailable
    from tests.support.logs import product_logs

    with product_logs() as logs:
        user, _chat = linked_user()
        tg.fail("sendMessage", 429, retry_after=1)
        tg.fail("sendMessage", 500, times=10)
        _service().notify(user.id, _message("log-1"), _now() + timedelta(seconds=1))
        dead = TelegramClient(token=tg.token, api_url="http://127.0.0.1:9", retries=1, backoff_s=0.01)
        with pytest.raises(TelegramUnavailable) as err:
            dead.get_me()
    assert tg.token not in str(err.value) and tg.token not in repr(dead)
    text = logs.getvalue()
    assert "sendMessage" in text or "telegram" in text.lower()  # the failures were logged, without the token
    assert tg.token not in text
    assert tg.token.split(":")[1] not in text


def test_client_methods_against_the_fake(tg: FakeTelegram) -> None:
    from oncall.adapters.telegram import TelegramBadRequest, TelegramBlocked, TelegramClient

    client = TelegramClient(token=tg.token, api_url=tg.url, backoff_s=0.01)
    assert client.get_me()["username"] == "oncall_test_bot"
    client.set_webhook("https://hooks.example.org/telegram/webhook", "s3cret")
    assert tg.webhook == {
        "url": "https://hooks.example.org/telegram/webhook",
        "secret_token": "s3cret",
        "allowed_updates": ["message", "callback_query"],
    }
    tg.webhook = None
    tg.updates.append(message_update(5, "/help", update_id=77))
    assert [u["update_id"] for u in client.get_updates(offset=0)] == [77]
    assert client.get_updates(offset=78) == []
    tg.block(5)
    with pytest.raises(TelegramBlocked):
        client.send_message(5, "hi")
    with pytest.raises(TelegramBadRequest):
        client.edit_message_text(6, 12345, "nothing there")
    client.answer_callback_query("cbq-1", "ok")
