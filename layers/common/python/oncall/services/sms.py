"""SMS: a person's number, verified by a one-time code before anything is sent to it, and the acknowledgement link a
page by SMS carries (``oncall.domain.sms``: reply-free, signed, expiring, single-use; it acknowledges as the person
the page went to, after a confirmation page, so a link preview that merely fetches it changes nothing).

The SMS channel itself (opt-out, cost caps, SNS) is ``oncall.adapters.sms``; it is a channel of the one notification
service like the others (docs/architecture.md, "SMS").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from oncall.domain import texts
from oncall.domain.errors import InvalidInput, RateLimited
from oncall.domain.incidents import Action, IllegalTransition, Incident
from oncall.domain.sms import (
    MAX_CODE_ATTEMPTS,
    check_e164,
    code_hash,
    code_state,
    codes_match,
    link_digest,
    new_code,
)
from oncall.domain.users import User


class Pending(Protocol):
    @property
    def number(self) -> str: ...
    @property
    def code_hash(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def expires_at(self) -> int: ...


class AckLink(Protocol):
    @property
    def user_id(self) -> str: ...
    @property
    def incident_id(self) -> str: ...
    @property
    def expires_at(self) -> int: ...
    @property
    def used(self) -> bool: ...


class SmsStore(Protocol):
    def start(self, user_id: str, number: str, code_hash: str, now: datetime) -> None: ...
    def pending(self, user_id: str) -> Pending | None: ...
    def failed_attempt(self, user_id: str) -> None: ...
    def confirm(self, user_id: str, number: str, now: datetime) -> None: ...
    def remove(self, user_id: str) -> None: ...
    def number_of(self, user_id: str) -> str | None: ...
    def take(self, number: str, per_number: int, overall: int, now: datetime) -> str | None: ...
    def link(self, digest: str) -> AckLink | None: ...
    def use_link(self, digest: str, now: datetime) -> AckLink | None: ...


class Texter(Protocol):
    def send(self, number: str, text: str) -> str: ...


class People(Protocol):
    def get(self, user_id: str) -> User | None: ...


class Incidents(Protocol):
    def get(self, incident_id: str, actor: User | None = None) -> Incident: ...
    def act(self, actor: User, incident_id: str, action: Action, *, channel: str = "api") -> Incident: ...


#: wrong codes allowed before a new one must be asked for


@dataclass(frozen=True)
class Phone:
    """A person's SMS numbers: the verified one, and one waiting for its code, whose code may have expired unused
    (then a new code must be asked for; said for a day, ``oncall.domain.sms.code_state``)."""

    number: str | None
    pending: str | None
    code_expired: bool = False


@dataclass(frozen=True)
class LinkView:
    """What the confirmation page shows, or why the link does nothing (``invalid``, ``used``, ``expired``)."""

    state: str
    incident: Incident | None = None
    who: str | None = None


class SmsService:
    def __init__(
        self,
        store: SmsStore,
        texter: Texter,
        people: People,
        incidents: Incidents,
        key: bytes,
        clock: Callable[[], datetime],
        caps: tuple[int, int] = (10, 100),
    ) -> None:
        self.store = store
        self.texter = texter
        self.people = people
        self.incidents = incidents
        self.key = key
        self.clock = clock
        #: (per number, everyone) per hour: codes count like pages, so nobody can text numbers at our expense
        self.caps = caps

    # -- the person's number ---------------------------------------------------------------------------------------

    def register(self, actor: User, raw_number: str) -> str:
        """Send a one-time code to the number; it becomes the person's SMS address once the code comes back."""
        number = check_e164(raw_number)
        now = self.clock()
        if self.store.take(number, *self.caps, now) is not None:
            next_hour = 3600 - (int(now.timestamp()) % 3600)
            raise RateLimited("too many SMS to this number (or in all) this hour", retry_after=next_hour)
        code = new_code()
        self.store.start(actor.id, number, code_hash(actor.id, code), now)
        self.texter.send(number, texts.sms_code(code))
        return number

    def verify(self, actor: User, code: str) -> str:
        now = self.clock()
        pending = self.store.pending(actor.id)
        if pending is None or pending.expires_at <= int(now.timestamp()):
            raise InvalidInput("code", "no code is waiting (or it expired): PUT /me/phone again")
        if pending.attempts >= MAX_CODE_ATTEMPTS:
            raise InvalidInput("code", "too many wrong codes: PUT /me/phone again for a new one")
        if not codes_match(pending.code_hash, actor.id, code or ""):
            self.store.failed_attempt(actor.id)
            raise InvalidInput("code", "that is not the code sent to the number")
        self.store.confirm(actor.id, pending.number, now)
        return pending.number

    def remove(self, actor: User) -> None:
        self.store.remove(actor.id)

    def number(self, actor: User) -> Phone:
        pending = self.store.pending(actor.id)
        state = code_state(pending.expires_at, self.clock(), pending.attempts) if pending else None
        return Phone(
            number=self.store.number_of(actor.id),
            pending=pending.number if pending and state else None,
            code_expired=state == "expired",
        )

    # -- the ack link ----------------------------------------------------------------------------------------------

    def view(self, token: str) -> LinkView:
        digest = link_digest(self.key, token)
        link = self.store.link(digest) if digest else None
        if link is None:
            return LinkView("invalid")
        if link.used:
            return LinkView("used")
        if link.expires_at <= int(self.clock().timestamp()):
            return LinkView("expired")
        person = self.people.get(link.user_id)
        return LinkView("valid", self.incidents.get(link.incident_id), person.display_name if person else None)

    def acknowledge(self, token: str) -> LinkView:
        """Consume the link and acknowledge as its person; the state says what came of it."""
        now = self.clock()
        digest = link_digest(self.key, token)
        if digest is None:
            return LinkView("invalid")
        link = self.store.use_link(digest, now)
        if link is None:
            return self.view(token) if self.store.link(digest) else LinkView("invalid")
        person = self.people.get(link.user_id)
        if person is None or not person.active:
            return LinkView("invalid")
        try:
            incident = self.incidents.act(person, link.incident_id, Action.ACKNOWLEDGE, channel="sms")
        except IllegalTransition:
            return LinkView("already", self.incidents.get(link.incident_id), person.display_name)
        return LinkView("acknowledged", incident, person.display_name)
