"""Slack's shapes, pure: Block Kit for a message and its buttons, what a button press and a slash command carry.
No I/O, no clock; the Web API calls are ``oncall.adapters.slack``, the app's use cases ``oncall.services.slack_app``.

Buttons keep the product's callback data (``<domain>:<action>:<id>``, ``oncall.domain.notifications``) as their
``action_id`` and ``value``, so a press reaches the same handler a Telegram press does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from oncall.domain.errors import InvalidInput
from oncall.domain.notifications import Button, parse_callback_data
from oncall.domain.page_content import PageContent, plain_text

#: Slack's limits: a section's text, a header's text, a button's label, elements in one actions block, blocks
SECTION_MAX = 3000
HEADER_MAX = 150
BUTTON_LABEL_MAX = 75
ACTIONS_MAX = 25
BLOCKS_MAX = 50
#: the top-level ``text`` of a message with blocks is what notifications and screen readers show
FALLBACK_MAX = 3000

_STYLES = {"ack": "primary", "res": "danger"}

#: a channel's id as Slack shows it (channel details, "Copy link"): ``C…`` public, ``G…`` older private channels.
#: Not a name: a name changes when someone renames the channel, the id never does
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{8,20}$")


def check_channel_id(raw: str | None, field: str = "slack_channel") -> str | None:
    """A channel id (``C0123ABCD``), or None to have none; a name (``#ops``), a direct-message id (``D…``) or a
    member id is refused by name, before anything is stored."""
    if raw is None or not raw.strip():
        return None
    value = raw.strip()
    if not CHANNEL_ID.match(value):
        raise InvalidInput(field, "must be a Slack channel id such as C0123ABCD (channel details → copy the id)")
    return value


def escape(text: str) -> str:
    """Slack's mrkdwn treats ``&``, ``<`` and ``>`` as control characters: a title such as ``<!channel>`` must not
    mention everyone, and ``<http://x|y>`` must not become a link the sender did not mean."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocks(
    text: str, buttons: tuple[tuple[Button, ...], ...] = (), content: PageContent | None = None
) -> list[dict[str, Any]]:
    """A message as Block Kit: a page's headline as the header and its facts as a section (everything escaped), any
    other text as one section, then the buttons (each row an actions block of at most 25)."""
    out: list[dict[str, Any]] = []
    body = text
    if content is not None:
        out.append({"type": "header", "text": {"type": "plain_text", "text": _cut(content.headline, HEADER_MAX)}})
        body = plain_text(content).split("\n", 1)[1].strip() if "\n" in plain_text(content) else ""
    if body.strip():
        out.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(escape(body), SECTION_MAX)}})
    for row in buttons:
        for start in range(0, len(row), ACTIONS_MAX):
            out.append({"type": "actions", "elements": [_button(b) for b in row[start : start + ACTIONS_MAX]]})
    return out[:BLOCKS_MAX]


def fallback_text(text: str) -> str:
    return _cut(text, FALLBACK_MAX)


def _button(button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": _cut(button.text, BUTTON_LABEL_MAX)},
        "action_id": button.callback_data,
        "value": button.callback_data,
    }
    data = parse_callback_data(button.callback_data)
    style = _STYLES.get(data.action) if data is not None else None
    if style:
        element["style"] = style
    return element


def buttons_of(message: Mapping[str, Any]) -> tuple[tuple[Button, ...], ...]:
    """The buttons a message carries (its actions blocks), as the product's buttons; anything unreadable is left out."""
    rows: list[tuple[Button, ...]] = []
    for block in message.get("blocks") or ():
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        row = tuple(
            Button(str(e["text"]["text"]), str(e["value"]))
            for e in block.get("elements") or ()
            if isinstance(e, dict)
            and isinstance(e.get("text"), dict)
            and e["text"].get("text")
            and isinstance(e.get("value"), str)
            and parse_callback_data(e["value"]) is not None
        )
        if row:
            rows.append(row)
    return tuple(rows)


@dataclass(frozen=True)
class Press:
    """One button press (a ``block_actions`` interaction): who pressed what, on which message."""

    slack_user: str
    value: str
    channel: str | None
    ts: str | None
    message: Mapping[str, Any]


def parse_press(payload: Mapping[str, Any]) -> Press | None:
    """A ``block_actions`` payload → the press, None for anything else (a modal, a shortcut, garbage)."""
    if payload.get("type") != "block_actions":
        return None
    user = payload.get("user")
    actions = payload.get("actions")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str):
        return None
    if not isinstance(actions, list) or not actions:
        return None
    action = actions[0]
    if not isinstance(action, dict):
        return None
    value = action.get("value") if isinstance(action.get("value"), str) else action.get("action_id")
    if not isinstance(value, str):
        return None
    container = _dict(payload.get("container"))
    channel_obj = _dict(payload.get("channel"))
    message = _dict(payload.get("message"))
    channel = container.get("channel_id") or channel_obj.get("id")
    ts = container.get("message_ts") or message.get("ts")
    return Press(
        slack_user=user["id"],
        value=value,
        channel=str(channel) if channel else None,
        ts=str(ts) if ts else None,
        message=message,
    )


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Command:
    """A slash command as Slack posts it (form fields): ``/oncall shifts`` is ``("/oncall", "shifts")``."""

    name: str
    text: str
    slack_user: str


def parse_command(form: Mapping[str, Sequence[str]]) -> Command | None:
    def one(name: str) -> str:
        values = form.get(name) or [""]
        return values[0].strip()

    name, user = one("command").lower(), one("user_id")
    if not name.startswith("/") or not user:
        return None
    return Command(name=name, text=one("text"), slack_user=user)


def split_incident(text: str) -> tuple[str | None, str]:
    """``/incident <service>: <title>`` → (service, title); ``/incident <title>`` → (None, title)."""
    head, sep, rest = text.partition(":")
    if sep and head.strip() and rest.strip() and len(head) <= 100:
        return head.strip(), rest.strip()
    return None, text.strip()


def parse_form(raw: str) -> dict[str, list[str]]:
    """A form-encoded body (commands, and interactions' ``payload`` field); blank values kept (``text=``)."""
    return parse_qs(raw, keep_blank_values=True, max_num_fields=100)


def json_object(raw: str) -> dict[str, Any] | None:
    """A JSON object, or None for anything else."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
