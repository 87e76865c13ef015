"""Who is who, for everyone signed in: a person's name, teams, whether they are on call now and on which channels
they can be reached, so a responder can turn an id on an incident or a shift into a person. Contact details stay
private: the email address only to admins and to the person themself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from oncall.domain.errors import NotFound
from oncall.domain.shifts import Interval, Shift
from oncall.domain.users import Role, User


class People(Protocol):
    def get(self, user_id: str) -> User | None: ...

    def paginate(self, limit: int, cursor: dict[str, Any] | None) -> tuple[list[User], dict[str, Any] | None]: ...


class Shifts(Protocol):
    def user_shifts(
        self, user_id: str, window: Interval, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Shift], dict[str, Any] | None]: ...


@dataclass(frozen=True)
class Entry:
    id: str
    username: str
    display_name: str
    timezone: str
    teams: dict[str, str]
    on_call_now: bool
    channels: list[str]
    email: str | None


class Directory:
    def __init__(self, people: People, shifts: Shifts, clock: Callable[[], datetime]) -> None:
        self.people = people
        self.shifts = shifts
        self.clock = clock

    def page(self, actor: User, limit: int, cursor: dict[str, Any] | None) -> tuple[list[Entry], dict[str, Any] | None]:
        users, last = self.people.paginate(limit, cursor)
        now = self.clock()
        return [self._entry(actor, u, now) for u in users if u.active], last

    def one(self, actor: User, user_id: str) -> Entry:
        person = self.people.get(user_id)
        if person is None or not person.active:
            raise NotFound("person", user_id)
        return self._entry(actor, person, self.clock())

    def _entry(self, actor: User, person: User, now: datetime) -> Entry:
        # one Query of the person's own shift view: a shift overlapping this microsecond
        shifts, _ = self.shifts.user_shifts(person.id, Interval(now, now + timedelta(microseconds=1)), 1, None)
        channels = [name for name, set_up in (("telegram", person.telegram_chat_id), ("email", person.email)) if set_up]
        private = actor.role is Role.ADMIN or actor.id == person.id
        return Entry(
            id=person.id,
            username=person.username,
            display_name=person.display_name,
            timezone=person.timezone,
            teams=dict(person.teams),
            on_call_now=bool(shifts),
            channels=channels,
            email=person.email if private else None,
        )
