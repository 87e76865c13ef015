"""The notification service over fakes of its ports: fallback across channels, queued pages flushed as digests,
cancelled and requeued ones, failures with their reasons, dedup and the page cap, judged on the delivery log."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from oncall.domain.notifications import HOLD_GRACE_S, Kind, Message
from oncall.services.notify import FLUSH_JOB, NotificationService, NotifySettings
from tests.support.fakes import (
    Clock,
    FakeChannel,
    FakeDeliveryLog,
    FakePageQueue,
    FakeQueueListener,
    FakeRateLimiter,
    FakeRecipientDirectory,
)

CHAT = "1001"
MAIL = "alice@example.com"


@dataclass
class Notify:
    clock: Clock
    log: FakeDeliveryLog
    limiter: FakeRateLimiter
    people: FakeRecipientDirectory
    telegram: FakeChannel
    email: FakeChannel
    queue: FakePageQueue
    listener: FakeQueueListener
    service: NotificationService

    def flush_all(self) -> list[str]:
        """Run every flush job that is due, the way the page queue delivers them, until none is left."""
        done = []
        while jobs := self.queue.take():
            for job, delay in jobs:
                self.clock.advance(delay)
                done.append(self.service.flush(job, self.clock(), self.listener))
        return done


@pytest.fixture
def n(clock: Clock) -> Notify:
    log = FakeDeliveryLog()
    limiter = FakeRateLimiter()
    people = FakeRecipientDirectory(log)
    people.add("alice", telegram=CHAT, email=MAIL)
    telegram, email, queue = FakeChannel("telegram"), FakeChannel("email", per_address=5, overall=14), FakePageQueue()
    service = NotificationService(
        deliveries=log,
        people=people,
        limiter=limiter,
        channels={"telegram": telegram, "email": email},
        settings=NotifySettings(page_cap_per_incident=3),
        wall=clock.wall,
        sleep=clock.sleep,
        queue=queue,
    )
    return Notify(clock, log, limiter, people, telegram, email, queue, FakeQueueListener(), service)


def page(key: str, incident: str = "inc1", kind: Kind = Kind.PAGE) -> Message:
    return Message(kind=kind, key=key, text=f"🔴 [HIGH] {key} is down\nIncident {incident}", incident_id=incident)


def fill_chat(n: Notify) -> None:
    """Another Lambda used this second's message to the chat."""
    n.limiter.fill(f"tg:chat:{CHAT}", n.clock.wall(), 1)


def test_a_page_goes_out_on_the_preferred_channel_and_is_recorded_sent(n: Notify) -> None:
    delivery = n.service.notify("alice", page("p1"), n.clock())

    assert (delivery.status, delivery.channel) == ("sent", "telegram")
    record = n.log.record("alice", "p1")
    assert (record.status, record.channel, record.ref, record.lease_until) == ("sent", "telegram", delivery.ref, None)
    assert [m.key for m in n.telegram.to(CHAT)] == ["p1"]
    assert n.email.sent == []
    assert n.log.caps == {("inc1", "alice"): 1}


def test_a_failing_channel_hands_the_page_to_the_next_one_at_once(n: Notify) -> None:
    n.telegram.fail()

    delivery = n.service.notify("alice", page("p1"), n.clock())

    assert (delivery.status, delivery.channel) == ("sent", "email")
    record = n.log.record("alice", "p1")
    assert record.status == "sent" and record.ref == delivery.ref
    assert [(a["channel"], a["outcome"]) for a in record.attempts] == [("telegram", "failed"), ("email", "sent")]
    assert [m.key for m in n.email.to(MAIL)] == ["p1"]


def test_a_blocked_channel_flags_the_person_and_is_not_tried_again(n: Notify) -> None:
    n.telegram.block(CHAT)

    first = n.service.notify("alice", page("p1"), n.clock())
    second = n.service.notify("alice", page("p2"), n.clock())

    assert (first.channel, second.channel) == ("email", "email")
    assert n.log.flags("alice") == {"telegram"}
    assert [a["channel"] for a in n.log.record("alice", "p2").attempts] == ["email"]
    n.log.unflag("alice", "telegram")
    n.telegram.blocked.clear()
    assert n.service.notify("alice", page("p3"), n.clock()).channel == "telegram"


def test_failed_after_every_channel_with_each_reason_and_may_be_tried_again(n: Notify) -> None:
    n.telegram.down = n.email.down = True

    delivery = n.service.notify("alice", page("p1"), n.clock())

    assert delivery.status == "failed"
    assert delivery.detail == "telegram: telegram: HTTP 502; email: email: HTTP 502"
    assert n.log.record("alice", "p1").status == "failed"
    n.telegram.down = False
    n.clock.advance(1)  # the failed send used this second's message to the chat
    retried = n.service.notify("alice", page("p1"), n.clock())
    assert retried.status == "sent"
    assert n.log.record("alice", "p1").status == "sent"


def test_no_channel_when_nothing_reaches_the_person(n: Notify) -> None:
    n.people.add("bob")
    n.people.add("carol", telegram="1003")
    n.people.deactivate("carol")

    assert n.service.notify("bob", page("p1"), n.clock()).status == "no_channel"
    gone = n.service.notify("carol", page("p1"), n.clock())
    assert (gone.status, gone.detail) == ("no_channel", ": no active person")
    assert n.log.status_of("bob", "p1") == n.log.status_of("carol", "p1") == "no_channel"
    assert n.telegram.sent == []


def test_the_same_key_reaches_a_person_once(n: Notify) -> None:
    first = n.service.notify("alice", page("p1"), n.clock())
    again = n.service.notify("alice", page("p1"), n.clock())

    assert (again.status, again.channel, again.ref) == ("duplicate", "telegram", first.ref)
    assert len(n.telegram.sent) == 1
    assert n.log.caps == {("inc1", "alice"): 1}


def test_an_in_flight_claim_holds_until_its_lease_runs_out(n: Notify) -> None:
    # an earlier attempt died mid-send: its claim is still ``sending``
    n.log.claim("alice", page("p1"), n.clock(), n.service.settings.lease)

    assert n.service.notify("alice", page("p1"), n.clock()).status == "duplicate"
    n.clock.advance(61)
    assert n.service.notify("alice", page("p1"), n.clock()).status == "sent"
    assert len(n.telegram.sent) == 1


def test_an_unexpected_error_leaves_a_record_the_next_attempt_may_take(n: Notify) -> None:
    n.telegram.fail(error=RuntimeError("bug"))

    with pytest.raises(RuntimeError):
        n.service.notify("alice", page("p1"), n.clock())

    assert n.log.record("alice", "p1").status == "failed"
    n.clock.advance(1)
    assert n.service.notify("alice", page("p1"), n.clock()).status == "sent"


def test_pages_past_the_cap_are_capped_and_stay_capped(n: Notify) -> None:
    results = [n.service.notify("alice", page(f"p{i}"), n.clock.advance(1)).status for i in range(4)]

    assert results == ["sent", "sent", "sent", "capped"]
    assert n.log.caps == {("inc1", "alice"): 3}
    assert n.log.record("alice", "p3").status == "capped"
    assert n.service.notify("alice", page("p3"), n.clock.advance(1)).status == "capped"
    # other kinds and other incidents are not counted against it
    assert n.service.notify("alice", page("r1", kind=Kind.RESOLUTION), n.clock.advance(1)).status == "sent"
    assert n.service.notify("alice", page("q1", incident="inc2"), n.clock.advance(1)).status == "sent"


def test_a_full_window_queues_pages_and_one_flush_sends_them_as_a_digest(n: Notify) -> None:
    fill_chat(n)

    first = n.service.notify("alice", page("p1"), n.clock(), context={"step": 0})
    second = n.service.notify("alice", page("p2", incident="inc2"), n.clock(), context={"step": 1})

    assert (first.status, second.status) == ("queued", "queued")
    assert n.log.queued_keys("alice", "telegram") == ["p1", "p2"]
    assert n.log.status_of("alice", "p1") == n.log.status_of("alice", "p2") == "queued"
    assert [job["type"] for job, _ in n.queue.jobs] == [FLUSH_JOB, FLUSH_JOB]
    assert all(0 < delay <= 1 for _, delay in n.queue.jobs)
    assert n.telegram.sent == []

    assert n.flush_all() == ["sent", "done"]

    [digest] = n.telegram.to(CHAT)
    assert digest.text.startswith("🚨 2 incidents need you")
    assert "p1 is down" in digest.text and "p2 is down" in digest.text
    one, two = n.log.record("alice", "p1"), n.log.record("alice", "p2")
    assert (one.status, two.status) == ("sent", "sent")
    assert one.ref == two.ref == n.telegram.sent[0].ref
    assert n.log.queued_keys("alice", "telegram") == []
    assert n.listener.outcomes == {"p1": "sent", "p2": "sent"}
    assert n.listener.contexts["p2"] == {"step": 1}


def test_a_page_for_a_chat_with_a_queue_joins_it_instead_of_overtaking_it(n: Notify) -> None:
    """One page a second to one chat is its limit: a page queued by a moment's jitter must not wait, window after
    window, while newer pages take each window as it opens. The chat is held for its queue until the flush."""
    fill_chat(n)
    assert n.service.notify("alice", page("p1"), n.clock()).status == "queued"
    n.clock.advance(1.2)  # the window has opened again, and the flush job has not run yet

    assert n.service.notify("alice", page("p2", incident="inc2"), n.clock()).status == "queued"
    assert n.telegram.sent == []  # p2 did not take the window p1 waits for

    assert n.flush_all()[0] == "sent"
    [digest] = n.telegram.to(CHAT)
    assert "p1 is down" in digest.text and "p2 is down" in digest.text
    assert n.log.status_of("alice", "p1") == n.log.status_of("alice", "p2") == "sent"

    # the queue is empty and the hold released: the next page goes straight out once the window allows
    n.clock.advance(1.1)
    assert n.service.notify("alice", page("p3", incident="inc3"), n.clock()).status == "sent"


def test_a_queue_holds_only_its_own_chat_never_the_bot_everyone_shares(n: Notify) -> None:
    n.people.add("bob", telegram="2002")
    fill_chat(n)
    assert n.service.notify("alice", page("p1"), n.clock()).status == "queued"

    # alice's queue holds alice's chat; bob's page takes the bot's shared window as before
    assert n.service.notify("bob", page("b1", incident="inc2"), n.clock()).status == "sent"
    assert [m.text for m in n.telegram.to("2002")] == [page("b1", incident="inc2").text]
    assert n.limiter.held.keys() == {f"tg:chat:{CHAT}"}


def test_a_hold_nobody_releases_lapses(n: Notify) -> None:
    fill_chat(n)
    assert n.service.notify("alice", page("p1"), n.clock()).status == "queued"
    n.queue.take()  # the flush job is lost (it never is on SQS; the hold must not depend on it)
    n.clock.advance(1.0 + HOLD_GRACE_S + 0.1)

    assert n.service.notify("alice", page("p2", incident="inc2"), n.clock()).status == "sent"


def test_a_queued_page_no_longer_wanted_is_cancelled_not_sent(n: Notify) -> None:
    fill_chat(n)
    n.service.notify("alice", page("p1"), n.clock())
    n.listener.unwanted.add("p1")

    assert n.flush_all() == ["cancelled"]

    assert n.telegram.sent == []
    assert n.log.record("alice", "p1").status == "cancelled"
    assert n.log.queued_keys("alice", "telegram") == []
    assert n.listener.outcomes == {"p1": "cancelled"}


def test_a_page_whose_window_opens_in_a_moment_waits_for_it_instead_of_queuing(n: Notify) -> None:
    # a chat paged about once a second: the burst of two is used, the next slot opens 0.2 s after this page comes
    assert n.service.notify("alice", page("p1", "inc1"), n.clock()).status == "sent"
    assert n.service.notify("alice", page("p2", "inc2"), n.clock()).status == "sent"
    n.clock.advance(0.8)

    delivered = n.service.notify("alice", page("p3", "inc3"), n.clock())

    assert delivered.status == "sent" and delivered.channel == "telegram"
    assert n.clock.slept == [pytest.approx(0.2)]
    assert n.queue.jobs == [] and n.log.queued_keys("alice", "telegram") == []
    # a storm is still queued: the next window is a whole second away, past the page's wait
    assert n.service.notify("alice", page("p4", "inc4"), n.clock()).status == "queued"


def test_a_window_opening_within_a_short_wait_at_flush_time_is_waited_out_in_process(n: Notify) -> None:
    # the page queue's delays are whole seconds, rounded down: the job may come up to a second early
    fill_chat(n)
    n.service.notify("alice", page("p1"), n.clock())
    [(job, delay)] = n.queue.take()
    n.clock.advance(delay - 0.7)

    assert n.service.flush(job, n.clock(), n.listener) == "sent"

    assert n.clock.slept and 0 < n.clock.slept[-1] <= n.service.settings.max_wait_s
    assert [m.key for m in n.telegram.to(CHAT)] == ["p1"]
    assert n.queue.jobs == []
    assert n.listener.outcomes == {"p1": "sent"}


def test_a_window_still_full_at_flush_time_waits_for_the_next_one(n: Notify) -> None:
    n.service.settings = replace(n.service.settings, max_wait_s=0.5)
    fill_chat(n)
    n.service.notify("alice", page("p1"), n.clock())
    [(job, _)] = n.queue.take()
    fill_chat(n)  # someone else took this window too

    assert n.service.flush(job, n.clock(), n.listener) == "waiting"

    assert n.log.status_of("alice", "p1") == "queued"
    assert n.log.queued_keys("alice", "telegram") == ["p1"]
    assert len(n.queue.jobs) == 1
    assert n.flush_all() == ["sent"]
    assert n.log.status_of("alice", "p1") == "sent"


def test_a_channel_refusing_the_digest_for_a_short_while_requeues_it(n: Notify) -> None:
    fill_chat(n)
    n.service.notify("alice", page("p1"), n.clock())
    [(job, delay)] = n.queue.take()
    n.clock.advance(delay)
    n.telegram.rate_limit(retry_after=3)

    assert n.service.flush(job, n.clock(), n.listener) == "waiting"

    assert n.log.record("alice", "p1").status == "queued"
    assert n.log.record("alice", "p1").lease_until is None
    assert [delay for _, delay in n.queue.jobs] == [3]
    assert n.flush_all() == ["sent"]
    assert n.listener.outcomes == {"p1": "sent"}


def test_a_queued_page_the_channel_then_fails_goes_to_the_next_channel(n: Notify) -> None:
    fill_chat(n)
    n.service.notify("alice", page("p1"), n.clock())
    n.telegram.down = True

    assert n.flush_all() == ["fallback"]

    record = n.log.record("alice", "p1")
    assert (record.status, record.channel) == ("sent", "email")
    assert [m.key for m in n.email.to(MAIL)] == ["p1"]
    assert n.log.queued_keys("alice", "telegram") == []
    assert n.listener.outcomes == {"p1": "sent"}


def test_a_queued_page_no_channel_takes_ends_failed_and_the_listener_hears_it(n: Notify) -> None:
    fill_chat(n)
    n.service.notify("alice", page("p1"), n.clock())
    n.telegram.down = n.email.down = True

    assert n.flush_all() == ["fallback"]

    record = n.log.record("alice", "p1")
    assert record.status == "failed"
    assert [(a["channel"], a["outcome"]) for a in record.attempts] == [("telegram", "failed"), ("email", "failed")]
    assert n.log.queued_keys("alice", "telegram") == []
    assert n.listener.outcomes == {"p1": "failed"}


def test_a_page_that_cannot_be_queued_fails_now_instead_of_waiting_forever(n: Notify) -> None:
    fill_chat(n)
    n.queue.broken = True

    delivery = n.service.notify("alice", page("p1"), n.clock())

    assert delivery.status == "failed"
    assert n.log.record("alice", "p1").status == "failed"
    assert n.log.queued_keys("alice", "telegram") == []


def test_a_long_flood_wait_sends_the_page_by_the_next_channel_instead_of_queuing(n: Notify) -> None:
    n.telegram.rate_limit(retry_after=60)

    delivery = n.service.notify("alice", page("p1"), n.clock())

    assert (delivery.status, delivery.channel) == ("sent", "email")
    assert n.queue.jobs == []


def test_other_kinds_wait_out_a_short_window_in_process_else_report_rate_limited(n: Notify) -> None:
    fill_chat(n)

    sent = n.service.notify("alice", page("r1", kind=Kind.REMINDER), n.clock())

    assert sent.status == "sent" and n.clock.slept == [1.0]
    n.telegram.rate_limit(retry_after=30)
    n.email.down = True
    limited = n.service.notify("alice", page("r2", kind=Kind.REMINDER), n.clock())
    assert (limited.status, limited.channel) == ("rate_limited", "telegram")
    assert n.log.status_of("alice", "r2") == "rate_limited"
    assert n.queue.jobs == []
    # the caller's retry may take the key again
    assert n.service.notify("alice", page("r2", kind=Kind.REMINDER), n.clock()).status == "sent"


def test_a_digest_holds_at_most_digest_max_and_the_rest_follow_in_the_next(n: Notify) -> None:
    n.service.settings.digest_max = 2
    fill_chat(n)
    for key in ("p1", "p2", "p3"):
        n.clock.advance(0.001)  # queued in this order
        n.service.notify("alice", page(key, incident=key), n.clock())

    n.flush_all()

    assert [m.text.splitlines()[0] for m in n.telegram.to(CHAT)] == ["🚨 2 incidents need you", "🔴 [HIGH] p3 is down"]
    assert [n.log.status_of("alice", key) for key in ("p1", "p2", "p3")] == ["sent", "sent", "sent"]
