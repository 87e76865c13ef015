"""The one fake Slack Web API: the runner's sandbox, and every test's Slack.

It answers the Web API subset the product uses the way Slack does (``{"ok": true, ...}`` or ``{"ok": false, "error":
"<code>"}``; 429 with ``Retry-After`` when rate limited): ``auth.test``, ``users.info``, ``users.lookupByEmail``,
``conversations.open``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``. A wrong bot token is
``invalid_auth``. Its workspace holds members (``add_user``: id, name, email, whether Slack confirmed it, active),
channels (``add_channel``: whether the app was invited, whether it is archived) and the conversations the app wrote
in, with every message (``outbox``), so an edit replaces what was posted and a button press can be built from the
message as stored. A post to a channel answers as Slack does: ``channel_not_found`` for a channel the workspace does
not have, ``not_in_channel`` when the app was not invited, ``is_archived``.

- every call is recorded in order with its parameters and status (``calls``, ``of(method)``);
- it can be told to fail like Slack does: ``fail(method, 429, retry_after=1)``, ``fail(method, 500, times=2)``,
  ``fail(method, 200, error="channel_not_found")``; ``deactivate(user)`` makes that member's conversations answer
  ``account_inactive``.

Served by the runner at ``<runner>/_local/slack/api/<method>`` (see ``infra.local.control``) or on a port of its own
(``server.SlackApiServer``, which the functional tests use as Slack).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

Reply = tuple[int, list[tuple[str, str]], bytes]

#: Slack's limits the sandbox holds the product to: a message's top-level text, and blocks per message
TEXT_MAX = 40_000
BLOCKS_MAX = 50


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    status: int
    at: float


@dataclass
class Member:
    id: str
    name: str
    email: str
    confirmed: bool = True
    active: bool = True


@dataclass
class Posted:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    #: the member the conversation is with (direct messages), for presses
    user: str | None
    edits: int = 0
    ephemeral_to: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
            "user": self.user,
            "edits": self.edits,
            "ephemeral_to": self.ephemeral_to,
        }


@dataclass
class Room:
    """A channel of the workspace (``C…``): the app posts there only once invited, and never once archived."""

    id: str
    name: str
    joined: bool = True
    archived: bool = False


@dataclass
class _Failure:
    status: int
    error: str
    retry_after: float | None
    times: int
    channel: str | None = None


class SlackSandbox:
    def __init__(self, token: str, team: str = "T0SANDBOX", *, lenient: bool = False) -> None:
        self.token = token
        self.team = team
        #: the runner's leniency: a direct-message conversation it never opened is accepted (as a member of its own),
        #: so people linked before a restart keep getting pages although the sandbox's memory is gone; so is a channel
        #: id it has not seen (as a channel the app was invited to), so a service's channel works without set-up
        self.lenient = lenient
        self.calls: list[Call] = []
        self.members: dict[str, Member] = {}
        self.messages: list[Posted] = []
        self.channels: dict[str, Room] = {}
        self._dms: dict[str, str] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._lock = threading.RLock()

    # -- the workspace -----------------------------------------------------------------------------------------------

    def add_user(self, email: str, name: str = "", *, confirmed: bool = True, user_id: str | None = None) -> str:
        with self._lock:
            member_id = user_id or f"U{next(self._ids):08d}"
            self.members[member_id] = Member(member_id, name or email.split("@")[0], email, confirmed)
            return member_id

    def add_channel(
        self, name: str = "", *, joined: bool = True, archived: bool = False, channel_id: str | None = None
    ) -> str:
        """A channel; ``joined``: the app was invited (``/invite @OnCall Hub``)."""
        with self._lock:
            room_id = channel_id or f"C{next(self._ids):08d}"
            self.channels[room_id] = Room(room_id, name or room_id.lower(), joined, archived)
            return room_id

    def deactivate(self, user_id: str) -> None:
        with self._lock:
            self.members[user_id].active = False

    def fail(
        self,
        method: str,
        status: int,
        *,
        error: str = "",
        retry_after: float | None = None,
        times: int = 1,
        channel: str | None = None,
    ) -> None:
        """Plan ``times`` failures of ``method`` (only for calls naming ``channel``, when given)."""
        code = error or {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}.get(status, "fatal")
        with self._lock:
            self._failures.setdefault(method, []).append(_Failure(status, code, retry_after, times, channel))

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    # -- what was sent -----------------------------------------------------------------------------------------------

    def of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def outbox(self, channel: str | None = None, after: int = 0) -> list[dict[str, Any]]:
        """Messages in the order they were first posted (edits replace them in place), from index ``after``."""
        with self._lock:
            found = [m.as_dict() | {"index": i} for i, m in enumerate(self.messages)]
        return [m for m in found[after:] if channel is None or m["channel"] == channel]

    def message(self, channel: str, ts: str) -> Posted | None:
        with self._lock:
            return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)

    def dm_of(self, user_id: str) -> str | None:
        with self._lock:
            return self._dms.get(user_id)

    # -- the Web API -------------------------------------------------------------------------------------------------

    def handle(self, method: str, headers: dict[str, str], body: bytes) -> Reply:
        """One Web API call: ``method`` (``chat.postMessage``), the request's headers (lower-case) and body (JSON or
        form fields, as Slack accepts)."""
        params = _params(headers.get("content-type", ""), body)
        with self._lock:
            status, reply, extra = self._call(method, headers.get("authorization", ""), params)
            self.calls.append(Call(method, params, status, time.monotonic()))
        head = [("content-type", "application/json; charset=utf-8"), *extra]
        return status, head, json.dumps(reply).encode()

    def _call(self, method: str, auth: str, params: dict[str, Any]) -> tuple[int, dict[str, Any], list[Any]]:
        if auth != f"Bearer {self.token}":
            return 200, {"ok": False, "error": "invalid_auth"}, []
        planned = [f for f in self._failures.get(method, ()) if f.channel in (None, params.get("channel"))]
        if planned:
            failure = planned[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures[method].remove(failure)
            extra = [("retry-after", f"{failure.retry_after:g}")] if failure.retry_after is not None else []
            return failure.status, {"ok": False, "error": failure.error}, extra
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method"}, []
        try:
            result: dict[str, Any] = handler(params)
        except _Refused as exc:
            return 200, {"ok": False, "error": exc.code}, []
        return 200, {"ok": True, **result}, []

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"team_id": self.team, "user_id": "UBOT", "bot_id": "BSANDBOX"}

    def _member(self, user_id: Any) -> Member:
        member = self.members.get(str(user_id or ""))
        if member is None:
            raise _Refused("user_not_found")
        return member

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        member = self._member(params.get("user"))
        return {"user": _user_object(member, self.team)}

    def _users_lookupByEmail(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").lower()
        member = next((m for m in self.members.values() if m.email.lower() == email), None)
        if member is None:
            raise _Refused("users_not_found")
        return {"user": _user_object(member, self.team)}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        member = self._member(params.get("users"))
        if not member.active:
            raise _Refused("account_inactive")
        channel = self._dms.setdefault(member.id, "D" + member.id[1:])
        return {"channel": {"id": channel}}

    def _conversation(self, channel: Any) -> str | None:
        """The member a conversation is with (None for a channel); ``channel_not_found`` for one the app never opened
        and a channel the workspace does not have, ``not_in_channel`` and ``is_archived`` as Slack answers them."""
        if str(channel).startswith(("C", "G")):
            room = self.channels.get(str(channel))
            if room is None and self.lenient and len(str(channel)) > 1:
                room = self.channels.setdefault(str(channel), Room(str(channel), str(channel).lower()))
            if room is None:
                raise _Refused("channel_not_found")
            if room.archived:
                raise _Refused("is_archived")
            if not room.joined:
                raise _Refused("not_in_channel")
            return None
        who = next((u for u, d in self._dms.items() if d == channel), None)
        if who is None and self.lenient and str(channel).startswith("D") and len(str(channel)) > 1:
            who = "U" + str(channel)[1:]
            self.members.setdefault(who, Member(who, who.lower(), f"{who.lower()}@sandbox.invalid"))
            self._dms[who] = str(channel)
        if who is None:
            raise _Refused("channel_not_found")
        if not self.members[who].active:
            raise _Refused("account_inactive")
        return who

    def _checked(self, params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
        text = str(params.get("text") or "")
        blocks = params.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not text and not blocks:
            raise _Refused("no_text")
        if len(text) > TEXT_MAX:
            raise _Refused("msg_too_long")
        if not isinstance(blocks, list) or len(blocks) > BLOCKS_MAX or not all(_valid_block(b) for b in blocks):
            raise _Refused("invalid_blocks")
        return text, blocks

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        who = self._conversation(channel)
        text, blocks = self._checked(params)
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        self.messages.append(Posted(channel, ts, text, blocks, who))
        return {"channel": channel, "ts": ts, "message": {"text": text, "blocks": blocks, "ts": ts}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(params.get("channel") or ""), str(params.get("ts") or "")
        self._conversation(channel)
        posted = self.message(channel, ts)
        if posted is None:
            raise _Refused("message_not_found")
        text, blocks = self._checked(params)
        posted.history.append({"text": posted.text, "blocks": posted.blocks})
        posted.text, posted.blocks, posted.edits = text, blocks, posted.edits + 1
        return {"channel": channel, "ts": ts, "text": text}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, user = str(params.get("channel") or ""), str(params.get("user") or "")
        self._conversation(channel)
        self._member(user)
        text, blocks = self._checked(params)
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        self.messages.append(Posted(channel, ts, text, blocks, user, ephemeral_to=user))
        return {"message_ts": ts}

    # -- acting as a member ------------------------------------------------------------------------------------------

    def press_payload(self, user_id: str, channel: str, ts: str, label_or_value: str) -> dict[str, Any]:
        """The ``block_actions`` payload Slack posts when ``user_id`` presses the button of that message labelled
        (or valued) ``label_or_value``; LookupError when the message has no such button."""
        posted = self.message(channel, ts)
        if posted is None:
            raise LookupError(f"no message {channel}/{ts}")
        for block in posted.blocks:
            for element in block.get("elements") or () if block.get("type") == "actions" else ():
                if label_or_value in (element.get("text", {}).get("text"), element.get("value")):
                    return {
                        "type": "block_actions",
                        "team": {"id": self.team},
                        "user": {"id": user_id, "team_id": self.team},
                        "api_app_id": "ASANDBOX",
                        "trigger_id": f"{next(self._ids)}.{int(time.time())}",
                        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
                        "channel": {"id": channel},
                        "message": {"ts": ts, "text": posted.text, "blocks": posted.blocks, "type": "message"},
                        "actions": [
                            {
                                "type": "button",
                                "action_id": element.get("action_id"),
                                "block_id": block.get("block_id", ""),
                                "value": element.get("value"),
                                "text": element.get("text"),
                                "action_ts": f"{time.time():.6f}",
                            }
                        ],
                    }
        raise LookupError(f"no button {label_or_value!r} on {channel}/{ts}")

    def command_form(self, user_id: str, command: str, text: str = "") -> dict[str, str]:
        """The form fields Slack posts for a slash command run by ``user_id``."""
        member = self._member(user_id)
        return {
            "token": "deprecated-verification-token",
            "team_id": self.team,
            "channel_id": self._dms.get(user_id, "C0SANDBOX"),
            "user_id": member.id,
            "user_name": member.name,
            "command": command,
            "text": text,
            "api_app_id": "ASANDBOX",
            "response_url": "https://hooks.slack.invalid/commands/sandbox",
            "trigger_id": f"{next(self._ids)}.{int(time.time())}",
        }


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _user_object(member: Member, team: str) -> dict[str, Any]:
    return {
        "id": member.id,
        "team_id": team,
        "name": member.name,
        "deleted": not member.active,
        "is_bot": False,
        "is_email_confirmed": member.confirmed,
        "profile": {"email": member.email, "real_name": member.name, "display_name": member.name},
    }


def _valid_block(block: Any) -> bool:
    """What Slack refuses as ``invalid_blocks``: an unknown type, a text over its limit, a button without an id."""
    if not isinstance(block, dict):
        return False
    kind = block.get("type")
    if kind == "header":
        return len(str(block.get("text", {}).get("text", ""))) <= 150
    if kind == "section":
        return 0 < len(str(block.get("text", {}).get("text", ""))) <= 3000
    if kind == "actions":
        elements = block.get("elements") or []
        ids = [e.get("action_id") for e in elements if isinstance(e, dict)]
        return 0 < len(elements) <= 25 and all(ids) and len(set(ids)) == len(ids)
    return False


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if "json" in content_type:
        try:
            value = json.loads(body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
