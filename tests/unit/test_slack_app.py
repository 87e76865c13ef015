"""The Slack app over in-memory fakes of its ports: a press on a digest changes only the pressed incident's buttons
and adds its line; a press by nobody linked or on an unknown button changes nothing and says so to the presser only;
a replayed signature is handled once; commands refuse what they cannot do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from oncall.domain.notifications import Button, Kind, Message, digest
from oncall.domain.slack import blocks, buttons_of
from oncall.domain.users import Role, User
from oncall.services.slack_app import SlackApp
from oncall.services.telegram_bot import CallbackOutcome

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class FakeApi:
    updates: list[tuple[str, str, str, list[Any]]] = field(default_factory=list)
    ephemeral: list[tuple[str, str, str]] = field(default_factory=list)

    def update_message(self, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None:
        self.updates.append((channel, ts, text, list(blocks)))

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self.ephemeral.append((channel, user, text))

    info: dict[str, dict[str, Any]] = field(default_factory=dict)
    owners: dict[str, dict[str, Any]] = field(default_factory=dict)

    def user_info(self, user: str) -> dict[str, Any]:
        return self.info.get(user, {})

    def lookup_by_email(self, email: str) -> dict[str, Any]:
        return self.owners.get(email, {})

    def open_dm(self, user: str) -> str:
        return "D" + user[1:]


@dataclass
class FakeLinks:
    people: dict[str, str] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def person_of(self, slack_user: str) -> str | None:
        return self.people.get(slack_user)

    def link(self, user_id: str, slack_user: str, conversation: str, now: datetime) -> bool:
        self.people[slack_user] = user_id
        return True

    def unlink(self, user_id: str, slack_user: str) -> bool:
        return self.people.pop(slack_user, None) == user_id

    def first_time(self, signature: str, now: datetime) -> bool:
        if signature in self.seen:
            return False
        self.seen.add(signature)
        return True


class NoDuty:
    def on_call_now(self, asker: User, now: datetime) -> list[Any]:
        return []

    def next_shifts(self, user_id: str, now: datetime, limit: int) -> list[Any]:
        return []


class NoOpener:
    def services_for(self, actor: User) -> list[Any]:
        return []

    def open(self, actor: User, service_id: str, title: str) -> Any:
        raise AssertionError("nothing may be opened")


ADA = User(id="u1", username="ada", role=Role.RESPONDER, display_name="Ada", created_at=NOW, updated_at=NOW)


def app(presses: list[tuple[str, str]]) -> tuple[SlackApp, FakeApi, FakeLinks]:
    def acknowledge(user: User, action: str, ident: str, now: datetime) -> CallbackOutcome:
        presses.append((action, ident))
        keep = (Button("Resolve", f"inc:res:{ident}"),)
        return CallbackOutcome(
            toast="Acknowledged.", new_text="ack", buttons=(keep,), line=f"Acknowledged by Ada: {ident}"
        )

    api, links = FakeApi(), FakeLinks({"U1": "u1"})

    class People:
        def get(self, user_id: str) -> User | None:
            return ADA if user_id == "u1" else None

        def by_email(self, email: str) -> list[User]:
            return []

    class Flags:
        def unflag(self, user_id: str, channel: str) -> None:
            return None

    service = SlackApp(api, links, People(), Flags(), NoDuty(), NoOpener(), lambda: {"inc": acknowledge})
    return service, api, links


def press_payload(user: str, message: dict[str, Any], value: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user},
        "container": {"channel_id": "D1", "message_ts": "1.1"},
        "message": message,
        "actions": [{"action_id": value, "value": value}],
    }


def test_a_press_on_a_digest_changes_only_that_incident() -> None:
    pages = [
        Message(
            Kind.PAGE,
            f"k{i}",
            f"Incident {i}",
            ((Button("Acknowledge", f"inc:ack:i{i}"), Button("Resolve", f"inc:res:i{i}")),),
        )
        for i in (1, 2)
    ]
    combined = digest(pages)
    message = {"text": combined.text, "blocks": blocks(combined.text, combined.buttons)}
    presses: list[tuple[str, str]] = []
    service, api, _ = app(presses)
    assert service.interaction(press_payload("U1", message, "inc:ack:i1"), "sig-1", NOW) == "handled"
    assert presses == [("ack", "i1")]
    ((channel, ts, text, new_blocks),) = api.updates
    assert (channel, ts) == ("D1", "1.1") and "Acknowledged by Ada: i1" in text and "Incident 2" in text
    values = [b.callback_data for row in buttons_of({"blocks": new_blocks}) for b in row]
    assert values == ["inc:res:i1", "inc:ack:i2", "inc:res:i2"]
    # the same signed request again: nothing
    assert service.interaction(press_payload("U1", message, "inc:ack:i1"), "sig-1", NOW) == "duplicate"
    assert presses == [("ack", "i1")] and len(api.updates) == 1


def test_presses_that_cannot_act_say_so_only_to_the_presser() -> None:
    presses: list[tuple[str, str]] = []
    service, api, _ = app(presses)
    message = {"text": "page", "blocks": []}
    assert service.interaction(press_payload("U9", message, "inc:ack:i1"), "sig-a", NOW) == "refused"
    assert service.interaction(press_payload("U1", message, "nosuch:ack:i1"), "sig-b", NOW) == "refused"
    assert service.interaction(press_payload("U1", message, "not callback data"), "sig-c", NOW) == "refused"
    assert service.interaction({"type": "view_submission"}, "sig-d", NOW) == "ignored"
    assert presses == [] and api.updates == []
    assert [u for _, u, _ in api.ephemeral] == ["U9", "U1", "U1"]


def test_commands_need_a_link_and_refuse_what_they_cannot_do() -> None:
    service, _, _ = app([])

    def form(user: str, command: str, text: str = "") -> dict[str, list[str]]:
        return {"command": [command], "text": [text], "user_id": [user]}

    assert "not linked" in str(service.command(form("U9", "/oncall"), "s1", NOW))
    assert "Nobody is on call" in str(service.command(form("U1", "/oncall"), "s2", NOW))
    assert "no shifts" in str(service.command(form("U1", "/oncall", "shifts"), "s3", NOW))
    assert "may not open incidents" in str(service.command(form("U1", "/incident", "Disk full"), "s4", NOW))
    assert "title" in str(service.command(form("U1", "/incident", "  "), "s5", NOW))
    assert service.command(form("U1", "/oncall"), "s2", NOW) is None  # replayed
    assert "verified email" in str(service.command(form("U1", "/oncall", "link"), "s6", NOW))


def test_a_link_is_refused_when_the_email_resolves_to_another_member_or_to_nobody_here() -> None:
    service, api, links = app([])
    api.info = {"U2": {"profile": {"email": "ada@example.org"}}, "U3": {"profile": {"email": "ada@example.org"}}}
    api.owners = {"ada@example.org": {"id": "U2"}}

    def form(user: str) -> dict[str, list[str]]:
        return {"command": ["/oncall"], "text": ["link"], "user_id": [user]}

    # U3 shows Ada's address, but Slack resolves it to U2: refused before anyone is looked up
    assert "verified email" in str(service.command(form("U3"), "l1", NOW))
    # U2 is who Slack says, but nobody here has that email
    assert "No active OnCall Hub account" in str(service.command(form("U2"), "l2", NOW))
    assert "U2" not in links.people and "U3" not in links.people
    assert SlackApp.event({"type": "url_verification", "challenge": "abc"}) == {"challenge": "abc"}
    assert SlackApp.event({"type": "event_callback"}) == {}
