"""The in-memory fakes (``tests.support.fakes``) against the DynamoDB adapters they stand in for: one scenario per
port, run on both, and the two transcripts must be equal. What the services' unit tests learn from a fake is then
what the adapter would have told them: the same winners of conditional writes, the same conflicts, the same reads.

A transcript records outcomes, not representations: a lost condition is "lost" whichever exception carries it, and
of a cursor only whether there is one.

Long because each scenario walks every condition its adapter writes, one port after another, over one shared way of
comparing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from oncall.domain.incidents import Severity, Source, Status
from oncall.domain.notifications import Kind, Message
from oncall.domain.reminders import ReminderStatus
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Interval, Shift
from oncall.services.incidents import entry, event_of
from oncall.services.reminders import Reminder
from oncall.services.schedule_ports import Change
from tests.support import fakes
from tests.support.fakes import START

Transcript = list[Any]


def outcome(call: Callable[[], Any]) -> Any:
    """What a call came to: its value, or the kind of failure (a lost condition under any exception's name)."""
    from oncall.adapters.dynamodb.kit import Cancelled, condition_failed

    try:
        return call()
    except Exception as exc:
        lost = isinstance(exc, fakes.ConditionFailed) or condition_failed(exc)
        if lost or (isinstance(exc, Cancelled) and exc.condition_failed()):
            return "lost"
        return type(exc).__name__


def agree(scenario: Callable[[Any], Transcript], fake: Any, real: Any) -> Transcript:
    mine, theirs = scenario(fake), scenario(real)
    assert mine == theirs
    return mine


# -- the delivery log ------------------------------------------------------------------------------------------------


def message(key: str) -> Message:
    return Message(kind=Kind.PAGE, key=key, text=f"{key} is down", incident_id="inc1")


def delivery_scenario(log: Any) -> Transcript:
    t: Transcript = []
    lease = timedelta(seconds=60)
    t.append(log.claim("ann", message("p1"), START, lease))
    t.append(log.claim("ann", message("p1"), START + timedelta(seconds=59), lease))
    t.append(log.claim("ann", message("p1"), START + timedelta(seconds=61), lease))
    log.finish("ann", message("p1"), "failed", None, None, [{"channel": "telegram", "outcome": "failed"}], START)
    t.append(log.claim("ann", message("p1"), START, lease))
    log.finish("ann", message("p1"), "sent", "telegram", "tg:1:2", [], START)
    t.append(log.claim("ann", message("p1"), START + timedelta(days=1), lease))
    log.claim("ann", message("p2"), START, lease)
    log.finish("ann", message("p2"), "capped", None, None, [], START)
    t.append(log.claim("ann", message("p2"), START, lease))
    t.append([log.count_page("inc1", "ann", 2, START) for _ in range(3)])
    # queued messages: oldest first, leased while taken, handed back, settled
    for n, key in enumerate(("q1", "q2", "q3")):
        log.claim("ann", message(key), START, lease)
        log.enqueue("ann", message(key), "telegram", {"step": n}, [], START + timedelta(seconds=n))
    t.append([log.status_of("ann", k) for k in ("q1", "q2", "q3", "nope")])
    taken = log.take_queued("ann", "telegram", START, lease, 2)
    t.append([(q.message, q.context) for q in taken])
    t.append([(q.message.key) for q in log.take_queued("ann", "telegram", START, lease, 5)])
    t.append(outcome(lambda: log.requeue("ann", ["q1"])))
    t.append(outcome(lambda: log.requeue("ann", ["q1"])))
    log.settle("ann", message("q2"), "telegram", "sent", "tg:1:3", [{"channel": "telegram"}], START)
    t.append([log.status_of("ann", k) for k in ("q1", "q2", "q3")])
    t.append([q.message.key for q in log.take_queued("ann", "telegram", START + timedelta(seconds=61), lease, 5)])
    # moved to another channel in one write
    log.claim("ann", message("q4"), START, lease)
    log.enqueue("ann", message("q4"), "telegram", {}, [], START)
    log.enqueue("ann", message("q4"), "email", {}, [], START, moved_from="telegram")
    t.append([q.message.key for q in log.take_queued("ann", "email", START, lease, 5)])
    t.append([q.message.key for q in log.take_queued("ann", "telegram", START + timedelta(minutes=5), lease, 5)])
    log.flag("ann", "telegram", "blocked", START)
    log.flag("ann", "email", "", START)
    log.unflag("ann", "email")
    t.append(sorted(log.flags("ann")))
    return t


def test_the_delivery_log_fake_agrees_with_dynamodb(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.notifications import DynamoDeliveryLog

    t = agree(delivery_scenario, fakes.FakeDeliveryLog(), DynamoDeliveryLog(aws["ONCALL_TABLE_NOTIFICATIONS"]))
    assert t[0].won and not t[1].won and t[2].won


def test_the_rate_limiter_fake_agrees_with_dynamodb(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.notifications import DynamoRateLimiter

    def scenario(limiter: Any) -> Transcript:
        wall = START.timestamp() + 0.25
        scopes = [("tg:chat:1", 2), ("tg:bot", 3)]
        taken = [limiter.acquire(scopes, wall) for _ in range(3)]
        taken += [limiter.acquire([("tg:chat:2", 2), ("tg:bot", 3)], wall) for _ in range(2)]
        taken.append(limiter.acquire(scopes, wall + 1))
        return [round(w, 6) for w in taken]

    agree(scenario, fakes.FakeRateLimiter(), DynamoRateLimiter(aws["ONCALL_TABLE_NOTIFICATIONS"]))


def test_the_rate_limiter_holds_agree_with_dynamodb(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.notifications import DynamoRateLimiter
    from oncall.domain.notifications import HOLD_GRACE_S

    def scenario(limiter: Any) -> Transcript:
        wall = START.timestamp() + 0.25
        scopes = [("tg:chat:7", 5)]
        taken = [limiter.acquire(scopes, wall)]
        limiter.hold(scopes, wall, 1.0)
        taken.append(limiter.acquire(scopes, wall))  # held: refused though the schedule has room
        taken.append(limiter.acquire(scopes, wall, holder=True))  # the queue's flush takes it
        limiter.hold(scopes, wall, 0.1)  # a shorter hold does not cut the longer one short
        taken.append(limiter.acquire(scopes, wall + 0.5))
        limiter.release(scopes)
        taken.append(limiter.acquire(scopes, wall + 0.5))
        limiter.hold(scopes, wall + 1, 1.0)
        taken.append(limiter.acquire(scopes, wall + 1 + 1.0 + HOLD_GRACE_S - 0.01))  # still held
        taken.append(limiter.acquire(scopes, wall + 1 + 1.0 + HOLD_GRACE_S + 0.01))  # lapsed
        return [round(w, 6) for w in taken]

    t = agree(scenario, fakes.FakeRateLimiter(), DynamoRateLimiter(aws["ONCALL_TABLE_NOTIFICATIONS"]))
    assert [w > 0 for w in t] == [False, True, False, True, False, True, False]


def test_a_refused_slot_says_exactly_when_it_opens_in_both(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.notifications import DynamoRateLimiter

    def scenario(limiter: Any) -> Transcript:
        wall = START.timestamp() + 0.25
        chat = [("tg:chat:9", 1)]
        taken = [limiter.acquire(chat, wall), limiter.acquire(chat, wall)]  # the burst of two
        taken.append(limiter.acquire(chat, wall + 0.8))  # the next slot opens at +1.0
        taken.append(limiter.acquire(chat, wall + 0.999))
        taken.append(limiter.acquire(chat, wall + 1.0))
        taken.append(limiter.acquire(chat, wall + 1.0))  # a whole interval now
        return [round(w, 6) for w in taken]

    t = agree(scenario, fakes.FakeRateLimiter(), DynamoRateLimiter(aws["ONCALL_TABLE_NOTIFICATIONS"]))
    assert t == [0.0, 0.0, 0.2, 0.001, 0.0, 1.0]


# -- reminders -------------------------------------------------------------------------------------------------------


def reminder(offset: int, version: int = 1, **changes: Any) -> Reminder:
    start = START + timedelta(hours=3)
    base = Reminder(
        shift_id="sh1",
        schedule_id="sch",
        user_id="ann",
        offset_minutes=offset,
        due_at=start - timedelta(minutes=offset),
        shift_start=start,
        shift_end=start + timedelta(hours=8),
        shift_version=version,
        status=ReminderStatus.PENDING,
    )
    return replace(base, **changes)


def reminder_scenario(store: Any) -> Transcript:
    t: Transcript = []
    t.append([store.accept_version("sh1", v, START) for v in (2, 1, 2, 3)])
    t.append([store.write(reminder(120, 2)), store.write(reminder(10, 2)), store.write(reminder(120, 1))])
    t.append(store.cursor())
    store.touch_cursor("2026-03-02T10")
    store.touch_cursor("2026-03-02T11")
    store.touch_cursor(None)
    low, rev = store.cursor()
    t.append((low, rev))
    t.append([store.move_cursor("2026-03-02T11", rev - 1), store.move_cursor("2026-03-02T11", rev)])
    due_120 = START + timedelta(hours=1)
    t.append(store.due("2026-03-02T10", due_120))
    t.append(store.due("2026-03-02T10", due_120 - timedelta(microseconds=1)))
    t.append(store.claim(reminder(120, 1), due_120, timedelta(seconds=90)))
    t.append(store.claim(reminder(120, 2), due_120, timedelta(seconds=90)))
    t.append(store.claim(reminder(120, 2), due_120 + timedelta(seconds=90), timedelta(seconds=90)))
    t.append(store.claim(reminder(120, 2), due_120 + timedelta(seconds=91), timedelta(seconds=90)))
    store.release(reminder(120, 2))
    t.append(store.claim(reminder(120, 2), due_120 + timedelta(seconds=92), timedelta(seconds=90)))
    t.append(store.finish(reminder(120, 2), ReminderStatus.SENT, due_120, False, "tg:1:1"))
    t.append(store.finish(reminder(120, 2), ReminderStatus.SENT, due_120, False, "tg:1:1"))
    t.append(store.finish(reminder(10, 1), ReminderStatus.MISSED, due_120, False, ""))
    t.append(store.due("2026-03-02T10", due_120))
    t.append(sorted(store.of_shift("sh1"), key=lambda r: r.offset_minutes))
    return t


def test_the_reminder_store_fake_agrees_with_dynamodb(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.reminders import DynamoReminderStore

    agree(reminder_scenario, fakes.FakeReminderStore(), DynamoReminderStore(aws["ONCALL_TABLE_REMINDERS"]))


# -- incidents -------------------------------------------------------------------------------------------------------


def incident_scenario(store: Any) -> Transcript:
    from oncall.domain.incidents import Incident

    t: Transcript = []
    opened = Incident("inc1", "Checkout 502", "svc", Severity.HIGH, Source.API, Status.TRIGGERED, START, START)
    first = [entry("inc1", START + timedelta(seconds=i), "note", f"n{i}") for i in range(3)]
    store.create(opened, first, event_of(opened, "incident.triggered", START))
    t.append(outcome(lambda: store.create(opened, [], event_of(opened, "incident.triggered", START))))
    t.append(store.get("inc1"))
    t.append(store.arm("inc1", generation=1, status=Status.TRIGGERED, step=0, token="tok"))
    t.append(store.arm("inc1", generation=1, status=Status.TRIGGERED, step=-1, token="tok"))
    t.append(store.arm("inc1", generation=2, status=Status.TRIGGERED, step=None, token="tok"))
    armed = store.get("inc1")
    moved = replace(armed, status=Status.ACKNOWLEDGED, version=2, task_token=None)
    t.append(outcome(lambda: store.commit(opened, moved, [], None)))  # read before the token was armed
    t.append(outcome(lambda: store.commit(armed, moved, [], None)))
    t.append(outcome(lambda: store.commit(armed, moved, [], None)))
    t.append(
        store.attach_alert(
            "inc1", START + timedelta(minutes=1), [entry("inc1", START + timedelta(seconds=30), "alert", "again")]
        )
    )
    after = store.get("inc1")
    t.append((after.alert_count, after.version, after.last_alert_at))
    store.add_entries([entry("inc1", START + timedelta(minutes=2), "note", "late", data={"at": START})])
    page, cursor = store.timeline("inc1", 2, None)
    rest, end = store.timeline("inc1", 10, cursor)
    t.append(([e.text for e in page], cursor is not None, [e.text for e in rest], end is not None))
    t.append([e.data for e in rest if e.text == "late"])
    resolved = replace(after, status=Status.RESOLVED, version=after.version + 1)
    store.commit(after, resolved, [], None)
    t.append(store.attach_alert("inc1", START, []))
    t.append(store.attach_alert("missing", START, []))
    return t


def test_the_incident_store_fake_agrees_with_dynamodb(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.incidents import DynamoIncidentStore

    real = DynamoIncidentStore(aws["ONCALL_TABLE_INCIDENTS"], outbox_table=aws["ONCALL_TABLE_OUTBOX"])
    agree(incident_scenario, fakes.FakeIncidentStore(), real)


# -- schedules -------------------------------------------------------------------------------------------------------


def shift(shift_id: str, user_id: str, start_h: float, end_h: float, **more: Any) -> Shift:
    return Shift(shift_id, "sch", user_id, START + timedelta(hours=start_h), START + timedelta(hours=end_h), **more)


def schedule_scenario(store: Any) -> Transcript:
    t: Transcript = []
    store.create_schedule(Schedule("sch", "Payments", "UTC"), START)
    t.append(outcome(lambda: store.create_schedule(Schedule("sch", "Other", "UTC"), START)))

    def write(version: int, users: dict[str, int], **parts: Any) -> Any:
        return outcome(lambda: store.apply(Change("sch", version, users, now=START, **parts)))

    a, b, slot = shift("a", "ann", 0, 8), shift("b", "bob", 8, 16), shift("r1", "bob", 16, 24, rotation_id="rot")
    t.append(write(0, {"ann": 0}, puts=[a], events=[("shift.created", a)]))
    t.append(write(0, {"bob": 0}, puts=[b]))  # the schedule's guard moved
    t.append(write(1, {"ann": 0}, puts=[b]))  # ann's guard moved
    t.append(write(1, {"bob": 0}, puts=[b, slot]))
    t.append(write(2, {"ann": 1}, puts=[a]))  # the id is taken
    t.append(store.guards("sch", ["ann", "bob", "cid"]))
    window = Interval(START + timedelta(hours=4), START + timedelta(hours=16))
    t.append(store.schedule_neighbours("sch", window, 5))
    t.append(store.user_neighbours("bob", window, 5))
    t.append([store.on_call("sch", START + timedelta(hours=h)) for h in (0, 7.99, 8, 24)])
    first, cursor = store.schedule_shifts("sch", window, 1, None)
    second, end = store.schedule_shifts("sch", window, 5, cursor)
    t.append((first, cursor is not None, second, end is not None))
    t.append(write(2, {"bob": 1}, deletes=[slot], events=[("shift.deleted", replace(slot, version=2))]))
    t.append((store.get_shift("sch", "r1"), sorted(store.known_ids("sch", ["a", "r1", "zz"]))))
    t.append(write(3, {"bob": 2}, puts=[slot]))  # a deleted rotation slot does not come back
    moved = b.moved(user_id="ann", end=START + timedelta(hours=10))
    t.append(write(3, {"ann": 1, "bob": 2}, deletes=[b], puts=[moved]))
    t.append((store.user_window("bob", window), store.user_window("ann", window)))
    t.append(outcome(lambda: store.delete_schedule_record(store.get_schedule("sch"))))
    t.append(write(4, {"ann": 2}, deletes=[a, moved], purge=True))
    t.append(outcome(lambda: store.delete_schedule_record(replace(store.get_schedule("sch"), version=1))))
    t.append(outcome(lambda: store.delete_schedule_record(store.get_schedule("sch"))))
    t.append(store.get_schedule("sch"))
    return t


def test_the_schedule_store_fake_agrees_with_dynamodb(aws: dict[str, str]) -> None:
    from oncall.adapters import outbox
    from oncall.adapters.dynamodb.schedules import DynamoScheduleStore

    real = DynamoScheduleStore(aws["ONCALL_TABLE_SCHEDULES"], outbox=outbox.transact_put)
    t = agree(schedule_scenario, fakes.FakeScheduleStore(), real)
    assert t[1:6] == [None, "VersionConflict", "VersionConflict", None, "ShiftExists"]
    assert t[11:15] == [None, t[12], "ShiftExists", None]
    assert t[-4:] == [None, "VersionConflict", None, None]


@pytest.mark.parametrize("limit", [1, 2])
def test_listing_schedules_pages_alike(aws: dict[str, str], limit: int) -> None:
    from oncall.adapters.dynamodb.schedules import DynamoScheduleStore

    def scenario(store: Any) -> Transcript:
        for sid, name in (("s1", "beta"), ("s2", "Alpha"), ("s3", "gamma")):
            store.create_schedule(Schedule(sid, name, "UTC"), START)
        seen, cursor = store.list_schedules(limit, None)
        while cursor:
            more, cursor = store.list_schedules(limit, cursor)
            seen += more
        return [s.name for s in seen]

    assert agree(scenario, fakes.FakeScheduleStore(), DynamoScheduleStore(aws["ONCALL_TABLE_SCHEDULES"])) == [
        "Alpha",
        "beta",
        "gamma",
    ]


# -- the catalog -----------------------------------------------------------------------------------------------------


def catalog_scenario(store: Any) -> Transcript:
    from oncall.domain.escalation import Level, Policy, Target, TargetType
    from oncall.domain.services_catalog import Service

    t: Transcript = []
    svc = Service("s1", "Payments", "p1", START, START, key_hash="h1")
    store.put_service(svc)
    t.append(outcome(lambda: store.put_service(replace(svc, id="s2"))))  # the key hash is taken
    t.append(outcome(lambda: store.put_service(replace(svc, key_hash="h2"))))  # the id is taken
    renamed = replace(svc, name="Checkout", version=2)
    t.append(outcome(lambda: store.update_service(svc, renamed)))
    t.append(outcome(lambda: store.update_service(svc, renamed)))
    rotated = replace(renamed, key_hash="h3", previous_key_hash="h1", version=3)
    t.append(outcome(lambda: store.rotate_key(renamed, rotated)))
    t.append([store.service_id_for_key(h) for h in ("h1", "h3", "h9")])
    again = replace(rotated, key_hash="h4", previous_key_hash="h3", version=4)
    store.rotate_key(rotated, again)
    t.append([store.service_id_for_key(h) for h in ("h1", "h3", "h4")])
    store.put_service(Service("s0", "api", "p2", START, START, key_hash="h5"))
    first, cursor = store.list_services(1, None)
    rest, end = store.list_services(5, cursor)
    t.append(([s.name for s in first], [s.name for s in rest], end is not None))
    t.append(sorted(s.id for s in store.services_using("p1")))
    store.delete_service(again)
    t.append((store.get_service("s1"), [store.service_id_for_key(h) for h in ("h3", "h4")]))
    policy = Policy("p1", "Primary", (Level((Target(TargetType.USER, "ann"),), 60),))
    store.put_policy(policy)
    t.append(outcome(lambda: store.put_policy(policy)))
    t.append(outcome(lambda: store.update_policy(policy, replace(policy, name="First", version=2))))
    t.append(outcome(lambda: store.delete_policy(policy)))
    t.append(store.get_policy("p1"))
    return t


def test_the_catalog_store_fake_agrees_with_dynamodb(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.catalog import DynamoCatalogStore

    t = agree(catalog_scenario, fakes.FakeCatalogStore(), DynamoCatalogStore(aws["ONCALL_TABLE_CATALOG"]))
    assert t[:4] == ["Conflict", "Conflict", None, "Conflict"]


# -- alert claims, written with incidents ----------------------------------------------------------------------------


def alert_scenario(pair: tuple[Any, Any]) -> Transcript:
    from oncall.domain.alerts import Grouping
    from oncall.domain.incidents import Incident
    from oncall.services.incident_ports import AlertClaim

    alerts, incidents = pair
    t: Transcript = []
    window_end = START + timedelta(minutes=5)
    keyed = Grouping("k:g", "a", False, START + timedelta(days=30))

    def open_with(incident_id: str, g: Grouping, stale: str | None, now: Any = START) -> Any:
        incident = Incident(incident_id, "Errors", "svc", Severity.HIGH, Source.API, Status.TRIGGERED, now, now)
        event = event_of(incident, "incident.triggered", now)
        claim = AlertClaim("svc", g.group, g.key, g.expires_at, now, stale=stale)
        return outcome(lambda: incidents.create(incident, [], event, claim))

    t.append(open_with("i1", keyed, None))
    t.append(open_with("i2", keyed, None))  # the group is taken
    t.append(alerts.claim("svc", "k:g"))
    joining = AlertClaim("svc", "k:g", "b", START + timedelta(days=30), START)
    t.append(outcome(lambda: incidents.attach_alert("i1", START, [], joining)))
    t.append(outcome(lambda: incidents.attach_alert("i9", START, [], joining)))  # the claim names another
    t.append((alerts.claim("svc", "k:g"), alerts.key("svc", "b"), alerts.key("svc", "zz")))
    t.append([alerts.release("svc", "k:g", "i1", k) for k in ("a", "a", "b")])
    t.append(alerts.release("svc", "k:g", "i9", "b"))
    t.append(open_with("i3", keyed, "i1"))  # the holder was seen closed: taken over
    t.append((alerts.claim("svc", "k:g"), alerts.key("svc", "a")))
    # a big delivery's keys join and resolve together
    t.append(alerts.join("svc", "k:g", "i3", ["c", "d", "a", "c"], START + timedelta(days=30)))
    t.append(alerts.join("svc", "k:g", "i9", ["e"], START + timedelta(days=30)))  # the claim names another
    t.append((alerts.claim("svc", "k:g"), alerts.refs("svc", ["c", "d", "e", "zz"])))
    t.append(alerts.release_many("svc", "k:g", "i3", ["c", "zz", "c"]))
    t.append(alerts.release_many("svc", "k:g", "i3", ["c", "d"]))
    t.append(alerts.release_many("svc", "k:g", "i9", ["a"]))
    t.append(alerts.claim("svc", "k:g"))
    keyless = Grouping("~high", None, True, window_end)
    t.append(open_with("i4", keyless, None))
    t.append(open_with("i5", keyless, None, START + timedelta(minutes=4)))
    t.append(open_with("i6", keyless, None, window_end))  # the window ended, whatever TTL has done
    t.append(alerts.claim("svc", "~high"))
    minute = START + timedelta(seconds=50)
    t.append([alerts.take("svc", c, 5, minute) for c in (2, 3, 1, 6)])
    t.append(alerts.take("svc", 5, 5, minute + timedelta(seconds=10)))
    return t


def test_the_alert_store_fake_agrees_with_dynamodb(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.alerts import DynamoAlertStore
    from oncall.adapters.dynamodb.incidents import DynamoIncidentStore

    real = (
        DynamoAlertStore(aws["ONCALL_TABLE_ALERTS"]),
        DynamoIncidentStore(
            aws["ONCALL_TABLE_INCIDENTS"],
            outbox_table=aws["ONCALL_TABLE_OUTBOX"],
            alerts_table=aws["ONCALL_TABLE_ALERTS"],
        ),
    )
    fake_alerts = fakes.FakeAlertStore()
    t = agree(alert_scenario, (fake_alerts, fakes.FakeIncidentStore(alerts=fake_alerts)), real)
    assert t[:2] == [None, "GuardFailed"]


def test_queued_messages_are_taken_oldest_first_however_many_wait(aws: dict[str, str]) -> None:
    from oncall.adapters.dynamodb.notifications import DynamoDeliveryLog

    def scenario(log: Any) -> Transcript:
        for n, key in enumerate(("z-oldest", "a1", "a2", "a3")):
            log.claim("ann", message(key), START, timedelta(seconds=60))
            log.enqueue("ann", message(key), "telegram", {}, [], START + timedelta(seconds=n))
        return [q.message.key for q in log.take_queued("ann", "telegram", START, timedelta(seconds=60), 1)]

    assert agree(scenario, fakes.FakeDeliveryLog(), DynamoDeliveryLog(aws["ONCALL_TABLE_NOTIFICATIONS"])) == [
        "z-oldest"
    ]
