"""The Telegram bot: account linking, commands, and inline-button presses dispatched to their domain.

``handle(update, raw, now)`` never raises for anything a user can send: a command it does not know gets the help,
a button it does not know gets a polite toast, and an update it cannot handle is parked (stored with the reason) so
Telegram is answered 200 and does not redeliver it forever. Each ``update_id`` is handled once (a conditional put).

Buttons carry ``<domain>:<action>:<id>`` (≤ 64 bytes). A domain registers its handler in
``oncall.wiring.telegram.callback_handlers()``; the handler gets the linked person, the action, the id and ``now`` and
returns a ``CallbackOutcome``: the toast shown to the presser and, optionally, the message's new text (buttons
dropped unless ``keep_buttons``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from oncall.domain import texts
from oncall.domain.errors import DomainError
from oncall.domain.notifications import Button, parse_callback_data
from oncall.domain.users import User
from oncall.observability import log


@dataclass
class CallbackOutcome:
    """What the bot does after a press: answer with ``toast``; when ``new_text`` is given, edit the message to it
    with ``buttons`` if given, else the message's own buttons (``keep_buttons``) or none."""

    toast: str
    new_text: str | None = None
    keep_buttons: bool = False
    buttons: tuple[tuple[Button, ...], ...] | None = None
    #: pressed in a digest (buttons for several objects): this line is added to the digest instead of replacing it,
    #: and of the pressed object's buttons only those in ``buttons`` stay
    line: str | None = None


CallbackHandler = Callable[[User, str, str, datetime], CallbackOutcome]


class BotApi(Protocol):
    def send_message(
        self, chat_id: int | str, text: str, buttons: tuple[tuple[Button, ...], ...] = ()
    ) -> dict[str, Any]: ...
    def edit_message_text(
        self, chat_id: int | str, message_id: int, text: str, buttons: tuple[tuple[Button, ...], ...] = ()
    ) -> None: ...
    def answer_callback_query(self, callback_query_id: str, text: str = "", show_alert: bool = False) -> None: ...


class Accounts(Protocol):
    def consume_link_code(self, code: str, chat_id: str, now: datetime) -> User: ...
    def find_by_telegram_chat(self, chat_id: str) -> User | None: ...


class Ledger(Protocol):
    def first_time(self, update_id: int, now: datetime) -> bool: ...
    def park(self, update_id: int | str, raw: str, reason: str, now: datetime) -> None: ...


class Links(Protocol):
    def unlink(self, user_id: str, chat_id: str, now: datetime) -> bool: ...


class Flags(Protocol):
    def unflag(self, user_id: str, channel: str) -> None: ...


@dataclass(frozen=True)
class DutyLine:
    schedule: str
    person: str
    start: datetime
    end: datetime


class Duty(Protocol):
    """Read-only schedule questions the bot answers."""

    def on_call_now(self, asker: User, now: datetime) -> list[DutyLine]: ...
    def next_shifts(self, user_id: str, now: datetime, limit: int) -> list[DutyLine]: ...


class TelegramBot:
    def __init__(
        self,
        api: BotApi,
        accounts: Accounts,
        ledger: Ledger,
        links: Links,
        flags: Flags,
        duty: Duty,
        callbacks: Callable[[], Mapping[str, CallbackHandler]],
    ) -> None:
        self.api = api
        self.accounts = accounts
        self.ledger = ledger
        self.links = links
        self.flags = flags
        self.duty = duty
        self.callbacks = callbacks

    def handle(self, update: Mapping[str, Any], raw: str, now: datetime) -> str:
        """Returns what happened (``handled``, ``duplicate``, ``ignored``, ``parked``), for the log."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            self.ledger.park("no-id", raw, "update without an integer update_id", now)
            return "parked"
        if not self.ledger.first_time(update_id, now):
            return "duplicate"
        try:
            if isinstance(update.get("message"), dict):
                self._message(update["message"], now)
            elif isinstance(update.get("callback_query"), dict):
                self._callback(update["callback_query"], now)
            else:
                return "ignored"  # edited messages, channel posts, ...: nothing we act on
        except Exception as exc:
            log.exception("update %s could not be handled; parked", update_id)
            self.ledger.park(update_id, raw, f"{type(exc).__name__}: {exc}", now)
            return "parked"
        return "handled"

    # -- messages --------------------------------------------------------------------------------------------------

    def _message(self, message: Mapping[str, Any], now: datetime) -> None:
        chat = message.get("chat")
        if not isinstance(chat, dict) or "id" not in chat:
            raise ValueError("message without chat.id")
        chat_id = str(chat["id"])
        text = message.get("text")
        if not isinstance(text, str):
            self.api.send_message(chat_id, texts.BOT_HELP)
            return
        command, _, arg = text.strip().partition(" ")
        # "/start@oncall_bot code" in groups names the bot; drop it
        command = command.split("@", 1)[0].lower()
        arg = arg.strip()
        if command == "/start":
            self._start(chat_id, arg, now)
        elif command == "/oncall":
            self._oncall(chat_id, now)
        elif command == "/shifts":
            self._shifts(chat_id, now)
        elif command == "/stop":
            self._stop(chat_id, now)
        else:
            self.api.send_message(chat_id, texts.BOT_HELP)

    def _start(self, chat_id: str, code: str, now: datetime) -> None:
        if not code:
            user = self.accounts.find_by_telegram_chat(chat_id)
            if user is not None:
                self.api.send_message(chat_id, texts.bot_already_linked(user.display_name))
            else:
                self.api.send_message(chat_id, texts.BOT_NOT_LINKED)
            return
        try:
            user = self.accounts.consume_link_code(code, chat_id, now)
        except DomainError:
            self.api.send_message(chat_id, texts.BOT_LINK_CODE_REFUSED)
            return
        # linking again is the way back after blocking the bot: lift the flag so pages come here again
        self.flags.unflag(user.id, "telegram")
        self.api.send_message(chat_id, texts.bot_linked(user.display_name))

    def _linked(self, chat_id: str) -> User | None:
        user = self.accounts.find_by_telegram_chat(chat_id)
        if user is None or not user.active:
            self.api.send_message(chat_id, texts.BOT_NOT_LINKED)
            return None
        return user

    def _oncall(self, chat_id: str, now: datetime) -> None:
        user = self._linked(chat_id)
        if user is None:
            return
        lines = self.duty.on_call_now(user, now)
        if not lines:
            self.api.send_message(chat_id, texts.BOT_NOBODY_ON_CALL)
            return
        on_call = ((d.schedule, d.person, d.end) for d in lines)
        self.api.send_message(chat_id, texts.bot_on_call_now(on_call, _zone(user.timezone)))

    def _shifts(self, chat_id: str, now: datetime) -> None:
        user = self._linked(chat_id)
        if user is None:
            return
        lines = self.duty.next_shifts(user.id, now, 5)
        if not lines:
            self.api.send_message(chat_id, texts.BOT_NO_SHIFTS)
            return
        shifts = ((d.schedule, d.start, d.end) for d in lines)
        self.api.send_message(chat_id, texts.bot_next_shifts(user.timezone, shifts, _zone(user.timezone)))

    def _stop(self, chat_id: str, now: datetime) -> None:
        user = self.accounts.find_by_telegram_chat(chat_id)
        if user is None or not self.links.unlink(user.id, chat_id, now):
            self.api.send_message(chat_id, texts.BOT_NOTHING_TO_STOP)
            return
        self.api.send_message(chat_id, texts.bot_unlinked(user.display_name))

    # -- buttons ---------------------------------------------------------------------------------------------------

    def _callback(self, query: Mapping[str, Any], now: datetime) -> None:
        query_id = str(query.get("id") or "")
        if not query_id:
            raise ValueError("callback_query without id")
        message = query.get("message") if isinstance(query.get("message"), dict) else None
        chat = message.get("chat") if message else None
        sender: Mapping[str, Any] = query["from"] if isinstance(query.get("from"), dict) else {}
        chat_id = str(chat["id"]) if isinstance(chat, dict) and "id" in chat else str(sender.get("id", ""))
        data = parse_callback_data(query.get("data"))
        if data is None:
            self.api.answer_callback_query(query_id, texts.BUTTON_UNRECOGNISED)
            return
        handler = self.callbacks().get(data.domain)
        if handler is None:
            self.api.answer_callback_query(query_id, texts.BUTTON_RETIRED)
            return
        user = self.accounts.find_by_telegram_chat(chat_id) if chat_id else None
        if user is None or not user.active:
            self.api.answer_callback_query(query_id, texts.BUTTON_CHAT_NOT_LINKED, True)
            return
        try:
            outcome = handler(user, data.action, data.ident, now)
        except DomainError as exc:
            self.api.answer_callback_query(query_id, exc.message[:200], True)
            return
        self.api.answer_callback_query(query_id, outcome.toast)
        if message and isinstance(message.get("message_id"), int) and _is_digest(message):
            text, buttons = _digest_after(message, data.domain, data.ident, outcome)
            self.api.edit_message_text(chat_id, message["message_id"], text, buttons)
            return
        if outcome.new_text and message and isinstance(message.get("message_id"), int):
            if outcome.buttons is not None:
                buttons = outcome.buttons
            else:
                buttons = _buttons_of(message) if outcome.keep_buttons else ()
            self.api.edit_message_text(chat_id, message["message_id"], outcome.new_text, buttons)


def _buttons_of(message: Mapping[str, Any]) -> tuple[tuple[Button, ...], ...]:
    markup = message.get("reply_markup")
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    out: list[tuple[Button, ...]] = []
    for row in rows:
        buttons = tuple(
            Button(str(b["text"]), str(b["callback_data"]))
            for b in row
            if isinstance(b, dict) and b.get("text") and b.get("callback_data")
        )
        if buttons:
            out.append(buttons)
    return tuple(out)


def _idents(message: Mapping[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for row in _buttons_of(message):
        for button in row:
            data = parse_callback_data(button.callback_data)
            if data is not None:
                out.add((data.domain, data.ident))
    return out


def _is_digest(message: Mapping[str, Any]) -> bool:
    """A digest (``oncall.domain.notifications.digest``) carries buttons for more than one object."""
    return len(_idents(message)) > 1


def _digest_after(
    message: Mapping[str, Any], domain: str, ident: str, outcome: CallbackOutcome
) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    """The digest after a press on one of its objects: the outcome's line added, and that object's buttons reduced
    to those the outcome keeps (the others' buttons untouched)."""
    keep = None if outcome.buttons is None else {b.callback_data for row in outcome.buttons for b in row}
    rows = []
    for row in _buttons_of(message):
        kept = []
        for button in row:
            data = parse_callback_data(button.callback_data)
            mine = data is not None and data.domain == domain and data.ident == ident
            if not mine or keep is None or button.callback_data in keep:
                kept.append(button)
        if kept:
            rows.append(tuple(kept))
    text = str(message.get("text") or "")
    line = outcome.line or outcome.toast
    if line and line not in text:
        text = f"{text}\n{line}"
    return text[:4096], tuple(rows)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def parse_update(body: str) -> Mapping[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ScheduleDuty:
    """``Duty`` over the schedule service (its store answers "who is on call at T" in one query per schedule)."""

    def __init__(self, schedules: Any, names: Callable[[str], str | None], max_schedules: int = 25) -> None:
        self.schedules = schedules
        self.names = names
        self.max_schedules = max_schedules

    def on_call_now(self, asker: User, now: datetime) -> list[DutyLine]:
        """The schedules of the asker's teams (all of them for admins and viewers), as the API lists them."""
        found, _ = self.schedules.list_schedules(asker, self.max_schedules, None)
        lines = []
        for schedule in found:
            shift = self.schedules.store.on_call(schedule.id, now)
            if shift is not None and shift.end > now:
                person = self.names(shift.user_id) or shift.user_id
                lines.append(DutyLine(schedule.name, person, shift.start, shift.end))
        return lines

    def next_shifts(self, user_id: str, now: datetime, limit: int) -> list[DutyLine]:
        from oncall.domain.shifts import Interval

        shifts: Sequence[Any]
        shifts, _ = self.schedules.store.user_shifts(user_id, Interval(now, now + timedelta(days=60)), limit + 1, None)
        lines = []
        names: dict[str, str] = {}
        for shift in shifts:
            if shift.end <= now:
                continue
            if shift.schedule_id not in names:
                schedule = self.schedules.store.get_schedule(shift.schedule_id)
                names[shift.schedule_id] = schedule.name if schedule else shift.schedule_id
            lines.append(DutyLine(names[shift.schedule_id], "", shift.start, shift.end))
        return lines[:limit]
