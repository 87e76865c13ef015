"""The Slack app: slash commands (``/oncall``, ``/incident``), button presses on pages, and the Events API's URL
check. Requests reach it only after their signature was verified (``functions/slack/handler.py``).

- **Linking** (``/oncall link``): Slack tells us the presser's email (``users.info``, scope ``users:read.email``);
  unless Slack calls it unconfirmed and as long as Slack resolves that address to the same member
  (``users.lookupByEmail``), an active person here with exactly that email is linked, and their direct-message
  conversation with the app (``conversations.open``) becomes their Slack address. A Slack user links one person and a
  person one Slack user (``oncall.adapters.dynamodb.slack_links``).
- **Buttons** carry the product's callback data, so a press runs the same handler as a Telegram press (the incident
  buttons: the move is made as the linked person, roles and teams checked by the incident service); the pressed
  message is rewritten at once, and the lifecycle rewrites every other copy (Telegram and Slack) as it does for any
  acknowledgement (docs/architecture.md, "How a page flows").
- **Replays**: every command and press is handled once per signature (a conditional put), so a captured request
  sent again within its 5 minutes changes nothing.
- Everything a command does is one or two small writes: the reply is the HTTP answer, well inside Slack's 3 seconds;
  paging after ``/incident`` goes through the outbox like any new incident.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from oncall.domain import texts
from oncall.domain.errors import DomainError
from oncall.domain.incidents import Incident
from oncall.domain.notifications import Button, parse_callback_data
from oncall.domain.services_catalog import Service
from oncall.domain.slack import Press, blocks, buttons_of, parse_command, parse_press, split_incident
from oncall.domain.users import User, UserKind
from oncall.observability import log
from oncall.services.telegram_bot import CallbackHandler, CallbackOutcome, Duty


class SlackCallFailed(Exception):
    """A Web API call that did not work (the adapter's errors derive from it)."""


class SlackApi(Protocol):
    def update_message(self, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None: ...
    def post_ephemeral(self, channel: str, user: str, text: str) -> None: ...
    def user_info(self, user: str) -> dict[str, Any]: ...
    def lookup_by_email(self, email: str) -> dict[str, Any]: ...
    def open_dm(self, user: str) -> str: ...


class Links(Protocol):
    def person_of(self, slack_user: str) -> str | None: ...
    def link(self, user_id: str, slack_user: str, conversation: str, now: datetime) -> bool: ...
    def unlink(self, user_id: str, slack_user: str) -> bool: ...
    def first_time(self, signature: str, now: datetime) -> bool: ...


class People(Protocol):
    def get(self, user_id: str) -> User | None: ...
    def by_email(self, email: str) -> list[User]: ...


class Flags(Protocol):
    def unflag(self, user_id: str, channel: str) -> None: ...


class Opener(Protocol):
    """Opening an incident by hand, as the API's ``POST /incidents`` does."""

    def services_for(self, actor: User) -> list[Service]: ...
    def open(self, actor: User, service_id: str, title: str) -> Incident: ...


class SlackApp:
    def __init__(
        self,
        api: SlackApi,
        links: Links,
        people: People,
        flags: Flags,
        duty: Duty,
        opener: Opener,
        callbacks: Callable[[], Mapping[str, CallbackHandler]],
    ) -> None:
        self.api = api
        self.links = links
        self.people = people
        self.flags = flags
        self.duty = duty
        self.opener = opener
        self.callbacks = callbacks

    # -- Events API ------------------------------------------------------------------------------------------------

    @staticmethod
    def event(body: Mapping[str, Any]) -> dict[str, Any]:
        """Slack checks the events URL with a challenge it expects back; other events are not acted on."""
        if body.get("type") == "url_verification" and isinstance(body.get("challenge"), str):
            return {"challenge": body["challenge"][:200]}
        return {}

    # -- slash commands --------------------------------------------------------------------------------------------

    def command(self, form: Mapping[str, Sequence[str]], signature: str, now: datetime) -> str | None:
        """The reply shown to the person who ran the command (only to them); None for a replayed request."""
        command = parse_command(form)
        if command is None:
            return texts.SLACK_HELP
        if not self.links.first_time(signature, now):
            return None
        word = command.text.partition(" ")[0]
        word = word.lower()
        if command.name == "/oncall" and word == "link":
            return self._link(command.slack_user, now)
        if command.name not in ("/oncall", "/incident") or (command.name == "/oncall" and word == "help"):
            return texts.SLACK_HELP
        user = self._person(command.slack_user)
        if user is None:
            return texts.SLACK_NOT_LINKED
        if command.name == "/incident":
            return self._open(user, command.text)
        if word == "unlink":
            return self._unlink(user, command.slack_user)
        if word == "shifts":
            return self._shifts(user, now)
        # /oncall <words>: the schedules whose name holds them ("/oncall payments")
        return self._oncall(user, now, command.text.strip())

    def _person(self, slack_user: str) -> User | None:
        user_id = self.links.person_of(slack_user)
        user = self.people.get(user_id) if user_id else None
        return user if user is not None and user.active else None

    def _link(self, slack_user: str, now: datetime) -> str:
        info = self.api.user_info(slack_user)
        raw_profile = info.get("profile")
        profile: dict[str, Any] = raw_profile if isinstance(raw_profile, dict) else {}
        email = str(profile.get("email") or "").strip().lower()
        # only an address Slack vouches for, of a real member: otherwise anyone could claim anyone's pages. Slack
        # must not call it unconfirmed, and must itself resolve that address to this very member (lookupByEmail)
        if not email or info.get("is_email_confirmed") is False or info.get("deleted") or info.get("is_bot"):
            return texts.SLACK_LINK_NO_EMAIL
        try:
            owner = self.api.lookup_by_email(email)
        except SlackCallFailed:
            return texts.SLACK_LINK_NO_EMAIL
        if owner.get("id") != slack_user:
            return texts.SLACK_LINK_NO_EMAIL
        found = [u for u in self.people.by_email(email) if u.active and u.kind is UserKind.PERSON]
        if len(found) != 1:
            return texts.SLACK_LINK_NO_MATCH
        user = found[0]
        conversation = self.api.open_dm(slack_user)
        if not self.links.link(user.id, slack_user, conversation, now):
            return texts.SLACK_LINK_TAKEN
        # linking again is the way back after Slack refused the address: pages come here again
        self.flags.unflag(user.id, "slack")
        log.info("slack: linked", extra={"user_id": user.id})
        return texts.slack_linked(user.display_name)

    def _unlink(self, user: User, slack_user: str) -> str:
        if not self.links.unlink(user.id, slack_user):
            return texts.SLACK_NOTHING_TO_UNLINK
        return texts.slack_unlinked(user.display_name)

    def _oncall(self, user: User, now: datetime, wanted: str = "") -> str:
        lines = self.duty.on_call_now(user, now)
        if wanted:
            lines = [d for d in lines if wanted.lower() in d.schedule.lower()]
            if not lines:
                return texts.slack_nobody_on(wanted)
        if not lines:
            return texts.BOT_NOBODY_ON_CALL
        return texts.bot_on_call_now(((d.schedule, d.person, d.end) for d in lines), _zone(user.timezone))

    def _shifts(self, user: User, now: datetime) -> str:
        lines = self.duty.next_shifts(user.id, now, 5)
        if not lines:
            return texts.BOT_NO_SHIFTS
        shifts = ((d.schedule, d.start, d.end) for d in lines)
        return texts.bot_next_shifts(user.timezone, shifts, _zone(user.timezone))

    def _open(self, user: User, text: str) -> str:
        wanted, title = split_incident(text)
        if not title:
            return texts.SLACK_INCIDENT_NEEDS_TITLE
        services = self.opener.services_for(user)
        if not services:
            return texts.SLACK_INCIDENT_NO_SERVICE
        if wanted is not None:
            chosen = [s for s in services if wanted.lower() in (s.name.lower(), s.id)]
            if not chosen:
                # "db: replica lag" with no service called "db" is a title with a colon in it
                if len(services) != 1:
                    return texts.slack_pick_service(s.name for s in services)
                chosen, title = services, text.strip()
        elif len(services) == 1:
            chosen = services
        else:
            return texts.slack_pick_service(s.name for s in services)
        service = chosen[0]
        try:
            incident = self.opener.open(user, service.id, title)
        except DomainError as exc:
            return exc.message
        return texts.slack_incident_opened(incident.id, incident.title, service.name)

    # -- button presses --------------------------------------------------------------------------------------------

    def interaction(self, payload: Mapping[str, Any], signature: str, now: datetime) -> str:
        """Returns what happened (``handled``, ``duplicate``, ``ignored``, ``refused``), for the log and tests."""
        press = parse_press(payload)
        if press is None:
            return "ignored"
        if not self.links.first_time(signature, now):
            return "duplicate"
        data = parse_callback_data(press.value)
        handler = self.callbacks().get(data.domain) if data is not None else None
        if data is None or handler is None:
            self._tell(press, texts.BUTTON_UNRECOGNISED if data is None else texts.BUTTON_RETIRED)
            return "refused"
        user = self._person(press.slack_user)
        if user is None:
            self._tell(press, texts.SLACK_BUTTON_NOT_LINKED)
            return "refused"
        try:
            outcome = handler(user, data.action, data.ident, now)
        except DomainError as exc:
            self._tell(press, exc.message[:200])
            return "refused"
        if not outcome.new_text or not press.channel or not press.ts:
            self._tell(press, outcome.toast)
            return "handled"
        text, buttons = _after(press, data.domain, data.ident, outcome)
        self.api.update_message(press.channel, press.ts, text, blocks(text, buttons))
        return "handled"

    def _tell(self, press: Press, text: str) -> None:
        """Slack has no toast: a message only the presser sees, in the conversation they pressed in."""
        if press.channel:
            try:
                self.api.post_ephemeral(press.channel, press.slack_user, text)
            except SlackCallFailed:
                log.warning("slack: could not tell the presser %s", text[:60])


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _after(
    press: Press, domain: str, ident: str, outcome: CallbackOutcome
) -> tuple[str, tuple[tuple[Button, ...], ...]]:
    """The pressed message after the press: the outcome's text and buttons, or for a digest (buttons for several
    incidents) the outcome's line added and only the pressed incident's buttons changed."""
    rows = buttons_of(press.message)
    idents = {(d.domain, d.ident) for row in rows for b in row if (d := parse_callback_data(b.callback_data))}
    if len(idents) <= 1:
        if outcome.buttons is not None:
            return str(outcome.new_text), outcome.buttons
        return str(outcome.new_text), rows if outcome.keep_buttons else ()
    keep = None if outcome.buttons is None else {b.callback_data for row in outcome.buttons for b in row}
    kept_rows = []
    for row in rows:
        kept = []
        for button in row:
            d = parse_callback_data(button.callback_data)
            mine = d is not None and d.domain == domain and d.ident == ident
            if not mine or keep is None or button.callback_data in keep:
                kept.append(button)
        if kept:
            kept_rows.append(tuple(kept))
    text = str(press.message.get("text") or "")
    line = outcome.line or outcome.toast
    if line and line not in text:
        text = f"{text}\n{line}"
    return text[:3000], tuple(kept_rows)
