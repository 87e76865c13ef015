"""The runner's own endpoints under ``/_local/`` on the gateway: nothing in AWS answers them, nothing deployed calls
them.

- ``GET /_local/clock`` → ``{"now"}``; ``POST /_local/clock {"advance": "PT10M"}`` (ISO-8601 duration or seconds)
  moves the runner's one clock forward → ``{"now", "fired": [...]}``: the schedules that fell due have fired, the
  Step Functions waits it covers have ended (escalation timeouts, ack timeouts, auto-close, ``Wait`` states, retry
  intervals) and every function's ``now`` has moved with it.
- ``/_local/telegram/bot<token>/<method>``: the Bot API sandbox (``telegram.sandbox.TelegramSandbox``);
  ``GET /_local/telegram/outbox[?chat_id=&after=]``; ``POST /_local/telegram/send {"chat_id", "text" |
  "callback_data", "message_id"?, "from"?}`` delivers an Update to the bot function and answers with the bot's replies.
- ``/_local/slack/api/<method>``: the Slack Web API sandbox (``slack.sandbox.SlackSandbox``, served by the gateway,
  which sees the bot token's header); ``GET /_local/slack/outbox[?channel=&after=]``; ``POST /_local/slack/users
  {"email", "name"?}`` adds a workspace member (``GET`` lists them); ``POST /_local/slack/command {"user", "command",
  "text"?}`` runs a slash command and ``POST /_local/slack/press {"user", "channel", "ts", "button"}`` presses a
  button (its label or value) on one of the app's messages, each delivered to the slack function signed as Slack
  signs, answering with the function's reply and what the app posted meanwhile.
- ``GET /_local/mail``: mail sent through the emulator's SES; ``GET /_local/sms[?to=]``: SMS published through its
  SNS.
- ``GET /_local/workers``: the worker pools (sizes, cold starts, pids); ``POST /_local/workers/reset[?function=]``
  stops idle workers so the next invocation starts cold.
- ``GET /_local/faults``: what is injected (``faults.FAULTS``) and how often it was; ``POST /_local/faults
  {"dynamodb": {"write_units_per_second", "read_units_per_second"?, "burst_seconds"?}, "start_execution":
  {"per_second", "burst"?}, "fail_task": [{"function", "action", "error"?, "times"?}]}`` switches faults on (to
  rehearse a storm); ``DELETE /_local/faults`` switches them all off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from dataclasses import asdict
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from infra.local.faults import FAULTS
from infra.local.httpd import Response, envelope, json_response
from infra.local.mail import MailOutbox
from infra.local.slack.sandbox import SlackSandbox
from infra.local.slack.signing import command_body, interaction_body
from infra.local.sms import SmsOutbox
from infra.local.telegram.botapi import call_from_http
from infra.local.telegram.sandbox import TelegramSandbox


class WorkerControl(Protocol):
    def stats(self) -> list[Any]: ...

    def close_idle(self, function: str | None = None) -> int: ...


class ClockControl(Protocol):
    def now(self) -> dt.datetime: ...

    def advance_clock(self, delta: dt.timedelta, catch_up: int | None = None) -> list[str]: ...


class BotFront(Protocol):
    """What ``/_local/telegram/send`` needs from the gateway: the bot function, and a way to hand it an Update."""

    def telegram_function(self) -> str | None: ...

    def deliver_update(self, update: dict[str, Any]) -> Response: ...

    def deliver_slack(self, path: str, body: str) -> Response: ...


_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: Any) -> dt.timedelta:
    """ISO-8601 duration (``PT10M``, ``P1DT2H``, ``P2W``) or a number of seconds. Raises ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError("expected an ISO-8601 duration such as PT10M, or seconds")
    if isinstance(value, int | float) or (isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value.strip())):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION.match(value.strip().upper())
        if not m or value.strip().upper() in ("P", "PT") or value.strip().upper().endswith("T"):
            raise ValueError(f"{value!r} is not an ISO-8601 duration such as PT10M")
        parts = {k: float(v) for k, v in m.groupdict().items() if v}
        return dt.timedelta(**parts)
    else:
        raise ValueError("expected an ISO-8601 duration such as PT10M, or seconds")
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    return dt.timedelta(seconds=seconds)


class LocalControl:
    def __init__(
        self,
        bot: BotFront,
        *,
        clock: ClockControl | None = None,
        telegram: TelegramSandbox | None = None,
        slack: SlackSandbox | None = None,
        mail: MailOutbox | None = None,
        workers: WorkerControl | None = None,
    ) -> None:
        self.bot = bot
        self.clock = clock
        self.telegram = telegram
        self.slack = slack
        self.mail = mail
        self.workers = workers

    def handle(self, method: str, target: str, body: bytes) -> Response:
        split = urlsplit(target)
        path = split.path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if path == "/_local/clock":
            return self._clock(method, body)
        if path.startswith("/_local/telegram/bot"):
            if self.telegram is None:
                return json_response(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return json_response(*call_from_http(self.telegram, path[len("/_local/telegram/bot") :], query, body))
        if path == "/_local/telegram/outbox" and method == "GET":
            return self._outbox(query)
        if path == "/_local/telegram/send" and method == "POST":
            return self._telegram_send(body)
        if path.startswith("/_local/slack/"):
            return self._slack(method, path.removeprefix("/_local/slack/"), query, body)
        if path == "/_local/sms" and method == "GET":
            to = query.get("to")
            return json_response(200, {"items": [m for m in SmsOutbox().messages() if to in (None, m["to"])]})
        if path == "/_local/mail" and method == "GET":
            if self.mail is None:
                return envelope(404, "not_found", "no mail outbox")
            return json_response(200, {"items": self.mail.messages()})
        if path == "/_local/workers" and method == "GET":
            return json_response(200, {"items": [asdict(s) for s in (self.workers.stats() if self.workers else [])]})
        if path == "/_local/workers/reset" and method == "POST" and self.workers is not None:
            # Idle workers stop, so the next invocation is a cold start again (benchmarks, demos of init cost).
            function = query.get("function")
            return json_response(200, {"stopped": self.workers.close_idle(function)})
        if path == "/_local/faults":
            return _faults(method, body)
        return envelope(404, "not_found", f"No runner endpoint {method} {split.path}")

    def _clock(self, method: str, body: bytes) -> Response:
        if self.clock is None:
            return envelope(404, "not_found", "clock control is not available")
        if method == "GET":
            return json_response(200, {"now": _iso(self.clock.now())})
        if method != "POST":
            return envelope(405, "method_not_allowed", "use GET or POST")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return envelope(400, "invalid_json", "body is not JSON")
        if not isinstance(payload, dict) or "advance" not in payload:
            return envelope(422, "validation_error", "advance is required", {"field": "advance"})
        try:
            delta = parse_duration(payload["advance"])
        except ValueError as exc:
            return envelope(422, "validation_error", str(exc), {"field": "advance"})
        catch_up = payload.get("catch_up")
        if catch_up is not None and (not isinstance(catch_up, int) or isinstance(catch_up, bool) or catch_up < 1):
            return envelope(422, "validation_error", "catch_up must be a whole number ≥ 1", {"field": "catch_up"})
        fired = self.clock.advance_clock(delta, catch_up)
        return json_response(
            200, {"now": _iso(self.clock.now()), "advanced_seconds": delta.total_seconds(), "fired": fired}
        )

    def _outbox(self, query: dict[str, str]) -> Response:
        if self.telegram is None:
            return envelope(409, "telegram_not_sandboxed", "TELEGRAM_MODE is not outbox: messages go to Telegram")
        chat = query.get("chat_id")
        try:
            after = int(query.get("after", "0") or 0)
        except ValueError:
            return envelope(422, "validation_error", "after must be an outbox seq number", {"field": "after"})
        return json_response(200, {"items": self.telegram.outbox(_maybe_int(chat), after)})

    def _telegram_send(self, body: bytes) -> Response:
        if self.telegram is None:
            return envelope(409, "telegram_not_sandboxed", "TELEGRAM_MODE is not outbox: talk to the real bot")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return envelope(400, "invalid_json", "body is not JSON")
        if not isinstance(payload, dict):
            return envelope(422, "validation_error", "expected a JSON object")
        chat_id = payload.get("chat_id")
        if isinstance(chat_id, str) and re.fullmatch(r"-?\d+", chat_id):
            chat_id = int(chat_id)
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            return envelope(422, "validation_error", "chat_id must be an integer", {"field": "chat_id"})
        text, data = payload.get("text"), payload.get("callback_data")
        if (text is None) == (data is None):
            return envelope(422, "validation_error", "give exactly one of text or callback_data", {"field": "text"})
        if not isinstance(text or data, str) or not (text or data):
            field = "text" if text is not None else "callback_data"
            return envelope(422, "validation_error", f"{field} must be a non-empty string", {"field": field})
        sender = payload.get("from")
        if sender is not None and not isinstance(sender, dict):
            return envelope(422, "validation_error", "from must be a Telegram User object", {"field": "from"})
        if self.bot.telegram_function() is None:
            return envelope(
                409,
                "bot_not_deployed",
                "the Telegram bot function is not deployed: no function 'telegram' behind POST /telegram/webhook",
            )
        message_id = payload.get("message_id")
        try:
            update = self.telegram.user_update(
                chat_id,
                text=text,
                callback_data=data,
                message_id=int(message_id) if message_id is not None else None,
                sender=sender,
            )
        except (LookupError, ValueError) as exc:
            return envelope(404, "message_not_found", str(exc), {"field": "message_id"})
        before = self.telegram.last_seq()
        status, _, reply_body = self.bot.deliver_update(update)
        replies = self.telegram.outbox(chat_id, after=before)
        result: dict[str, Any] = {"update": update, "webhook_status": status, "replies": replies}
        if status != 200:
            with contextlib.suppress(ValueError):
                result["webhook_response"] = json.loads(reply_body or b"null")
        return json_response(200, result)

    def _slack(self, method: str, what: str, query: dict[str, str], body: bytes) -> Response:
        slack = self.slack
        if slack is None:
            return envelope(409, "slack_not_sandboxed", "SLACK_BOT_TOKEN is set: messages go to Slack")
        if what == "outbox" and method == "GET":
            try:
                after = int(query.get("after", "0") or 0)
            except ValueError:
                return envelope(422, "validation_error", "after must be an outbox index", {"field": "after"})
            return json_response(200, {"items": slack.outbox(query.get("channel"), after)})
        if what == "users" and method == "GET":
            return json_response(200, {"items": [asdict(m) for m in slack.members.values()]})
        if method != "POST" or what not in ("users", "command", "press"):
            return envelope(404, "not_found", f"No runner endpoint {method} /_local/slack/{what}")
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            return envelope(400, "invalid_json", "body is not JSON")
        if not isinstance(payload, dict):
            return envelope(422, "validation_error", "expected a JSON object")
        needed = {"users": ("email",), "command": ("user", "command"), "press": ("user", "channel", "ts", "button")}
        for name in needed[what]:
            if not isinstance(payload.get(name), str) or not payload[name]:
                return envelope(422, "validation_error", f"{name} must be a non-empty string", {"field": name})
        if what == "users":
            member = slack.add_user(payload["email"], str(payload.get("name") or ""))
            return json_response(201, asdict(slack.members[member]))
        if payload["user"] not in slack.members:
            return envelope(
                404, "user_not_found", "no such workspace member (POST /_local/slack/users)", {"field": "user"}
            )
        try:
            if what == "command":
                form = slack.command_form(payload["user"], payload["command"], str(payload.get("text") or ""))
                path, raw = "/integrations/slack/commands", command_body(form)
            else:
                press = slack.press_payload(payload["user"], payload["channel"], payload["ts"], payload["button"])
                path, raw = "/integrations/slack/interactions", interaction_body(press)
        except LookupError as exc:
            return envelope(404, "message_not_found", str(exc), {"field": "ts"})
        before = len(slack.messages)
        status, _, reply = self.bot.deliver_slack(path, raw)
        result: dict[str, Any] = {"status": status, "posted": slack.outbox(after=before)}
        with contextlib.suppress(ValueError):
            result["reply"] = json.loads(reply) if reply else None
        return json_response(200, result)


def _faults(method: str, body: bytes) -> Response:
    if method == "DELETE":
        FAULTS.clear()
        return json_response(200, FAULTS.describe())
    if method == "GET":
        return json_response(200, FAULTS.describe())
    if method != "POST":
        return envelope(405, "method_not_allowed", "use GET, POST or DELETE")
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        return envelope(400, "invalid_json", "body is not JSON")
    if not isinstance(payload, dict):
        return envelope(422, "validation_error", "expected a JSON object")
    try:
        dynamodb = payload.get("dynamodb")
        if dynamodb is not None:
            FAULTS.throttle_partitions(
                float(dynamodb["write_units_per_second"]),
                float(dynamodb["read_units_per_second"]) if "read_units_per_second" in dynamodb else None,
                burst_seconds=float(dynamodb.get("burst_seconds", 1.0)),
            )
        starts = payload.get("start_execution")
        if starts is not None:
            FAULTS.throttle_start_execution(float(starts["per_second"]), int(starts.get("burst", 0)))
        for task in payload.get("fail_task") or []:
            times = task.get("times")
            FAULTS.fail_task(
                str(task["function"]),
                str(task["action"]),
                error=str(task.get("error", "InjectedFault")),
                times=int(times) if times is not None else None,
            )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return envelope(422, "validation_error", f"bad fault: {exc!r}")
    return json_response(200, FAULTS.describe())


def _maybe_int(value: str | None) -> int | str | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
