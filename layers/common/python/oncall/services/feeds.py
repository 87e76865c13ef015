"""Calendar feeds: an iCalendar subscription per schedule and per person, each behind its own secret token (only its
SHA-256 is stored; a new token replaces the old one)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from oncall.domain import ical, texts
from oncall.domain.errors import NotFound
from oncall.domain.shifts import Interval
from oncall.services.schedule_ports import Actor, PersonNames, ScheduleStore
from oncall.services.schedule_writes import known_schedule, managed_schedule

#: what a feed shows around now
FEED_PAST = timedelta(days=30)
FEED_AHEAD = timedelta(days=90)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class CalendarFeeds:
    def __init__(self, store: ScheduleStore, people: PersonNames, *, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.people = people
        self.clock = clock

    def rotate_schedule_feed(self, actor: Actor, schedule_id: str) -> str:
        managed_schedule(self.store, actor, schedule_id)
        token = secrets.token_urlsafe(32)
        self.store.set_feed_token_hash(f"SCHED#{schedule_id}", token_hash(token))
        return token

    def rotate_user_feed(self, actor: Actor) -> str:
        token = secrets.token_urlsafe(32)
        self.store.set_feed_token_hash(f"USER#{actor.id}", token_hash(token))
        return token

    def _allowed(self, owner: str, token: str | None) -> None:
        stored = self.store.feed_token_hash(owner)
        # One answer for "no such feed", "no token" and "wrong token", so a feed's existence does not leak.
        given = token_hash(token or "")
        if stored is None or not hmac.compare_digest(given, stored):
            raise NotFound("calendar", owner.split("#", 1)[1])

    def schedule_calendar(self, schedule_id: str, token: str | None) -> str:
        self._allowed(f"SCHED#{schedule_id}", token)
        schedule = known_schedule(self.store, schedule_id)
        now = self.clock()
        shifts = self.store.schedule_window(schedule_id, Interval(now - FEED_PAST, now + FEED_AHEAD))
        events = [
            ical.shift_event(
                s,
                texts.feed_holder(self.people.name_of(s.user_id) or s.user_id),
                texts.feed_schedule(schedule.name),
            )
            for s in shifts
        ]
        return ical.render(schedule.name, events, now=now, timezone=schedule.timezone)

    def user_calendar(self, user_id: str, token: str | None) -> str:
        self._allowed(f"USER#{user_id}", token)
        now = self.clock()
        shifts = self.store.user_window(user_id, Interval(now - FEED_PAST, now + FEED_AHEAD))
        names: dict[str, str] = {}
        for s in shifts:
            if s.schedule_id not in names:
                found = self.store.get_schedule(s.schedule_id)
                names[s.schedule_id] = found.name if found else s.schedule_id
        events = [ical.shift_event(s, texts.feed_shift(names[s.schedule_id])) for s in shifts]
        who = self.people.name_of(user_id) or user_id
        return ical.render(texts.feed_title(who), events, now=now)
