"""The lifecycle's tasks over fakes of their ports: plan, page a level, escalate, exhaust, unreachable levels (at once
or when a queued page fails later), judged on the stored incident, its timeline and the lifecycle's tokens."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from oncall.domain.escalation import Level, Policy, Target, TargetType
from oncall.domain.incidents import Action, Incident, Severity, Status
from oncall.domain.services_catalog import Service
from oncall.domain.users import Role
from oncall.services.escalation import EscalationService, IncidentMoved, NobodyReachable, initial_state
from oncall.services.incident_pages import page_key
from oncall.services.incident_ports import PageResult
from oncall.services.incidents import IncidentService
from tests.support.fakes import (
    START,
    Clock,
    FakeCatalogStore,
    FakeIncidentStore,
    FakeLifecycle,
    FakeOnCall,
    FakePager,
    FakePeople,
    user,
)


def users(*ids: str) -> tuple[Target, ...]:
    return tuple(Target(TargetType.USER, i) for i in ids)


@dataclass
class World:
    clock: Clock
    store: FakeIncidentStore
    catalog: FakeCatalogStore
    people: FakePeople
    oncall: FakeOnCall
    pager: FakePager
    lifecycle: FakeLifecycle
    incidents: IncidentService
    escalation: EscalationService

    def policy(self, *levels: tuple[Target, ...], repeat: int = 0, ack_timeout: int | None = None) -> None:
        self.catalog.policies["pol"] = Policy(
            id="pol",
            name="primary",
            levels=tuple(Level(targets, 300) for targets in levels),
            repeat=repeat,
            ack_timeout_seconds=ack_timeout,
        )

    def open(self) -> Incident:
        return self.incidents.create(
            self.people.users["admin"], title="Checkout returns 502", service_id="svc", severity=Severity.HIGH
        )

    # each task runs a second after the last, so timeline entries sort in the order they were written (two entries
    # of one millisecond have no order: their ULIDs differ in random bits only)
    def run_plan(self, state: dict[str, Any], *, advance: bool = False) -> dict[str, Any]:
        self.clock.advance(1)
        return self.escalation.plan(state, advance=advance)

    def page(self, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        self.clock.advance(1)
        token = self.lifecycle.wait()
        return token, self.escalation.page_level(state, token)


@pytest.fixture
def w(clock: Clock) -> World:
    store, catalog, lifecycle = FakeIncidentStore(), FakeCatalogStore(), FakeLifecycle()
    people = FakePeople(
        user("admin", role=Role.ADMIN), user("alice"), user("bob"), user("carol"), user("dave", active=False)
    )
    catalog.put_service(Service("svc", "payments", "pol", START, START, key_hash="h"))
    oncall, pager = FakeOnCall(), FakePager()
    incidents = IncidentService(store, catalog, people, lifecycle, clock)
    escalation = EscalationService(store, catalog, people, oncall, pager, lifecycle, incidents, clock)
    return World(clock, store, catalog, people, oncall, pager, lifecycle, incidents, escalation)


def test_the_first_plan_records_level_1_and_the_page_task_pages_it_and_arms_its_token(w: World) -> None:
    w.policy(users("alice"), users("bob"))
    incident = w.open()

    state = w.run_plan(initial_state(incident.id, 1))
    token, paged = w.page(state)

    assert (state["next"], state["step"], state["wait_seconds"]) == ("page", 0, 300)
    assert paged == {"paged": 1, "queued": 0}
    stored = w.store.incidents[incident.id]
    assert (stored.escalation_step, stored.escalation_level, stored.task_token) == (0, 1, token)
    assert w.store.kinds(incident.id) == ["triggered", "paging", "page"]
    key = page_key(incident.id, 1, 0, "step0:alice")
    [entry] = w.store.all_entries(incident.id, "page")
    assert (entry.data["status"], entry.data["ref"]) == ("sent", w.pager.deliveries[("alice", key)].ref)
    [sent] = w.pager.sent_to("alice")
    assert sent.key == key
    assert sent.text.splitlines()[0] == "🔴 [HIGH] Checkout returns 502"
    assert w.pager.sent_to("bob") == []


def test_a_timeout_escalates_level_by_level_then_exhausts_and_tells_everyone_once(w: World) -> None:
    w.policy(users("alice"), users("bob", "dave"))
    incident = w.open()
    state = w.run_plan(initial_state(incident.id, 1))
    w.page(state)

    state = w.run_plan(state, advance=True)
    w.page(state)

    assert (state["step"], w.store.incidents[incident.id].escalation_level) == (1, 2)
    assert [p.key for p in w.pager.sent_to("bob")] == [page_key(incident.id, 1, 0, "step1:bob")]
    assert w.pager.sent_to("dave") == []  # not active: not paged
    assert [e.detail_type for e in w.store.events] == ["incident.triggered", "incident.escalated"]

    state = w.run_plan(state, advance=True)
    again = w.run_plan(state, advance=True)  # a retried Plan task

    assert (state["next"], state["phase"]) == ("hold", "exhausted")
    assert again["phase"] == "exhausted"
    assert w.store.incidents[incident.id].exhausted
    [exhausted] = w.store.all_entries(incident.id, "exhausted")
    assert exhausted.data["notified"] == ["alice", "bob"]
    assert [p.kind for p in w.pager.sent_to("alice")] == ["page", "escalation"]
    assert [e.detail_type for e in w.store.events][-1] == "incident.escalated"
    assert len(w.store.events) == 3


def test_a_schedule_target_pages_whoever_is_on_call_then(w: World) -> None:
    w.policy((Target(TargetType.SCHEDULE, "sch"),))
    w.oncall.put("sch", "carol", START, START.replace(hour=17))
    incident = w.open()

    _, paged = w.page(w.run_plan(initial_state(incident.id, 1)))

    assert paged == {"paged": 1, "queued": 0}
    assert len(w.pager.sent_to("carol")) == 1


def test_a_team_target_pages_whoever_is_on_call_on_any_of_its_schedules(w: World) -> None:
    w.policy((Target(TargetType.TEAM, "pay"),))
    w.oncall.put("pay/primary", "carol", START, START.replace(hour=17))
    w.oncall.put("pay/secondary", "bob", START, START.replace(hour=17))
    w.oncall.put("search/primary", "alice", START, START.replace(hour=17))
    incident = w.open()

    _, paged = w.page(w.run_plan(initial_state(incident.id, 1)))

    assert paged == {"paged": 2, "queued": 0}
    assert len(w.pager.sent_to("carol")) == len(w.pager.sent_to("bob")) == 1
    assert w.pager.sent_to("alice") == []


def test_nobody_on_call_escalates_at_once_and_the_timeline_says_why(w: World) -> None:
    w.policy((Target(TargetType.SCHEDULE, "empty"),), users("bob"))
    incident = w.open()
    state = w.run_plan(initial_state(incident.id, 1))

    with pytest.raises(NobodyReachable):
        w.page(state)

    [entry] = w.store.all_entries(incident.id, "nobody_on_call")
    assert entry.text == "Level 1: nobody on call; escalating at once"
    assert w.pager.pages == []


def test_nobody_reachable_escalates_at_once_with_each_persons_reason(w: World) -> None:
    w.policy(users("alice", "bob"), users("carol"))
    w.pager.outcomes["alice"] = PageResult("failed", detail="telegram: HTTP 502; email: refused")
    w.pager.outcomes["bob"] = PageResult("no_channel", detail="no channel is set up for the person")
    incident = w.open()
    state = w.run_plan(initial_state(incident.id, 1))

    with pytest.raises(NobodyReachable, match="nobody reachable"):
        w.page(state)

    [unreachable] = w.store.all_entries(incident.id, "nobody_reachable")
    assert unreachable.data["reasons"] == {
        "alice": "telegram: HTTP 502; email: refused",
        "bob": "no channel is set up for the person",
    }
    assert "Alice: telegram: HTTP 502; email: refused" in unreachable.text
    assert sorted(e.data["status"] for e in w.store.all_entries(incident.id, "page")) == ["failed", "no_channel"]
    # the lifecycle catches it and escalates: the next level is paged
    w.page(w.run_plan(state, advance=True))
    assert len(w.pager.sent_to("carol")) == 1


def test_a_queued_page_that_fails_later_fails_the_waiting_task_with_nobody_reachable(w: World) -> None:
    w.policy(users("alice", "bob"))
    w.pager.outcomes["alice"] = PageResult("queued", "telegram")
    w.pager.outcomes["bob"] = PageResult("failed", detail="telegram: HTTP 502")
    incident = w.open()
    token, paged = w.page(w.run_plan(initial_state(incident.id, 1)))

    assert paged == {"paged": 0, "queued": 1}
    assert w.store.all_entries(incident.id, "nobody_reachable") == []

    key = page_key(incident.id, 1, 0, "step0:alice")
    failed = PageResult("failed", "telegram", detail="telegram: HTTP 502")
    context = w.pager.settle("alice", key, failed)
    w.escalation.page_settled("alice", failed, context, w.clock())

    assert w.lifecycle.failed[token][0] == "NobodyReachable"
    assert token not in w.lifecycle.waiting
    [unreachable] = w.store.all_entries(incident.id, "nobody_reachable")
    assert unreachable.data["reasons"] == {"alice": "telegram: HTTP 502", "bob": "failed"}
    assert [e.data.get("queued") for e in w.store.all_entries(incident.id, "page")].count(True) == 1


def test_a_queued_page_that_goes_out_keeps_the_level_waiting_and_is_edited_on_acknowledge(w: World) -> None:
    w.policy(users("alice"))
    w.pager.outcomes["alice"] = PageResult("queued", "telegram")
    incident = w.open()
    state = w.run_plan(initial_state(incident.id, 1))
    token, _ = w.page(state)
    key = page_key(incident.id, 1, 0, "step0:alice")

    sent = PageResult("sent", "telegram", "tg:1001:7")
    context = w.pager.settle("alice", key, sent)
    w.escalation.page_settled("alice", sent, context, w.clock())
    acked = w.incidents.act(w.people.users["bob"], incident.id, Action.ACKNOWLEDGE, channel="telegram")
    held = w.run_plan(state)

    assert w.lifecycle.failed == {}
    assert w.lifecycle.answered[token]["status"] == "acknowledged"
    assert acked.task_token is None
    assert held["phase"] == "acknowledged"
    [(ref, text, _)] = w.pager.edits
    assert ref == "tg:1001:7" and "Acknowledged by Bob" in text


def test_a_queued_page_is_wanted_only_while_its_incident_waits_at_that_level(w: World) -> None:
    w.policy(users("alice"), users("bob"))
    incident = w.open()
    state = w.run_plan(initial_state(incident.id, 1))
    w.page(state)
    context = {"incident_id": incident.id, "generation": 1, "cycle": 0, "step": 0}

    assert w.escalation.page_wanted(context)
    assert not w.escalation.page_wanted({**context, "step": 1})
    assert not w.escalation.page_wanted({**context, "generation": 2})
    w.incidents.act(w.people.users["alice"], incident.id, Action.ACKNOWLEDGE)
    assert not w.escalation.page_wanted(context)
    w.incidents.act(w.people.users["alice"], incident.id, Action.UNACKNOWLEDGE)
    assert not w.escalation.page_wanted(context)  # paging started over: a new cycle


def test_a_page_task_for_an_incident_that_moved_on_arms_nothing_and_pages_nobody(w: World) -> None:
    w.policy(users("alice"))
    incident = w.open()
    state = w.run_plan(initial_state(incident.id, 1))
    w.incidents.act(w.people.users["alice"], incident.id, Action.RESOLVE)

    with pytest.raises(IncidentMoved):
        w.page(state)

    assert w.store.incidents[incident.id].task_token is None
    assert w.store.incidents[incident.id].status is Status.RESOLVED
    assert w.pager.pages == []


def test_a_retried_page_task_pages_nobody_twice(w: World) -> None:
    w.policy(users("alice"))
    incident = w.open()
    state = w.run_plan(initial_state(incident.id, 1))

    _, first = w.page(state)
    token, retried = w.page(state)

    assert first == retried == {"paged": 1, "queued": 0}
    assert len(w.pager.sent_to("alice")) == 1
    assert [e.data["status"] for e in w.store.all_entries(incident.id, "page")] == ["sent", "duplicate"]
    assert w.store.incidents[incident.id].task_token == token


def test_through_the_notification_service_a_queued_page_that_fails_escalates_the_level(w: World) -> None:
    """The same story with the real notification service behind the pager (its own ports faked): the context the
    escalation hands over comes back through the page queue's flush to fail the waiting task."""
    from oncall.adapters.lifecycle import NotifyPager, PageListener
    from oncall.services.notify import NotificationService
    from tests.support.fakes import (
        FakeChannel,
        FakeDeliveryLog,
        FakePageQueue,
        FakeRateLimiter,
        FakeRecipientDirectory,
    )

    log, limiter, queue, telegram = FakeDeliveryLog(), FakeRateLimiter(), FakePageQueue(), FakeChannel("telegram")
    directory = FakeRecipientDirectory(log)
    directory.add("alice", telegram="1001")
    notify = NotificationService(
        log, directory, limiter, {"telegram": telegram}, wall=w.clock.wall, sleep=w.clock.sleep, queue=queue
    )
    w.escalation.pager = NotifyPager(notify)
    w.policy(users("alice"), users("bob"))
    incident = w.open()
    state = w.run_plan(initial_state(incident.id, 1))
    limiter.fill("tg:chat:1001", w.clock.wall() + 1, 1)  # the page task runs in that second

    token, paged = w.page(state)

    assert paged == {"paged": 0, "queued": 1}
    assert log.status_of("alice", page_key(incident.id, 1, 0, "step0:alice")) == "queued"
    telegram.down = True
    [(job, delay)] = queue.take()
    w.clock.advance(delay)
    assert notify.flush(job, w.clock(), PageListener(w.escalation)) == "fallback"

    assert log.status_of("alice", page_key(incident.id, 1, 0, "step0:alice")) == "failed"
    assert w.lifecycle.failed[token][0] == "NobodyReachable"
    [settled] = [e for e in w.store.all_entries(incident.id, "page") if e.data.get("queued")]
    assert settled.data["status"] == "failed"
    assert len(w.store.all_entries(incident.id, "nobody_reachable")) == 1


def counted(monkeypatch: pytest.MonkeyPatch, reads: Counter[tuple[str, str]], owner: Any, method: str) -> None:
    """Count ``owner.method(id)`` calls by id, the real method still answering."""
    real = getattr(owner, method)

    def counting(key: str) -> Any:
        reads[(method, key)] += 1
        return real(key)

    monkeypatch.setattr(owner, method, counting)


def test_a_page_task_reads_the_service_and_each_person_once_however_many_it_pages(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w.policy(users("alice", "bob", "carol"), users("bob"))
    incident = w.open()
    state = w.run_plan(initial_state(incident.id, 1))
    reads: Counter[tuple[str, str]] = Counter()
    counted(monkeypatch, reads, w.catalog, "get_service")
    counted(monkeypatch, reads, w.people, "get")

    assert w.page(state)[1] == {"paged": 3, "queued": 0}

    # the service once (policy, three pages' content), each person once (active?, then the timeline's name)
    assert reads == {("get_service", "svc"): 1, ("get", "alice"): 1, ("get", "bob"): 1, ("get", "carol"): 1}
    assert all("payments" in w.pager.sent_to(uid)[0].text for uid in ("alice", "bob", "carol"))
    assert {e.data["user_id"] for e in w.store.all_entries(incident.id, "page")} == {"alice", "bob", "carol"}

    # exhausting the policy pages everyone on it with the one service read of that Plan task
    state = w.run_plan(state, advance=True)
    reads.clear()
    assert w.run_plan(state, advance=True)["phase"] == "exhausted"
    assert reads[("get_service", "svc")] == 1
    assert all(w.pager.sent_to(uid)[-1].kind == "escalation" for uid in ("alice", "bob", "carol"))
