"""The Slack app through its real handler (API Gateway v2 events, requests signed as Slack signs them) and the Slack
channel through ``slack_sdk``, against the Slack sandbox on 127.0.0.1 and the emulator running the real lifecycle:
linking by confirmed email, a page as a direct message with both buttons, Acknowledge as the linked person updating
the Slack and the Telegram copies, bad and stale signatures, replays, the slash commands, and Slack's failures
(429 Retry-After, account_inactive) handled by the notification service's rules."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.local.slack.server import SlackApiServer
from infra.local.slack.signing import command_body, interaction_body, signed_headers
from oncall.domain.users import Role
from tests.support.identity import Session, login_as, make_user
from tests.support.incidents import make_policy, ok, open_incident
from tests.support.lambdas import call_api
from tests.support.lifecycle import Stack, lifecycle_stack, wait_until
from tests.support.slack import ENV, TOKEN, command, linked_member, post, press, reply_text, send
from tests.support.telegram import linked_user


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


def service_paging(admin: Session, user_ids: list[str], name: str, timeout: int = 300) -> dict[str, Any]:
    level = {"targets": [{"type": "user", "id": uid} for uid in user_ids], "timeout_seconds": timeout}
    policy = make_policy(admin.headers, [level], name=f"policy {name}")
    body = {"name": name, "escalation_policy_id": policy["id"]}
    return ok(call_api("POST", "/services", headers=admin.headers, body=body), 201)  # type: ignore[no-any-return]


def dm_pages(slack: SlackApiServer, member: str, incident_id: str) -> list[dict[str, Any]]:
    """The app's direct messages to ``member`` that page about ``incident_id`` (its buttons name it)."""
    values = {f"inc:ack:{incident_id}", f"inc:res:{incident_id}"}

    def pages(message: dict[str, Any]) -> bool:
        actions = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
        return not message["ephemeral_to"] and any(e.get("value") in values for e in actions)

    return [m for m in slack.outbox(slack.dm_of(member)) if pages(m)]


def status_of(admin: Session, incident_id: str) -> str:
    return str(ok(call_api("GET", f"/incidents/{incident_id}", headers=admin.headers))["status"])


# -- linking -----------------------------------------------------------------------------------------------------------


def test_link_by_confirmed_email_and_only_then(stack: Stack, slack: SlackApiServer) -> None:
    from oncall import wiring

    user, member = linked_member(slack)
    person = wiring.notifications.notification_service().people.recipient(user.id)
    assert person is not None and person.addresses["slack"] == slack.dm_of(member)
    # the same member again: still linked, and says so
    assert "Linked" in reply_text(command(slack, member, "/oncall", "link"))

    # an email Slack has not confirmed links nobody, even when it matches a person
    make_user(email="unconfirmed@example.org")
    unconfirmed = slack.add_user("unconfirmed@example.org", confirmed=False)
    assert "verified email" in reply_text(command(slack, unconfirmed, "/oncall", "link"))
    # a confirmed email nobody here has
    stranger = slack.add_user("nobody-here@example.org")
    assert "No active OnCall Hub account" in reply_text(command(slack, stranger, "/oncall", "link"))
    # a second Slack member showing the linked person's email cannot take their pages (Slack resolves the address
    # to the first member, so Slack does not vouch for the second)
    twin = slack.add_user(str(user.email))
    assert "Linked" not in reply_text(command(slack, twin, "/oncall", "link"))
    person = wiring.notifications.notification_service().people.recipient(user.id)
    assert person is not None and person.addresses["slack"] == slack.dm_of(member)
    assert "not linked" in reply_text(command(slack, stranger, "/oncall"))

    # unlink: no more Slack address
    assert "Unlinked" in reply_text(command(slack, member, "/oncall", "unlink"))
    person = wiring.notifications.notification_service().people.recipient(user.id)
    assert person is not None and "slack" not in person.addresses


# -- a page, its buttons, and every copy -------------------------------------------------------------------------------


def test_a_page_arrives_as_a_dm_with_both_buttons_and_acknowledge_updates_every_copy(
    stack: Stack, slack: SlackApiServer, admin: Session
) -> None:
    on_slack, member = linked_member(slack)
    on_telegram, chat = linked_user()
    service = service_paging(admin, [on_slack.id, on_telegram.id], "slack-checkout")
    incident_id = open_incident(admin.headers, service["id"], title="Checkout <!channel> 5xx & timeouts")["id"]

    page = wait_until(lambda: dm_pages(slack, member, incident_id), what="the Slack page")[0]
    labels = [e["text"]["text"] for b in page["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Acknowledge", "Resolve"]
    header = page["blocks"][0]
    assert header["type"] == "header" and "Checkout <!channel> 5xx & timeouts" in header["text"]["text"]
    # a title cannot mention everyone: the mrkdwn section carries it escaped
    assert "<!channel>" not in json.dumps([b for b in page["blocks"] if b["type"] == "section"])
    wait_until(lambda: any(incident_id in str(m["text"]) for m in stack.telegram.sent(chat)), what="the Telegram page")

    started = time.monotonic()
    pressed = press(slack, member, page["channel"], page["ts"], "Acknowledge")
    elapsed = time.monotonic() - started
    assert pressed.status == 200, pressed.raw
    # the move and the rewrite of the pressed copy happen before the answer: well inside Slack's 3 seconds
    assert elapsed < 3.0, elapsed
    assert status_of(admin, incident_id) == "acknowledged"
    incident = ok(call_api("GET", f"/incidents/{incident_id}", headers=admin.headers))
    assert incident["acknowledged_by"] == on_slack.id
    updated = slack.message(page["channel"], page["ts"])
    assert updated is not None and f"Acknowledged by {on_slack.display_name}" in updated.text
    # after an acknowledgement only Resolve is left on the pressed copy
    assert [e["text"]["text"] for b in updated.blocks if b["type"] == "actions" for e in b["elements"]] == ["Resolve"]

    # the lifecycle rewrites the Telegram copy too
    def telegram_copy_updated() -> bool:
        return any(
            incident_id in str(m["text"]) and f"Acknowledged by {on_slack.display_name}" in str(m["text"])
            for m in stack.telegram.messages.values()
        )

    wait_until(telegram_copy_updated, what="the Telegram copy rewritten")

    # Resolve on Slack: the incident resolves, the buttons go
    assert press(slack, member, page["channel"], page["ts"], "Resolve").status == 200
    assert status_of(admin, incident_id) == "resolved"
    after = slack.message(page["channel"], page["ts"])
    assert after is not None and "Resolved by" in after.text and not [b for b in after.blocks if b["type"] == "actions"]


def test_a_telegram_acknowledgement_updates_the_slack_copy(stack: Stack, slack: SlackApiServer, admin: Session) -> None:
    from tests.support.telegram import callback_update, post_update

    on_slack, member = linked_member(slack)
    on_telegram, chat = linked_user()
    service = service_paging(admin, [on_slack.id, on_telegram.id], "slack-search")
    incident_id = open_incident(admin.headers, service["id"], title="Search latency")["id"]
    page = wait_until(lambda: dm_pages(slack, member, incident_id), what="the Slack page")[0]
    key = wait_until(
        lambda: next((k for k, m in stack.telegram.messages.items() if incident_id in str(m["text"])), None),
        what="the Telegram page",
    )
    update = callback_update(chat, f"inc:ack:{incident_id}", stack.telegram.messages[key])
    assert post_update(update).status == 200

    def slack_copy_updated() -> bool:
        message = slack.message(page["channel"], page["ts"])
        return message is not None and f"Acknowledged by {on_telegram.display_name}" in message.text

    wait_until(slack_copy_updated, what="the Slack copy rewritten by the lifecycle")


def test_bad_stale_or_missing_signatures_are_401_and_change_nothing(
    stack: Stack, slack: SlackApiServer, admin: Session
) -> None:
    on_slack, member = linked_member(slack)
    service = service_paging(admin, [on_slack.id], "slack-signatures")
    incident_id = open_incident(admin.headers, service["id"], title="Signature check")["id"]
    page = wait_until(lambda: dm_pages(slack, member, incident_id), what="the Slack page")[0]
    body = interaction_body(slack.press_payload(member, page["channel"], page["ts"], "Acknowledge"))
    calls_before = len(slack.calls)
    path = "/integrations/slack/interactions"

    forged = post(path, body, secret="not-the-signing-secret")
    stale = post(path, body, timestamp=int(time.time()) - 6 * 60)
    future = post(path, body, timestamp=int(time.time()) + 6 * 60)
    tampered_headers = signed_headers(ENV["SLACK_SIGNING_SECRET"], body, int(time.time()))
    tampered = send(path, body.replace("ack", "res"), tampered_headers)
    missing = send(path, body, {"content-type": "application/x-www-form-urlencoded"})
    garbage_ts = send(path, body, {**tampered_headers, "x-slack-request-timestamp": "soon"})
    for result in (forged, stale, future, tampered, missing, garbage_ts):
        assert result.status == 401, result.raw
        assert result.json["error"]["code"] == "unauthorized"
    assert status_of(admin, incident_id) == "triggered"
    assert len(slack.calls) == calls_before  # nothing was said to Slack either
    # the same request correctly signed still works
    assert post(path, body).status == 200
    assert status_of(admin, incident_id) == "acknowledged"


def test_a_replayed_interaction_is_a_no_op(stack: Stack, slack: SlackApiServer, admin: Session) -> None:
    on_slack, member = linked_member(slack)
    service = service_paging(admin, [on_slack.id], "slack-replay")
    incident_id = open_incident(admin.headers, service["id"], title="Replay check")["id"]
    page = wait_until(lambda: dm_pages(slack, member, incident_id), what="the Slack page")[0]
    body = interaction_body(slack.press_payload(member, page["channel"], page["ts"], "Acknowledge"))
    headers = signed_headers(ENV["SLACK_SIGNING_SECRET"], body, int(time.time()))
    assert send("/integrations/slack/interactions", body, headers).status == 200

    def edits() -> int:
        message = slack.message(page["channel"], page["ts"])
        return message.edits if message is not None else 0

    # the press rewrote the message, then the lifecycle rewrote every copy (this one too): let both land
    wait_until(lambda: edits() >= 2, what="the lifecycle's rewrite")
    timeline = ok(call_api("GET", f"/incidents/{incident_id}/timeline", headers=admin.headers))
    calls = len(slack.calls)

    # the captured request sent again, within its 5 minutes: 200 (Slack must not retry) and nothing happens
    assert send("/integrations/slack/interactions", body, headers).status == 200
    assert ok(call_api("GET", f"/incidents/{incident_id}/timeline", headers=admin.headers)) == timeline
    assert edits() == 2
    assert len(slack.calls) == calls
    # a replayed /incident opens nothing twice either
    form = command_body(slack.command_form(member, "/incident", "slack-replay: Replayed outage"))
    headers = signed_headers(ENV["SLACK_SIGNING_SECRET"], form, int(time.time()))
    first = send("/integrations/slack/commands", form, headers)
    again = send("/integrations/slack/commands", form, headers)
    assert "Opened incident" in first.json["text"] and again.status == 200 and again.raw == b""
    listed = ok(call_api("GET", f"/incidents?service_id={service['id']}", headers=admin.headers))
    assert sum(1 for i in listed["items"] if i["title"] == "Replayed outage") == 1


def test_a_person_not_linked_cannot_press_and_the_incident_stays(
    stack: Stack, slack: SlackApiServer, admin: Session
) -> None:
    on_slack, member = linked_member(slack)
    service = service_paging(admin, [on_slack.id], "slack-outsider")
    incident_id = open_incident(admin.headers, service["id"], title="Outsider check")["id"]
    page = wait_until(lambda: dm_pages(slack, member, incident_id), what="the Slack page")[0]
    outsider = slack.add_user("outsider@example.org")
    assert press(slack, outsider, page["channel"], page["ts"], "Acknowledge").status == 200
    assert status_of(admin, incident_id) == "triggered"
    told = [m for m in slack.outbox(page["channel"]) if m["ephemeral_to"] == outsider]
    assert told and "not linked" in told[-1]["text"]
    # a viewer is linked but may not act: the incident service's role check answers
    _viewer, viewer_member = linked_member(slack, role=Role.VIEWER)
    body = interaction_body(slack.press_payload(viewer_member, page["channel"], page["ts"], "Acknowledge"))
    assert post("/integrations/slack/interactions", body).status == 200
    assert status_of(admin, incident_id) == "triggered"


# -- slash commands and the events URL ---------------------------------------------------------------------------------


def test_oncall_says_who_is_on_call_and_my_next_shifts(stack: Stack, slack: SlackApiServer, admin: Session) -> None:
    from oncall import wiring

    asker, member = linked_member(slack)
    holder = make_user()
    schedules = wiring.core.schedule_service()
    schedule = schedules.create_schedule(admin.user, name="Slack primary", timezone="UTC")
    now = datetime.now(UTC).replace(microsecond=0)
    schedules.put_on_duty(
        admin.user,
        schedule_id=schedule.id,
        user_id=holder.id,
        start=now - timedelta(hours=1),
        end=now + timedelta(hours=7),
    )
    later = (now + timedelta(days=2)).replace(hour=9, minute=0, second=0)
    schedules.put_on_duty(
        admin.user, schedule_id=schedule.id, user_id=asker.id, start=later, end=later + timedelta(hours=8)
    )
    text = reply_text(command(slack, member, "/oncall"))
    assert "On call now" in text and "Slack primary" in text and holder.display_name in text
    named = reply_text(command(slack, member, "/oncall", "slack PRIMARY"))
    assert "Slack primary" in named and holder.display_name in named
    assert "Nobody is on call" in reply_text(command(slack, member, "/oncall", "no such schedule"))
    shifts = reply_text(command(slack, member, "/oncall", "shifts"))
    assert "Slack primary" in shifts and "09:00" in shifts
    assert "/incident" in reply_text(command(slack, member, "/oncall", "help"))


def test_incident_opens_an_incident_by_hand(stack: Stack, slack: SlackApiServer, admin: Session) -> None:
    on_slack, member = linked_member(slack)
    service = service_paging(admin, [on_slack.id], "slack-manual")
    assert "title" in reply_text(command(slack, member, "/incident", ""))
    text = reply_text(command(slack, member, "/incident", "slack-manual: Database failover"))
    assert "Opened incident" in text and "slack-manual" in text
    listed = ok(call_api("GET", f"/incidents?service_id={service['id']}", headers=admin.headers))
    (incident,) = [i for i in listed["items"] if i["title"] == "Database failover"]
    assert incident["created_by"] == on_slack.id
    # several services and none named: the reply lists them instead of guessing
    assert "Which service?" in reply_text(command(slack, member, "/incident", "Something broke"))


def test_events_url_answers_slacks_challenge_and_bad_bodies_are_400(stack: Stack) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    result = post("/integrations/slack/events", body)
    assert result.status == 200 and result.json == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert post("/integrations/slack/events", "not json").status == 400
    bad = post("/integrations/slack/interactions", "payload=%7Bnot-json")
    assert bad.status == 400 and bad.json["error"]["details"]["field"] == "payload"


# -- Slack's failures, through the notification service ---------------------------------------------------------------


def test_429_retry_after_is_honoured_and_a_gone_account_falls_back(
    stack: Stack, slack: SlackApiServer, admin: Session
) -> None:
    from oncall import wiring
    from oncall.domain.notifications import Kind, Message

    notifier = wiring.notifications.notification_service()
    user, member = linked_member(slack)
    slack.fail("chat.postMessage", 429, retry_after=0.3, channel=slack.dm_of(member))
    started = time.monotonic()
    delivery = notifier.notify(user.id, Message(Kind.INFO, f"k-{time.monotonic_ns()}", "hello"), wiring.clock()())
    assert delivery.status == "sent" and delivery.channel == "slack"
    assert time.monotonic() - started >= 0.3  # waited as Slack asked, then sent
    mine = [c.status for c in slack.of("chat.postMessage") if c.params.get("channel") == slack.dm_of(member)]
    assert mine == [429, 200]

    # a long Retry-After is not waited out in-process: reported for the caller to retry (pages are queued)
    slack.fail("chat.postMessage", 429, retry_after=30, channel=slack.dm_of(member))
    delivery = notifier.notify(user.id, Message(Kind.INFO, f"k-{time.monotonic_ns()}", "later"), wiring.clock()())
    assert delivery.status == "rate_limited"

    # the member left the workspace: the attempt is recorded, the person flagged on Slack, and the message goes
    # to their next channel by their rules (Telegram) at once
    email = f"left-{time.monotonic_ns()}@example.org"
    both_user, chat = linked_user(email=email)
    both_member = slack.add_user(email)
    assert "Linked" in reply_text(command(slack, both_member, "/oncall", "link"))
    rules = {"rules": {"info": ["slack", "telegram"]}}
    assert call_api("PUT", "/me/notification-rules", headers=_session(both_user).headers, body=rules).status == 200
    slack.deactivate(both_member)
    delivery = notifier.notify(both_user.id, Message(Kind.INFO, f"k-{time.monotonic_ns()}", "gone"), wiring.clock()())
    assert (delivery.status, delivery.channel) == ("sent", "telegram")
    assert slack.of("chat.postMessage")[-1].status == 200  # Slack answered ok: false, account_inactive
    recipient = notifier.people.recipient(both_user.id)
    assert recipient is not None and "slack" in recipient.flagged
    assert any("gone" in str(m["text"]) for m in stack.telegram.sent(chat))
    # Slack failing (5xx after the client's retries, or a conversation that is gone) hands the message on at once
    slack.members[both_member].active = True
    assert "Linked" in reply_text(command(slack, both_member, "/oncall", "link"))
    dm = slack.dm_of(both_member)
    slack.fail("chat.postMessage", 500, times=3, channel=dm)
    delivery = notifier.notify(both_user.id, Message(Kind.INFO, f"k-{time.monotonic_ns()}", "5xx"), wiring.clock()())
    assert (delivery.status, delivery.channel) == ("sent", "telegram")
    assert [c.status for c in slack.of("chat.postMessage") if c.params.get("channel") == dm][-3:] == [500, 500, 500]
    slack.fail("chat.postMessage", 200, error="channel_not_found", channel=dm)
    delivery = notifier.notify(both_user.id, Message(Kind.INFO, f"k-{time.monotonic_ns()}", "gone2"), wiring.clock()())
    assert (delivery.status, delivery.channel) == ("sent", "telegram")
    recipient = notifier.people.recipient(both_user.id)
    assert recipient is not None and "slack" in recipient.flagged

    # linking again lifts the flag
    slack.members[both_member].active = True
    assert "Linked" in reply_text(command(slack, both_member, "/oncall", "link"))
    recipient = notifier.people.recipient(both_user.id)
    assert recipient is not None and "slack" not in recipient.flagged


def _session(user: Any) -> Session:
    from oncall import wiring
    from tests.support.identity import PASSWORD

    pair = wiring.core.auth_service().login(user.username, PASSWORD, "127.0.0.1")
    return Session(user=user, access_token=pair.access_token, refresh_token=pair.refresh_token)
