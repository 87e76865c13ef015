"""Slack's shapes (pure) and the signature check: Block Kit within Slack's limits and escaped, presses and commands
read back, and a signature that is wrong, stale or malformed refused; the app manifest names the topology's routes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from infra.local.slack.signing import signed_headers
from infra.topology import ROOT, TOPOLOGY
from oncall.adapters.slack import verify_request
from oncall.domain.notifications import Button, Kind, Message, digest
from oncall.domain.slack import blocks, buttons_of, escape, parse_command, parse_press, split_incident

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def test_text_is_escaped_so_nobody_is_mentioned_or_linked_by_a_title() -> None:
    assert escape("<!channel> & <http://evil|ok>") == "&lt;!channel&gt; &amp; &lt;http://evil|ok&gt;"
    (section,) = blocks("Disk full <!here>")
    assert section["text"]["text"] == "Disk full &lt;!here&gt;"


def test_buttons_keep_the_callback_data_and_read_back() -> None:
    rows = ((Button("Acknowledge", "inc:ack:01abc"), Button("Resolve", "inc:res:01abc")),)
    out = blocks("page", rows)
    actions = [b for b in out if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == ["inc:ack:01abc", "inc:res:01abc"]
    assert [e.get("style") for e in actions[0]["elements"]] == ["primary", "danger"]
    assert buttons_of({"blocks": out}) == rows


def test_a_full_digest_fits_slacks_limits() -> None:
    messages = [
        Message(
            Kind.PAGE, f"k{i}", f"Incident number {i} " + "x" * 300, ((Button("Acknowledge", f"inc:ack:{i:026d}"),),)
        )
        for i in range(20)
    ]
    out = blocks(digest(messages).text, digest(messages).buttons)
    assert len(out) <= 50
    assert all(len(b["elements"]) <= 25 for b in out if b["type"] == "actions")
    assert all(len(b["text"]["text"]) <= 3000 for b in out if b["type"] == "section")


def test_presses_and_commands_are_read_or_refused() -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "container": {"channel_id": "D1", "message_ts": "1.2"},
        "message": {"ts": "1.2", "blocks": []},
        "actions": [{"action_id": "inc:ack:x", "value": "inc:ack:x"}],
    }
    press = parse_press(payload)
    assert press is not None and (press.slack_user, press.value, press.channel, press.ts) == (
        "U1",
        "inc:ack:x",
        "D1",
        "1.2",
    )
    for bad in ({}, {**payload, "type": "view_submission"}, {**payload, "actions": []}, {**payload, "user": "U1"}):
        assert parse_press(bad) is None
    command = parse_command({"command": ["/OnCall"], "text": [" shifts "], "user_id": ["U1"]})
    assert command is not None and (command.name, command.text) == ("/oncall", "shifts")
    assert parse_command({"command": ["oncall"], "user_id": ["U1"]}) is None
    assert split_incident("db: replica lag") == ("db", "replica lag")
    assert split_incident("replica lag") == (None, "replica lag")


def test_a_signature_must_be_right_fresh_and_well_formed() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    body = "token=x&command=%2Foncall"

    ts = int(now.timestamp())
    assert verify_request(SECRET, body, signed_headers(SECRET, body, ts), lambda: now)
    assert not verify_request(SECRET, body + "&text=link", signed_headers(SECRET, body, ts), lambda: now)
    assert not verify_request("another-secret", body, signed_headers(SECRET, body, ts), lambda: now)
    assert not verify_request("", body, signed_headers("", body, ts), lambda: now)
    assert not verify_request(SECRET, body, signed_headers(SECRET, body, ts), lambda: now + timedelta(minutes=6))
    assert verify_request(SECRET, body, signed_headers(SECRET, body, ts), lambda: now + timedelta(minutes=4))
    for bad in ("", "abc", "-5", "1e9", "١٢٣"):
        headers = {**signed_headers(SECRET, body, ts), "x-slack-request-timestamp": bad}
        assert not verify_request(SECRET, body, headers, lambda: now)
    assert not verify_request(SECRET, body, {}, lambda: now)


def test_the_manifest_names_the_routes_the_topology_declares() -> None:
    manifest = json.loads((ROOT / "infra" / "slack-app-manifest.json").read_text())
    urls = {c["url"] for c in manifest["features"]["slash_commands"]}
    urls |= {
        manifest["settings"]["interactivity"]["request_url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
    }
    paths = {u.removeprefix("https://API_HOST") for u in urls}
    routed = {r.path for r in TOPOLOGY.routes if r.function == "slack"}
    assert paths == routed == {f"/integrations/slack/{p}" for p in ("commands", "interactions", "events")}
    assert {"chat:write", "im:write", "commands", "users:read.email"} <= set(manifest["oauth_config"]["scopes"]["bot"])
