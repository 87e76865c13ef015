"""An incident's message in its service's Slack channel (``IncidentChannel``) over in-memory fakes of its ports and
the real notification service: once per run, brought up to date when the incident escalates, a refusal kept for good,
a transient failure tried again, and nothing that goes wrong ever raised into the lifecycle."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from oncall.domain.escalation import Level, Policy, Target, TargetType
from oncall.domain.incidents import Action, Incident, Severity, Source, Status
from oncall.domain.services_catalog import Service
from oncall.domain.users import Role
from oncall.services.escalation import EscalationService, initial_state
from oncall.services.incident_channel import IncidentChannel, PostClaim, PostStatus
from oncall.services.incidents import IncidentService
from oncall.services.notify import ChannelBlocked, NotificationService
from tests.support.fakes import (
    START,
    Clock,
    FakeCatalogStore,
    FakeChannel,
    FakeDeliveryLog,
    FakeIncidentStore,
    FakeLifecycle,
    FakeOnCall,
    FakePager,
    FakePeople,
    FakeRateLimiter,
    FakeRecipientDirectory,
    user,
)

CHANNEL = "C0123ABCD"


class FakeChannelPostLog:
    """``ChannelPostLog`` with the adapter's condition: won when absent, ``failed``, or ``sending`` past its lease."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str, str], dict[str, object]] = {}

    def claim(self, incident_id: str, run: str, channel: str, now: datetime, lease: timedelta) -> PostClaim:
        stored = self.records.get((incident_id, run, channel))
        if (
            stored is None
            or stored["status"] == "failed"
            or (
                stored["status"] == "sending" and stored["lease_until"] < now  # type: ignore[operator]
            )
        ):
            self.records[(incident_id, run, channel)] = {"status": "sending", "lease_until": now + lease}
            return PostClaim(won=True)
        return PostClaim(False, str(stored["status"]), stored.get("ref"), stored.get("level"))  # type: ignore[arg-type]

    def finish(
        self,
        incident_id: str,
        run: str,
        channel: str,
        status: PostStatus,
        ref: str | None,
        level: int,
        detail: str | None,
        now: datetime,
    ) -> None:
        self.records[(incident_id, run, channel)] = {"status": status, "ref": ref, "level": level, "detail": detail}


class World:
    def __init__(self, channel: str | None = CHANNEL) -> None:
        self.clock = Clock()
        self.catalog = FakeCatalogStore()
        self.catalog.put_service(Service("svc", "payments", "pol", START, START, key_hash="h", slack_channel=channel))
        self.store = FakeIncidentStore()
        self.slack: FakeChannel | None = FakeChannel("slack")
        log = FakeDeliveryLog()
        self.notify = NotificationService(
            log,
            FakeRecipientDirectory(log),
            FakeRateLimiter(),
            {"slack": self.slack},
            wall=self.clock.wall,
            sleep=self.clock.sleep,
        )
        self.posts = FakeChannelPostLog()
        self.channel = IncidentChannel(self.posts, self.catalog, self.store, self.notify, lambda: self.slack)

    def lines(self, incident_id: str = "i1") -> list[str]:
        return [e.text for e in self.store.all_entries(incident_id, "page")]


def incident(**kw: object) -> Incident:
    base: dict[str, object] = {
        "id": "i1",
        "title": "Checkout returns 502",
        "service_id": "svc",
        "severity": Severity.HIGH,
        "source": Source.OPERATOR,
        "status": Status.TRIGGERED,
        "created_at": START,
        "updated_at": START,
        "escalation_step": 0,
        "escalation_level": 1,
    }
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


def test_posted_once_per_run_with_both_buttons_and_recorded_with_its_ref() -> None:
    w = World()
    assert w.channel.post(incident(), w.clock()) == "sent"
    assert w.channel.post(incident(), w.clock()) == "duplicate"
    assert w.slack is not None
    (sent,) = w.slack.sent
    assert sent.address == CHANNEL
    assert [b.callback_data for row in sent.message.buttons for b in row] == ["inc:ack:i1", "inc:res:i1"]
    (line,) = w.store.all_entries("i1", "page")
    assert line.data["ref"] == sent.ref and line.data["slack_channel"] == CHANNEL
    assert line.data["generation"] == 1 and line.data["cycle"] == 0
    # a new run (reopened: the next generation) is a new message
    assert w.channel.post(incident(generation=2), w.clock()) == "sent"
    assert len(w.slack.sent) == 2


def test_an_escalation_rewrites_the_message_with_the_new_level() -> None:
    w = World()
    w.channel.post(incident(), w.clock())
    w.clock.advance(300)
    assert w.channel.post(incident(escalation_step=1, escalation_level=2), w.clock()) == "updated"
    assert w.slack is not None
    ((ref, text, buttons),) = w.slack.edits
    assert ref == w.slack.sent[0].ref and "level 2" in text.lower()
    assert [b.callback_data for row in buttons for b in row] == ["inc:ack:i1", "inc:res:i1"]
    # the same level again (a retried task) changes nothing
    assert w.channel.post(incident(escalation_step=1, escalation_level=2), w.clock()) == "duplicate"
    assert len(w.slack.edits) == 1 and len(w.slack.sent) == 1


def test_a_channel_slack_refuses_is_recorded_and_never_tried_again() -> None:
    w = World()
    assert w.slack is not None
    w.slack.fail(1, ChannelBlocked("slack: channel_not_found"))
    assert w.channel.post(incident(), w.clock()) == "refused"
    assert w.lines() == [f"Posted to Slack channel {CHANNEL}: refused (slack: channel_not_found)"]
    assert w.channel.post(incident(escalation_step=1, escalation_level=2), w.clock()) == "duplicate"
    assert not w.slack.sent and len(w.lines()) == 1


def test_a_transient_failure_is_recorded_and_tried_again_at_the_next_level() -> None:
    w = World()
    assert w.slack is not None
    w.slack.fail(1)
    assert w.channel.post(incident(), w.clock()) == "failed"
    w.clock.advance(300)
    assert w.channel.post(incident(escalation_step=1, escalation_level=2), w.clock()) == "sent"
    assert len(w.slack.sent) == 1
    assert w.lines() == [
        f"Posted to Slack channel {CHANNEL}: failed (slack: HTTP 502)",
        f"Posted to Slack channel {CHANNEL}: sent",
    ]


def test_a_full_rate_window_is_not_waited_for_in_process() -> None:
    w = World()
    assert w.slack is not None
    for n in range(3):  # the channel's window: a burst, then about one a second
        w.channel.post(incident(id=f"i{n}"), w.clock())
    assert [w.channel.post(incident(id="late"), w.clock())] == ["failed"]
    assert w.clock.slept == []
    assert "window full" in w.lines("late")[0]


def test_no_channel_no_slack_or_a_broken_store_never_raise() -> None:
    assert World(channel=None).channel.post(incident(), START) is None
    w = World()
    w.slack = None  # no bot token: nothing is read, nothing posted, nothing recorded

    def unread(service_id: str) -> Service | None:
        raise AssertionError("read without Slack")

    w.catalog.get_service = unread  # type: ignore[method-assign]
    assert w.channel.post(incident(), w.clock()) is None
    assert w.lines() == [] and w.posts.records == {}

    broken = World()

    def gone(service_id: str) -> Service | None:
        raise RuntimeError("catalog unavailable")

    broken.catalog.get_service = gone  # type: ignore[method-assign]
    assert broken.channel.post(incident(), broken.clock()) == "failed"


@pytest.mark.parametrize("status", [Status.ACKNOWLEDGED, Status.RESOLVED])
def test_the_message_is_a_page_line_the_announcement_finds(status: Status) -> None:
    w = World()
    w.channel.post(incident(), w.clock())
    moved = replace(incident(), status=status)
    refs = {str(e.data["ref"]) for e in w.store.page_entries(moved.id) if e.data.get("ref")}
    assert w.slack is not None and refs == {w.slack.sent[0].ref}


def test_a_service_without_a_channel_posts_to_its_teams() -> None:
    from oncall.domain.teams import Team

    class Teams:
        def __init__(self) -> None:
            self.reads = 0
            self.teams = {"platform": Team("platform", "Platform", START, START, slack_channel="C0PLATFORM")}

        def get(self, team_id: str) -> Team | None:
            self.reads += 1
            return self.teams.get(team_id)

    w = World(channel=None)
    teams = Teams()
    w.channel.teams = teams
    assert w.channel.post(incident(), w.clock()) is None  # the default team names no channel either
    w.catalog.services["svc"] = replace(w.catalog.services["svc"], team_id="platform")
    assert w.channel.post(incident(id="i2"), w.clock()) == "sent"
    assert w.slack is not None and [s.address for s in w.slack.sent] == ["C0PLATFORM"]
    # the service's own channel wins, and then the team is not read
    w.catalog.services["svc"] = replace(w.catalog.services["svc"], slack_channel=CHANNEL)
    reads = teams.reads
    assert w.channel.post(incident(id="i3"), w.clock()) == "sent"
    assert [s.address for s in w.slack.sent] == ["C0PLATFORM", CHANNEL] and teams.reads == reads


# -- through the lifecycle's tasks -------------------------------------------------------------------------------------


def test_the_lifecycle_posts_after_the_people_rewrites_on_escalation_and_announces_the_ack_there_too() -> None:
    w = World()
    w.catalog.policies["pol"] = Policy(
        id="pol",
        name="primary",
        levels=tuple(Level((Target(TargetType.USER, who),), 300) for who in ("alice", "bob")),
    )
    people = FakePeople(user("admin", role=Role.ADMIN), user("alice"), user("bob"))
    lifecycle, pager = FakeLifecycle(), FakePager()
    incidents = IncidentService(w.store, w.catalog, people, lifecycle, w.clock)
    escalation = EscalationService(
        w.store, w.catalog, people, FakeOnCall(), pager, lifecycle, incidents, w.clock, channel=w.channel
    )
    opened = incidents.create(
        people.users["admin"], title="Checkout returns 502", service_id="svc", severity=Severity.HIGH
    )
    assert w.slack is not None

    order: list[str] = []
    page_one, post_one = pager.send, w.slack.send
    pager.send = lambda *a, **k: (order.append("person"), page_one(*a, **k))[1]  # type: ignore[method-assign]
    w.slack.send = lambda *a, **k: (order.append("channel"), post_one(*a, **k))[1]  # type: ignore[method-assign]

    w.clock.advance(1)
    state = escalation.plan(initial_state(opened.id, 1), advance=False)
    w.clock.advance(1)
    escalation.page_level(state, lifecycle.wait())
    assert order == ["person", "channel"]  # alice's page first, then the channel's message
    (posted,) = w.slack.sent
    assert "level 1" in posted.message.text.lower()

    # level 1 timed out: bob is paged and the channel's message now says level 2
    w.clock.advance(300)
    state = escalation.plan(state, advance=True)
    w.clock.advance(1)
    escalation.page_level(state, lifecycle.wait())
    assert len(w.slack.sent) == 1
    ((ref, text, _),) = w.slack.edits
    assert ref == posted.ref and "level 2" in text.lower()

    # bob acknowledges (anywhere): the announcement rewrites every copy of the round, the channel's among them
    w.clock.advance(5)
    incidents.act(people.users["bob"], opened.id, Action.ACKNOWLEDGE)
    escalation.plan(state, advance=False)
    announced = {ref for ref, text, _ in pager.edits if "Acknowledged by" in text}
    assert posted.ref in announced and len(announced) == 3  # alice's page, bob's page, the channel


def test_the_fallback_posts_to_the_channel_too() -> None:
    w = World()
    people = FakePeople(user("admin", role=Role.ADMIN))
    lifecycle = FakeLifecycle()
    incidents = IncidentService(w.store, w.catalog, people, lifecycle, w.clock)
    escalation = EscalationService(
        w.store, w.catalog, people, FakeOnCall(), FakePager(), lifecycle, incidents, w.clock, channel=w.channel
    )
    opened = incidents.create(people.users["admin"], title="Policy gone", service_id="svc", severity=Severity.HIGH)
    w.clock.advance(1)
    escalation.fallback({**initial_state(opened.id, 1), "error": {"Error": "PolicyUnavailable"}})
    assert w.slack is not None and [s.address for s in w.slack.sent] == [CHANNEL]
