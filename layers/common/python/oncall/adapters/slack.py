"""Slack: the Web API through the official client (``slack_sdk.WebClient``), the Slack notification channel, and the
check of Slack's request signatures.

``SlackClient`` wraps the calls the product makes (``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``users.info``, ``users.lookupByEmail``, ``conversations.open``) with the failure policy of the Telegram client:

- 429: waits ``Retry-After`` when it is short (≤ ``max_retry_after_s``) and tries again; a longer one raises
  ``SlackRateLimited`` so the notification service queues the page instead of holding a Lambda.
- 5xx and network errors: retried with exponential backoff (``retries`` times), then ``SlackUnavailable``.
- Slack's own error codes (``{"ok": false, "error": "channel_not_found"}``): ``SlackRefused`` with the code; the
  channel turns those that will never work for this person (``PERMANENT``) into ``ChannelBlocked`` (the person is
  flagged on Slack and the page falls back to their next channel), the rest into ``ChannelFailed``.

The bot token travels in a header only; nothing here logs a request or lets the token reach an exception message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from oncall.domain.notifications import Button, Message, slack_ref
from oncall.domain.slack import blocks, fallback_text
from oncall.observability import log
from oncall.services.notify import ChannelBlocked, ChannelFailed, ChannelRateLimited
from oncall.services.slack_app import SlackCallFailed

if TYPE_CHECKING:
    from slack_sdk import WebClient

DEFAULT_API_URL = "https://slack.com/api"

#: error codes that mean this address will not work for this person again (until they link again)
PERMANENT = frozenset(
    {
        "channel_not_found",
        "account_inactive",
        "user_not_found",
        "user_disabled",
        "is_archived",
        "not_in_channel",
        "cannot_dm_bot",
        "user_not_visible",
    }
)


class SlackError(SlackCallFailed):
    def __init__(self, method: str, code: str, retry_after: float | None = None) -> None:
        super().__init__(f"slack {method}: {code}")
        self.method = method
        self.code = code
        self.retry_after = retry_after


class SlackRefused(SlackError):
    """Slack answered ``ok: false`` with an error code (``channel_not_found``, ``invalid_auth``, ...)."""


class SlackRateLimited(SlackError):
    """429 with a ``Retry-After`` longer than the client is willing to wait in-process."""


class SlackUnavailable(SlackError):
    """5xx or network failure after the retries."""


class _Clock:
    """``slack_sdk``'s verifier asks its clock for epoch seconds; ours is the wiring's (tests and the runner move
    it)."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now().timestamp()


def verify_request(secret: str, body: str, headers: Mapping[str, str], now: Callable[[], datetime]) -> bool:
    """Slack's v0 signature: HMAC-SHA256 over ``v0:<timestamp>:<body>`` with the signing secret, compared in constant
    time, and a timestamp within 5 minutes of ``now`` (a captured request cannot be replayed later). Checked on the
    raw body before anything is parsed; an unconfigured secret accepts nothing."""
    if not secret:
        return False
    lower = {k.lower(): v for k, v in headers.items()}
    timestamp = lower.get("x-slack-request-timestamp", "")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(secret, clock=_Clock(now))  # type: ignore[arg-type]
    return verifier.is_valid(body, timestamp, lower.get("x-slack-signature"))


@dataclass
class SlackClient:
    token: str
    api_url: str = DEFAULT_API_URL
    timeout_s: int = 5
    retries: int = 2
    backoff_s: float = 0.2
    max_retry_after_s: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    web: WebClient = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.api_url = (self.api_url or DEFAULT_API_URL).rstrip("/")
        if not self.api_url.startswith(("https://", "http://")):
            raise ValueError("SLACK_API_URL must be an http(s) URL")
        # imported here: the channel is registered in every function that pages, the client built at its first send
        from slack_sdk import WebClient

        # retries are ours (below), so the client's own connection-error retry is not stacked on them
        self.web = WebClient(token=self.token, base_url=self.api_url + "/", timeout=self.timeout_s, retry_handlers=[])

    def __repr__(self) -> str:  # the dataclass repr would print the token
        return f"SlackClient(api_url={self.api_url!r})"

    # -- methods ---------------------------------------------------------------------------------------------------

    def post_message(self, channel: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self.call("chat.postMessage", channel=channel, text=text, blocks=list(blocks), unfurl_links=False)

    def update_message(self, channel: str, ts: str, text: str, blocks: Sequence[Mapping[str, Any]]) -> None:
        self.call("chat.update", channel=channel, ts=ts, text=text, blocks=list(blocks))

    def post_ephemeral(self, channel: str, user: str, text: str) -> None:
        self.call("chat.postEphemeral", channel=channel, user=user, text=text)

    def user_info(self, user: str) -> dict[str, Any]:
        found = self.call("users.info", user=user).get("user")
        return found if isinstance(found, dict) else {}

    def lookup_by_email(self, email: str) -> dict[str, Any]:
        found = self.call("users.lookupByEmail", email=email).get("user")
        return found if isinstance(found, dict) else {}

    def open_dm(self, user: str) -> str:
        channel = self.call("conversations.open", users=user).get("channel")
        if not isinstance(channel, dict) or not channel.get("id"):
            raise SlackRefused("conversations.open", "no_channel_in_reply")
        return str(channel["id"])

    # -- transport -------------------------------------------------------------------------------------------------

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError

        # chat.* take JSON; users.* and conversations.open take form fields (Slack refuses JSON there)
        as_json = method.startswith("chat.")
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.web.api_call(method, json=params) if as_json else self.web.api_call(method, data=params)
                data = response.data
                return data if isinstance(data, dict) else {}
            except SlackApiError as exc:
                status = int(exc.response.status_code)
                code = str(exc.response.get("error") or f"http_{status}")
                if status == 429:
                    retry_after = _retry_after(exc.response.headers)
                    if retry_after > self.max_retry_after_s or attempt > self.retries:
                        raise SlackRateLimited(method, "ratelimited", retry_after) from None
                    log.warning("slack %s: 429, waiting %.1fs as asked", method, retry_after)
                    self.sleep(retry_after)
                    continue
                if status >= 500:
                    if attempt > self.retries:
                        raise SlackUnavailable(method, code) from None
                    self.sleep(self.backoff_s * 2 ** (attempt - 1))
                    continue
                raise SlackRefused(method, code) from None
            except OSError as exc:  # refused, reset, timed out (URLError is an OSError)
                if attempt > self.retries:
                    raise SlackUnavailable(method, f"network error: {type(exc).__name__}") from None
                self.sleep(self.backoff_s * 2 ** (attempt - 1))


def _retry_after(headers: Mapping[str, Any]) -> float:
    lower = {str(k).lower(): v for k, v in (headers or {}).items()}
    raw = lower.get("retry-after")
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        return max(0.0, float(raw)) if raw is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


class SlackChannel:
    """The notification service's Slack channel: an address is the person's direct-message conversation with the app
    (``D…``, opened once when they link), a ref ``slack:<conversation>:<ts>``."""

    name = "slack"

    def __init__(
        self,
        client: SlackClient | Callable[[], SlackClient],
        per_conversation_per_s: int = 1,
        per_app_per_s: int = 20,
    ) -> None:
        # a factory defers reading the bot token to the first Slack send: a function whose people have no Slack
        # address never reads the secret (one SSM call less on the paging path's cold start)
        self._client = client
        self.per_conversation = per_conversation_per_s
        self.per_app = per_app_per_s

    @property
    def client(self) -> SlackClient:
        if not isinstance(self._client, SlackClient):
            self._client = self._client()
        return self._client

    def limits(self, address: str) -> Sequence[tuple[str, int]]:
        # chat.postMessage: about one message a second per conversation, bursts tolerated; the app's share first
        return (("slack:app", self.per_app), (f"slack:conv:{address}", self.per_conversation))

    def _ready(self) -> SlackClient:
        try:
            return self.client
        except Exception as exc:
            # the token could not be read (SSM down, parameter deleted): this page goes to the next channel
            log.warning("slack: no client: %s", type(exc).__name__)
            raise ChannelFailed("slack: the bot token could not be read") from None

    def send(self, address: str, message: Message) -> str:
        client = self._ready()
        try:
            result = client.post_message(
                address, fallback_text(message.text), blocks(message.text, message.buttons, message.content)
            )
        except SlackError as exc:
            raise _channel_error(exc) from None
        return slack_ref(str(result.get("channel") or address), str(result.get("ts") or ""))

    def edit(self, ref: str, text: str, buttons: tuple[tuple[Button, ...], ...]) -> None:
        _, channel, ts = ref.split(":", 2)
        client = self._ready()
        try:
            client.update_message(channel, ts, fallback_text(text), blocks(text, buttons))
        except SlackError as exc:
            raise _channel_error(exc) from None


def _channel_error(exc: SlackError) -> Exception:
    if isinstance(exc, SlackRateLimited):
        return ChannelRateLimited(exc.retry_after or 1.0)
    if isinstance(exc, SlackRefused) and exc.code in PERMANENT:
        return ChannelBlocked(exc.code)
    return ChannelFailed(str(exc))
