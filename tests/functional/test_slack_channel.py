"""Incidents posted to their service's Slack channel, through the real lifecycle on the emulator, the Slack channel
through ``slack_sdk`` against the Slack sandbox on 127.0.0.1, and presses through the slack function's real handler:
one message per incident run whatever is retried, a press in the channel acting as the linked member who pressed (and
nobody else), every copy rewritten, and a channel Slack refuses recorded without touching the people's pages."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.slack.server import SlackApiServer
from oncall.domain.users import Role
from tests.support.identity import Session, login_as
from tests.support.incidents import make_policy, ok, open_incident
from tests.support.lambdas import call_api
from tests.support.lifecycle import Stack, lifecycle_stack, wait_until
from tests.support.slack import ENV, TOKEN, linked_member, press


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer(TOKEN) as server:
        yield server


@pytest.fixture(scope="module")
def stack(slack: SlackApiServer) -> Iterator[Stack]:
    env = {**ENV, "SLACK_API_URL": slack.url}
    with lifecycle_stack(env) as s:
        yield s


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Session:
    return login_as(Role.ADMIN)


@pytest.fixture(autouse=True)
def _no_planned_failures(slack: SlackApiServer) -> Iterator[None]:
    yield
    slack.clear_failures()


def service_in(admin: Session, user_ids: list[str], name: str, channel: str) -> dict[str, Any]:
    level = {"targets": [{"type": "user", "id": uid} for uid in user_ids], "timeout_seconds": 300}
    policy = make_policy(admin.headers, [level], name=f"policy {name}")
    body = {"name": name, "escalation_policy_id": policy["id"], "slack_channel": channel}
    service = ok(call_api("POST", "/services", headers=admin.headers, body=body), 201)
    assert service["slack_channel"] == channel
    return service  # type: ignore[no-any-return]


def pages_of(slack: SlackApiServer, conversation: str | None, incident_id: str) -> list[dict[str, Any]]:
    """The app's messages in ``conversation`` whose buttons name ``incident_id`` (ephemeral ones left out)."""
    values = {f"inc:ack:{incident_id}", f"inc:res:{incident_id}"}

    def pages(message: dict[str, Any]) -> bool:
        actions = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
        return not message["ephemeral_to"] and any(e.get("value") in values for e in actions)

    return [m for m in slack.outbox(conversation) if pages(m)] if conversation else []


def labels(message: Any) -> list[str]:
    blocks = message["blocks"] if isinstance(message, dict) else message.blocks
    return [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def incident(admin: Session, incident_id: str) -> dict[str, Any]:
    return ok(call_api("GET", f"/incidents/{incident_id}", headers=admin.headers))  # type: ignore[no-any-return]


def channel_lines(admin: Session, incident_id: str) -> list[str]:
    timeline = ok(call_api("GET", f"/incidents/{incident_id}/timeline", headers=admin.headers))
    items = timeline["items"] if isinstance(timeline, dict) else timeline
    return [str(e["text"]) for e in items if "Slack channel" in str(e["text"])]


# -- the service's channel, set through the API --------------------------------------------------------------------


def test_a_service_channel_is_validated_set_and_removed(stack: Stack, admin: Session) -> None:
    level = {"targets": [{"type": "user", "id": admin.user.id}], "timeout_seconds": 300}
    policy = make_policy(admin.headers, [level], name="chan policy")
    create = {"name": "chan-validation", "escalation_policy_id": policy["id"]}
    for bad in ("#ops", "ops", "D0123ABCD", "U0123ABCD", "c0123abcd", "C01", "C0123ABCD<!channel>"):
        got = call_api("POST", "/services", headers=admin.headers, body={**create, "slack_channel": bad})
        assert got.status == 422, (bad, got.raw)
        assert got.json["error"]["details"]["fields"][0]["field"] == "slack_channel", got.raw
    service = ok(call_api("POST", "/services", headers=admin.headers, body=create), 201)
    assert service["slack_channel"] is None
    path = f"/services/{service['id']}"
    assert ok(call_api("PATCH", path, headers=admin.headers, body={"slack_channel": "C0123ABCD"}))["slack_channel"]
    assert ok(call_api("GET", path, headers=admin.headers))["slack_channel"] == "C0123ABCD"
    refused = call_api("PATCH", path, headers=admin.headers, body={"slack_channel": "#incidents"})
    assert refused.status == 422 and refused.json["error"]["details"]["fields"][0]["field"] == "slack_channel"
    assert ok(call_api("PATCH", path, headers=admin.headers, body={"slack_channel": None}))["slack_channel"] is None


def test_a_team_channel_takes_the_incidents_of_its_services_that_name_none(
    stack: Stack, slack: SlackApiServer, admin: Session
) -> None:
    refused = call_api("POST", "/teams", headers=admin.headers, body={"name": "Chan refused", "slack_channel": "ops"})
    assert refused.status == 422 and refused.json["error"]["details"]["fields"][0]["field"] == "slack_channel"
    team_channel = slack.add_channel("platform-incidents")
    team = ok(call_api("POST", "/teams", headers=admin.headers, body={"name": "Chan platform"}), 201)
    assert team["slack_channel"] is None
    path = f"/teams/{team['id']}"
    team = ok(call_api("PATCH", path, headers=admin.headers, body={"slack_channel": team_channel}))
    assert team["slack_channel"] == team_channel == ok(call_api("GET", path, headers=admin.headers))["slack_channel"]

    responder, _ = linked_member(slack)
    level = {"targets": [{"type": "user", "id": responder.id}], "timeout_seconds": 300}
    policy = make_policy(admin.headers, [level], name="chan platform policy", team_id=team["id"])
    body = {"name": "chan-platform-api", "escalation_policy_id": policy["id"], "team_id": team["id"]}
    service = ok(call_api("POST", "/services", headers=admin.headers, body=body), 201)
    first = open_incident(admin.headers, service["id"], title="Platform API errors")["id"]
    wait_until(lambda: pages_of(slack, team_channel, first), what="the team channel's message")

    # the service's own channel wins over its team's
    own = slack.add_channel("platform-api")
    patch = {"slack_channel": own}
    assert ok(call_api("PATCH", f"/services/{service['id']}", headers=admin.headers, body=patch))["slack_channel"]
    second = open_incident(admin.headers, service["id"], title="Platform API latency")["id"]
    wait_until(lambda: pages_of(slack, own, second), what="the service channel's message")
    assert not pages_of(slack, team_channel, second)
    assert ok(call_api("PATCH", path, headers=admin.headers, body={"slack_channel": None}))["slack_channel"] is None


# -- one message per incident run ------------------------------------------------------------------------------------


def test_an_incident_is_posted_to_its_channel_once_whatever_is_retried(
    stack: Stack, slack: SlackApiServer, admin: Session
) -> None:
    from oncall import wiring

    responder, member = linked_member(slack)
    channel = slack.add_channel("payments-incidents")
    service = service_in(admin, [responder.id], "chan-payments", channel)
    # Slack asks for a short pause first: waited out as for a direct message, then posted
    slack.fail("chat.postMessage", 429, retry_after=0.3, channel=channel)
    incident_id = open_incident(admin.headers, service["id"], title="Payments <!here> declined")["id"]

    posted = wait_until(lambda: pages_of(slack, channel, incident_id), what="the channel message")
    wait_until(lambda: pages_of(slack, slack.dm_of(member), incident_id), what="the DM page")
    assert labels(posted[0]) == ["Acknowledge", "Resolve"]
    assert "Payments <!here> declined" in posted[0]["blocks"][0]["text"]["text"]  # the header, plain text
    assert [c.status for c in slack.of("chat.postMessage") if c.params.get("channel") == channel] == [429, 200]

    # the lifecycle's Page task retried by Step Functions (the same token), and eight more posts at once
    stored = wiring.incidents.incident_store().get(incident_id)
    assert stored is not None and stored.task_token
    state = {"incident_id": incident_id, "generation": stored.generation, "step": 0}
    wiring.incidents.escalation_service().page_level(state, stored.task_token)
    poster = wiring.incidents.incident_channel()
    results: list[str | None] = []
    threads = [threading.Thread(target=lambda: results.append(poster.post(stored, wiring.clock()()))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["duplicate"] * 8
    assert len(pages_of(slack, channel, incident_id)) == 1
    assert [c.status for c in slack.of("chat.postMessage") if c.params.get("channel") == channel] == [429, 200]
    assert channel_lines(admin, incident_id) == [f"Posted to Slack channel {channel}: sent"]
    assert len(pages_of(slack, slack.dm_of(member), incident_id)) == 1


# -- presses in the channel ------------------------------------------------------------------------------------------


def test_acknowledge_in_the_channel_acts_as_the_linked_member_and_rewrites_every_copy(
    stack: Stack, slack: SlackApiServer, admin: Session
) -> None:
    paged, paged_member = linked_member(slack)
    teammate, teammate_member = linked_member(slack)
    channel = slack.add_channel("search-incidents")
    service = service_in(admin, [paged.id], "chan-search", channel)
    incident_id = open_incident(admin.headers, service["id"], title="Search is down")["id"]
    message = wait_until(lambda: pages_of(slack, channel, incident_id), what="the channel message")[0]
    dm = wait_until(lambda: pages_of(slack, slack.dm_of(paged_member), incident_id), what="the DM page")[0]

    # a teammate who was not paged acknowledges from the channel, as themselves
    assert press(slack, teammate_member, channel, message["ts"], "Acknowledge").status == 200
    acknowledged = incident(admin, incident_id)
    assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledged_by"] == teammate.id
    in_channel = slack.message(channel, message["ts"])
    assert in_channel is not None and f"Acknowledged by {teammate.display_name}" in in_channel.text
    assert labels(in_channel) == ["Resolve"]

    # the lifecycle rewrites the paged person's direct message too
    def dm_rewritten() -> bool:
        copy = slack.message(dm["channel"], dm["ts"])
        return copy is not None and f"Acknowledged by {teammate.display_name}" in copy.text

    wait_until(dm_rewritten, what="the DM copy rewritten")

    # resolve from the DM: the channel's message says so and loses its buttons
    assert press(slack, paged_member, dm["channel"], dm["ts"], "Resolve").status == 200
    assert incident(admin, incident_id)["status"] == "resolved"

    def channel_resolved() -> bool:
        copy = slack.message(channel, message["ts"])
        return copy is not None and f"Resolved by {paged.display_name}" in copy.text and not labels(copy)

    wait_until(channel_resolved, what="the channel message rewritten as resolved")


def test_a_press_in_the_channel_by_someone_not_linked_or_not_allowed_changes_nothing(
    stack: Stack, slack: SlackApiServer, admin: Session
) -> None:
    paged, _ = linked_member(slack)
    channel = slack.add_channel("checkout-incidents")
    service = service_in(admin, [paged.id], "chan-checkout", channel)
    incident_id = open_incident(admin.headers, service["id"], title="Checkout slow")["id"]
    message = wait_until(lambda: pages_of(slack, channel, incident_id), what="the channel message")[0]

    outsider = slack.add_user("channel-outsider@example.org")
    assert press(slack, outsider, channel, message["ts"], "Acknowledge").status == 200
    told = [m for m in slack.outbox(channel) if m["ephemeral_to"] == outsider]
    assert told and "not linked" in told[-1]["text"]

    # linked, but a viewer: the incident service's role check refuses, told only to them
    _viewer, viewer_member = linked_member(slack, role=Role.VIEWER)
    assert press(slack, viewer_member, channel, message["ts"], "Resolve").status == 200
    assert [m for m in slack.outbox(channel) if m["ephemeral_to"] == viewer_member]

    assert incident(admin, incident_id)["status"] == "triggered"
    unchanged = slack.message(channel, message["ts"])
    assert unchanged is not None and unchanged.edits == 0 and labels(unchanged) == ["Acknowledge", "Resolve"]


# -- channels Slack refuses --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", ["channel_not_found", "not_in_channel", "is_archived"])
def test_a_channel_slack_refuses_is_recorded_once_and_the_people_are_still_paged(
    stack: Stack, slack: SlackApiServer, admin: Session, refusal: str
) -> None:
    from oncall import wiring

    responder, member = linked_member(slack)
    if refusal == "channel_not_found":
        channel = "C0NOSUCH01"
    else:
        channel = slack.add_channel(refusal, joined=refusal != "not_in_channel", archived=refusal == "is_archived")
    service = service_in(admin, [responder.id], f"chan-{refusal}", channel)
    incident_id = open_incident(admin.headers, service["id"], title=f"Refused: {refusal}")["id"]

    # the person's page goes out as ever
    wait_until(lambda: pages_of(slack, slack.dm_of(member), incident_id), what="the DM page")
    lines = wait_until(lambda: channel_lines(admin, incident_id), what="the channel's timeline line")
    assert lines == [f"Posted to Slack channel {channel}: refused ({refusal})"]
    assert not pages_of(slack, channel, incident_id)

    # refused for good: another attempt (a retried task, the next level) asks Slack nothing
    calls = len(slack.of("chat.postMessage"))
    stored = wiring.incidents.incident_store().get(incident_id)
    assert stored is not None
    assert wiring.incidents.incident_channel().post(stored, wiring.clock()()) == "duplicate"
    assert len(slack.of("chat.postMessage")) == calls
    assert channel_lines(admin, incident_id) == lines
    assert incident(admin, incident_id)["status"] == "triggered"
