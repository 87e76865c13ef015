"""Shift reminders over fakes of their ports, sent through the real notification service (its ports faked too):
planning from shift events in any order, ticks that send each reminder once, late, missed, cancelled, retried,
judged on the stored reminders, the cursor and what reached the person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from oncall.domain.notifications import Kind, Message
from oncall.domain.reminders import ReminderStatus, bucket, message_key
from oncall.services.notify import NotificationService
from oncall.services.reminders import ReminderService
from tests.support.fakes import (
    START,
    Clock,
    FakeChannel,
    FakeDeliveryLog,
    FakePeople,
    FakeRateLimiter,
    FakeRecipientDirectory,
    FakeReminderStore,
    FakeScheduleFacts,
    user,
)

SHIFT_START = START + timedelta(hours=3)  # 12:00, planned at 09:00
SHIFT_END = SHIFT_START + timedelta(hours=8)
CHAT = "1001"


@dataclass
class World:
    clock: Clock
    store: FakeReminderStore
    people: FakePeople
    directory: FakeRecipientDirectory
    deliveries: FakeDeliveryLog
    telegram: FakeChannel
    reminders: ReminderService

    def event(self, kind: str, version: int, start: datetime = SHIFT_START, **more: Any) -> str:
        detail = {
            "id": "sh1",
            "version": version,
            "schedule_id": "sch",
            "user_id": "alice",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=8)).isoformat(),
            **more,
        }
        return self.reminders.apply_shift_event(f"shift.{kind}", detail, self.clock())

    def tick_at(self, when: datetime) -> dict[str, Any]:
        self.clock.now = when
        return self.reminders.tick(when).to_dict()


@pytest.fixture
def w(clock: Clock) -> World:
    store, deliveries, facts = FakeReminderStore(), FakeDeliveryLog(), FakeScheduleFacts()
    people = FakePeople(user("alice", reminders=(120, 10), timezone="Europe/Berlin"), user("bob"))
    directory = FakeRecipientDirectory(deliveries)
    directory.add("alice", telegram=CHAT)
    telegram = FakeChannel("telegram")
    notify = NotificationService(
        deliveries, directory, FakeRateLimiter(), {"telegram": telegram}, wall=clock.wall, sleep=clock.sleep
    )
    facts.names["sch"] = "Payments primary"
    facts.handovers[("sch", SHIFT_START)] = "Bob"
    return World(clock, store, people, directory, deliveries, telegram, ReminderService(store, people, facts, notify))


def test_a_new_shift_plans_one_pending_reminder_per_offset_and_lowers_the_cursor(w: World) -> None:
    assert w.event("created", 1) == "planned"

    assert w.store.statuses("sh1") == {10: ReminderStatus.PENDING, 120: ReminderStatus.PENDING}
    assert w.store.get("sh1", 120).due_at == SHIFT_START - timedelta(minutes=120)
    assert w.store.cursor() == (bucket(SHIFT_START - timedelta(minutes=120)), 1)


def test_what_was_already_due_when_the_shift_became_known_is_skipped(w: World) -> None:
    w.clock.now = SHIFT_START - timedelta(minutes=30)

    w.event("created", 1)

    assert w.store.statuses("sh1") == {10: ReminderStatus.PENDING, 120: ReminderStatus.SKIPPED}


def test_events_apply_in_version_order_whatever_order_they_arrive_in(w: World) -> None:
    moved = SHIFT_START + timedelta(hours=1)
    assert w.event("updated", 2, start=moved) == "planned"

    assert w.event("created", 1) == "stale"

    assert w.store.get("sh1", 10).due_at == moved - timedelta(minutes=10)
    assert w.store.versions == {"sh1": 2}
    assert w.event("deleted", 3) == "cancelled"
    assert w.store.statuses("sh1") == {10: ReminderStatus.CANCELLED, 120: ReminderStatus.CANCELLED}


def test_a_tick_at_the_due_time_sends_the_reminder_once_and_records_it(w: World) -> None:
    w.event("created", 1)
    due = SHIFT_START - timedelta(minutes=120)

    report = w.tick_at(due)
    again = w.tick_at(due + timedelta(minutes=1))

    assert (report["sent"], report["late"], again["sent"]) == (1, 0, 0)
    stored = w.store.get("sh1", 120)
    assert (stored.status, stored.late, stored.sent_at) == (ReminderStatus.SENT, False, due)
    assert w.store.get("sh1", 10).status is ReminderStatus.PENDING
    [message] = w.telegram.to(CHAT)
    assert message.key == message_key("sh1", 120, SHIFT_START)
    assert "Payments primary starts in 2 hours" in message.text
    assert "Start: Mon 02 Mar 2026, 13:00 CET" in message.text and "Handover from: Bob" in message.text
    assert w.deliveries.status_of("alice", message.key) == "sent"
    [event] = w.store.events
    assert (event.detail_type, event.entity_id, event.snapshot["late"]) == ("reminder.sent", "sh1.120", False)


def test_a_tick_that_comes_late_sends_it_marked_late(w: World) -> None:
    w.event("created", 1)

    report = w.tick_at(SHIFT_START - timedelta(minutes=100))

    assert (report["sent"], report["late"]) == (1, 1)
    assert w.store.get("sh1", 120).late
    assert "Reminder (late)" in w.telegram.sent[0].message.text


def test_once_the_shift_started_a_pending_reminder_is_missed_never_sent(w: World) -> None:
    w.event("created", 1)

    report = w.tick_at(SHIFT_START + timedelta(minutes=1))

    assert report["missed"] == 2
    assert w.store.statuses("sh1") == {10: ReminderStatus.MISSED, 120: ReminderStatus.MISSED}
    assert w.telegram.sent == []
    # nothing pending is left behind the cursor
    assert w.store.cursor()[0] == bucket(SHIFT_START + timedelta(minutes=1))


def test_an_offset_the_person_no_longer_wants_is_cancelled_at_its_tick(w: World) -> None:
    w.event("created", 1)
    w.people.add(user("alice", reminders=(10,)))

    report = w.tick_at(SHIFT_START - timedelta(minutes=120))

    assert report["cancelled"] == 1
    assert w.store.get("sh1", 120).status is ReminderStatus.CANCELLED
    assert w.telegram.sent == []


def test_a_person_nothing_reaches_is_recorded_no_channel(w: World) -> None:
    w.event("created", 1, user_id="bob")

    w.tick_at(SHIFT_START - timedelta(minutes=10))

    assert w.store.get("sh1", 10).status is ReminderStatus.NO_CHANNEL


def test_a_reminder_another_tick_holds_is_left_to_it_until_its_lease_runs_out(w: World) -> None:
    w.event("created", 1)
    due = SHIFT_START - timedelta(minutes=120)
    [pending] = w.store.due(bucket(due), due)
    assert w.store.claim(pending, due, timedelta(seconds=90))  # the other tick

    held = w.tick_at(due)
    after = w.tick_at(due + timedelta(seconds=91))

    assert (held["lost_claims"], held["sent"]) == (1, 0)
    assert after["sent"] == 1
    assert len(w.telegram.sent) == 1


def test_a_failed_send_is_released_and_sent_by_the_next_tick(w: World) -> None:
    w.event("created", 1)
    due = SHIFT_START - timedelta(minutes=120)
    w.telegram.down = True

    failed = w.tick_at(due)

    assert failed["retry"] == 1
    stored = w.store.get("sh1", 120)
    assert (stored.status, stored.lease_until) == (ReminderStatus.PENDING, None)
    assert w.store.cursor()[0] == bucket(due)
    w.telegram.down = False
    assert w.tick_at(due + timedelta(minutes=1))["sent"] == 1
    assert w.store.get("sh1", 120).status is ReminderStatus.SENT


def test_a_reminder_sent_before_a_crash_is_marked_sent_without_a_second_message(w: World) -> None:
    w.event("created", 1)
    due = SHIFT_START - timedelta(minutes=120)
    key = message_key("sh1", 120, SHIFT_START)
    # a tick sent it, then died before marking it: only the delivery log knows
    assert w.reminders.notifier is not None
    w.reminders.notifier.notify("alice", Message(kind=Kind.REMINDER, key=key, text="⏰ Reminder"), due)

    report = w.tick_at(due + timedelta(minutes=2))

    assert report["sent"] == 1
    assert w.store.get("sh1", 120).status is ReminderStatus.SENT
    assert [m.key for m in w.telegram.to(CHAT)] == [key]
