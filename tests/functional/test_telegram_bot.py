"""The bot through its real handler (API Gateway v2 events) against a fake Bot API on 127.0.0.1 and the emulator:
linking, every command, secret rejection, update dedup, parking, and inline-button dispatch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from oncall.domain.users import Role
from tests.support.fake_telegram import FakeTelegram
from tests.support.identity import make_user
from tests.support.telegram import (
    callback_update,
    linked_user,
    message_update,
    next_chat,
    post_update,
    telegram_env,
)

EVENTS = Path(__file__).resolve().parents[1] / "events"


@pytest.fixture
def tg(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    with telegram_env(monkeypatch) as fake:
        yield fake


def last_text(fake: FakeTelegram, chat: int) -> str:
    sent = fake.sent(chat)
    assert sent, f"the bot sent nothing to {chat}; calls: {fake.methods()}"
    return str(sent[-1]["text"])


def test_start_with_a_code_links_the_chat(tg: FakeTelegram) -> None:
    from oncall import wiring

    user = make_user()
    chat = next_chat()
    code = wiring.core.user_service().create_link_code(user, user.id).code
    result = post_update(message_update(chat, f"/start {code}"))
    assert result.status == 200
    assert "Linked" in last_text(tg, chat) and user.display_name in last_text(tg, chat)
    assert wiring.core.user_service().find_by_telegram_chat(str(chat)).id == user.id
    # the code is single-use: a second /start with it is refused politely
    post_update(message_update(next_chat(), f"/start {code}"))
    assert "unknown, expired or already used" in tg.sent()[-1]["text"]


def test_start_with_a_bad_code_or_none(tg: FakeTelegram) -> None:
    chat = next_chat()
    assert post_update(message_update(chat, "/start not-a-real-code")).status == 200
    assert "unknown, expired or already used" in last_text(tg, chat)
    post_update(message_update(chat, "/start"))
    assert "not linked" in last_text(tg, chat)
    user, linked_chat = linked_user()
    post_update(message_update(linked_chat, "/start"))
    assert f"linked to {user.display_name}" in last_text(tg, linked_chat)


@pytest.mark.parametrize("text", ["/help", "hello there", "/unknown_command", "/help@oncall_test_bot", ""])
def test_help_and_anything_else_gets_help(tg: FakeTelegram, text: str) -> None:
    chat = next_chat()
    update = message_update(chat, text or "x")
    if not text:
        update["message"].pop("text")  # a sticker or photo: no text at all
    assert post_update(update).status == 200
    assert "/oncall" in last_text(tg, chat) and "/shifts" in last_text(tg, chat)


def _schedule_with_shift(user_id: str, start: datetime, hours: int = 8) -> str:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    service = wiring.core.schedule_service()
    schedule = service.create_schedule(admin, name=f"Primary {user_id[-4:]}", timezone="Europe/Berlin")
    service.put_on_duty(
        admin, schedule_id=schedule.id, user_id=user_id, start=start, end=start + timedelta(hours=hours)
    )
    return schedule.name


def test_oncall_says_who_is_on_call_now(tg: FakeTelegram) -> None:
    _asker, chat = linked_user()
    holder = make_user()
    now = datetime.now(UTC).replace(microsecond=0)
    name = _schedule_with_shift(holder.id, now - timedelta(hours=1))
    post_update(message_update(chat, "/oncall"))
    text = last_text(tg, chat)
    assert "On call now" in text and name in text and holder.display_name in text


def test_shifts_lists_my_next_shifts_in_my_time_zone(tg: FakeTelegram) -> None:
    user, chat = linked_user()
    start = (datetime.now(UTC) + timedelta(days=3)).replace(hour=8, minute=0, second=0, microsecond=0)
    from oncall import wiring

    wiring.core.user_service().update(user, user.id, {"timezone": "Asia/Tokyo"})
    name = _schedule_with_shift(user.id, start)
    # clock: "now" for the bot is the wiring clock; the shift lies in its future
    post_update(message_update(chat, "/shifts"))
    text = last_text(tg, chat)
    assert name in text and "Asia/Tokyo" in text and "17:00" in text  # 08:00 UTC is 17:00 in Tokyo


def test_shifts_and_oncall_need_a_linked_chat(tg: FakeTelegram) -> None:
    chat = next_chat()
    for command in ("/shifts", "/oncall"):
        post_update(message_update(chat, command))
        assert "not linked" in last_text(tg, chat)


def test_stop_unlinks_the_chat(tg: FakeTelegram) -> None:
    from oncall import wiring

    _user, chat = linked_user()
    post_update(message_update(chat, "/stop"))
    assert "Unlinked" in last_text(tg, chat)
    assert wiring.core.user_service().find_by_telegram_chat(str(chat)) is None
    post_update(message_update(chat, "/stop"))
    assert "not linked" in last_text(tg, chat)


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", "webhook-secret-for-tests_012345678"])
def test_wrong_or_missing_secret_is_403_and_does_nothing(tg: FakeTelegram, secret: str | None) -> None:
    chat = next_chat()
    result = post_update(message_update(chat, "/help"), secret=secret)
    assert result.status == 403
    assert result.json["error"]["code"] == "forbidden"
    assert tg.calls == []


def test_duplicate_update_id_is_handled_once(tg: FakeTelegram) -> None:
    chat = next_chat()
    update = message_update(chat, "/help")
    assert post_update(update).status == 200
    assert post_update(update).status == 200
    assert len(tg.sent(chat)) == 1


def test_malformed_updates_are_parked_and_answered_200(tg: FakeTelegram) -> None:
    from oncall import wiring

    bad = {"update_id": 990001, "message": {"message_id": 1, "text": "/help"}}  # no chat
    assert post_update(bad).status == 200
    parked = wiring.telegram.telegram_bot().ledger.parked(990001)  # type: ignore[attr-defined]
    assert len(parked) == 1 and "chat" in parked[0]["reason"] and json.loads(parked[0]["raw"]) == bad
    # redelivery is a duplicate, not a second parking
    assert post_update(bad).status == 200
    assert len(wiring.telegram.telegram_bot().ledger.parked(990001)) == 1  # type: ignore[attr-defined]
    # no update_id at all: parked too; not JSON at all: 400 (Telegram never sends that)
    assert post_update({"message": {}}).status == 200
    assert post_update("this is not json").status == 400


def test_a_failing_reply_is_parked_not_retried_forever(tg: FakeTelegram) -> None:
    from oncall import wiring

    chat = next_chat()
    tg.fail("sendMessage", 400, "Bad Request: chat not found")
    update = message_update(chat, "/help", update_id=990002)
    assert post_update(update).status == 200
    assert "TelegramBadRequest" in wiring.telegram.telegram_bot().ledger.parked(990002)[0]["reason"]  # type: ignore[attr-defined]


def test_button_press_is_dispatched_to_its_domain(tg: FakeTelegram) -> None:
    from oncall import wiring
    from oncall.services.notify import Button, Kind, Message
    from oncall.services.telegram_bot import CallbackOutcome

    user, chat = linked_user()
    seen: list[tuple[str, str, str]] = []

    def handler(actor, action, ident, now):  # type: ignore[no-untyped-def]
        seen.append((actor.id, action, ident))
        return CallbackOutcome(toast="Acknowledged", new_text=f"Acknowledged by {actor.display_name}")

    wiring.override(callback_handlers={"test": handler})
    delivery = wiring.notifications.notification_service().notify(
        user.id,
        Message(
            kind=Kind.PAGE,
            key="page-test-1",
            text="Page: database down",
            buttons=((Button("Acknowledge", "test:ack:INC1"), Button("Resolve", "test:resolve:INC1")),),
            incident_id="INC1",
        ),
        datetime.now(UTC),
    )
    assert delivery.status == "sent"
    message = tg.messages[(str(chat), int(delivery.ref.rsplit(":", 1)[1]))]
    result = post_update(callback_update(chat, "test:ack:INC1", message))
    assert result.status == 200
    assert seen == [(user.id, "ack", "INC1")]
    answers = tg.of("answerCallbackQuery")
    assert answers[-1].params["text"] == "Acknowledged"
    edit = tg.of("editMessageText")[-1]
    assert edit.params["text"] == f"Acknowledged by {user.display_name}"
    assert edit.params["reply_markup"] == {"inline_keyboard": []}  # buttons gone


@pytest.mark.parametrize("data", ["nosuch:ack:1", "garbage", "", "a:b", "x" * 80])
def test_unknown_or_garbage_buttons_get_a_polite_toast(tg: FakeTelegram, data: str) -> None:
    _user, chat = linked_user()
    message = {"message_id": 1, "chat": {"id": chat, "type": "private"}, "date": 1, "text": "old"}
    assert post_update(callback_update(chat, data, message)).status == 200
    answer = tg.of("answerCallbackQuery")[-1]
    assert answer.status == 200 and answer.params["text"]
    assert tg.of("editMessageText") == []


def test_button_from_an_unlinked_chat_is_refused_politely(tg: FakeTelegram) -> None:
    from oncall import wiring
    from oncall.services.telegram_bot import CallbackOutcome

    calls: list[str] = []
    wiring.override(callback_handlers={"test": lambda *a: calls.append("x") or CallbackOutcome("no")})
    chat = next_chat()
    message = {"message_id": 1, "chat": {"id": chat, "type": "private"}, "date": 1, "text": "page"}
    post_update(callback_update(chat, "test:ack:1", message))
    assert calls == []
    assert "not linked" in tg.of("answerCallbackQuery")[-1].params["text"]


def test_sample_events_are_real_update_shapes(tg: FakeTelegram) -> None:
    for name in ("telegram-message-update.json", "telegram-callback-query-update.json"):
        update = json.loads((EVENTS / name).read_text())
        assert post_update(update).status == 200
    # the /start sample carries an unknown code; the callback sample comes from an unlinked chat
    assert "unknown, expired or already used" in tg.sent(111222333)[-1]["text"]
    assert tg.of("answerCallbackQuery")[-1].params["text"]


def test_a_press_may_keep_or_replace_the_buttons(tg: FakeTelegram) -> None:
    from oncall import wiring
    from oncall.services.notify import Button
    from oncall.services.telegram_bot import CallbackOutcome

    _user, chat = linked_user()
    resolve_only = ((Button("Resolve", "test:resolve:INC2"),),)
    outcomes = {
        "ack": CallbackOutcome("Acknowledged", new_text="Acknowledged by Ada", buttons=resolve_only),
        "note": CallbackOutcome("Noted", new_text="Noted", keep_buttons=True),
    }
    wiring.override(callback_handlers={"test": lambda user, action, ident, now: outcomes[action]})
    original = {"inline_keyboard": [[{"text": "Ack", "callback_data": "test:ack:INC2"}]]}
    message = {
        "message_id": 7,
        "chat": {"id": chat, "type": "private"},
        "date": 1,
        "text": "p",
        "reply_markup": original,
    }
    post_update(callback_update(chat, "test:ack:INC2", message))
    assert tg.of("editMessageText")[-1].params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Resolve", "callback_data": "test:resolve:INC2"}]]
    }
    post_update(callback_update(chat, "test:note:INC2", message))
    assert tg.of("editMessageText")[-1].params["reply_markup"] == original


def test_deployed_secrets_come_from_secure_parameters(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In the stack the functions get ``ONCALL_SECRET_TELEGRAM_*`` (secret ids), never the values themselves."""
    import boto3

    from oncall import wiring

    ssm = boto3.client("ssm", region_name="us-east-1")
    token_arn, secret_arn = "/OnCallHub/secrets/telegram-bot-token", "/OnCallHub/secrets/telegram-webhook-secret"
    ssm.put_parameter(Name=token_arn, Value="98765:AAF-token-from-secrets-manager_0123\n", Type="SecureString")
    ssm.put_parameter(Name=secret_arn, Value="secret-from-secrets-manager", Type="SecureString")
    for var in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ONCALL_SECRET_TELEGRAM_BOT_TOKEN", token_arn)
    monkeypatch.setenv("ONCALL_SECRET_TELEGRAM_WEBHOOK_SECRET", secret_arn)
    wiring.reset()
    try:
        client = wiring.notifications.telegram_client()
        assert client is not None and client.token == "98765:AAF-token-from-secrets-manager_0123"
        assert wiring.telegram.telegram_webhook_secret() == "secret-from-secrets-manager"
        refused = post_update(message_update(next_chat(), "/help"), secret="wrong")
        assert refused.status == 403
    finally:
        wiring.reset()


def test_bot_replies_survive_429_and_5xx(tg: FakeTelegram) -> None:
    chat = next_chat()
    tg.fail("sendMessage", 429, retry_after=1)
    tg.fail("sendMessage", 502, times=2)
    assert post_update(message_update(chat, "/help")).status == 200
    statuses = [c.status for c in tg.of("sendMessage") if str(c.params.get("chat_id")) == str(chat)]
    assert statuses == [429, 502, 502, 200]
    assert "/oncall" in last_text(tg, chat)


def test_a_reply_to_a_chat_that_blocked_the_bot_is_parked(tg: FakeTelegram) -> None:
    from oncall import wiring

    chat = next_chat()
    tg.block(chat)
    assert post_update(message_update(chat, "/help", update_id=990003)).status == 200
    (parked,) = wiring.telegram.telegram_bot().ledger.parked(990003)  # type: ignore[attr-defined]
    assert "TelegramBlocked" in parked["reason"] and "blocked" in parked["reason"]
