"""The runner's front door: an HTTP API stand-in on 127.0.0.1 that invokes the routes' functions through the pools.

Each request becomes a real HTTP API (payload 2.0) event (``apigw.http_event``, matched against the topology's
routes), runs in a worker of the route's function, and the handler's response is written back as HTTP API would
(status, headers, each cookie as its own ``Set-Cookie``, base64 bodies decoded). A handler that fails (exception,
timeout, crash) is API Gateway's "Internal Server Error" in our envelope, never a stack trace: the trace goes to the
runner's log. A throttled invocation is 429.

Paths under ``/_local/`` are the runner's own endpoints (``control``): the clock, the Telegram sandbox, the mail
outbox and the worker pools. They exist only in the runner (nothing deployed routes ``/_local``) and answer only
this machine's own tools: the ``Host`` must be a loopback name with the listener's port (``127.0.0.1``,
``localhost``, ``[::1]``), which defeats DNS rebinding; a request carrying an ``Origin`` other than that is refused
(a web page's cross-site request); and a body must be ``application/json``, so a "simple" cross-site POST (a form
or a ``text/plain`` body, which needs no CORS preflight) is refused even from a client that sends no ``Origin``. The
Bot API sandbox (``/_local/telegram/bot<token>/``) takes forms as well, as Telegram does, behind the same ``Host``
and ``Origin`` checks.
Each refusal is a 403 or 415 envelope; the control endpoint never runs. An optional HTTPS listener (``tls``) serves
the same thing with a self-signed certificate, for clients that refuse ``http://`` base URLs, such as the official
PagerDuty client.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from infra.local.apigw import http_event, match_route, parse_response
from infra.local.contracts import Invoker
from infra.local.control import ClockControl, LocalControl, WorkerControl
from infra.local.httpd import (
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    Listener,
    Response,
    envelope,
    handler_class,
    serve_in_background,
)
from infra.local.mail import MailOutbox
from infra.local.slack.sandbox import SlackSandbox
from infra.local.slack.signing import signed_headers
from infra.local.telegram.sandbox import TelegramSandbox
from infra.local.tls import serve_tls
from infra.topology import Topology

log = logging.getLogger("oncall.local")

TELEGRAM_ROUTE = ("POST", "/telegram/webhook")
TELEGRAM_FUNCTION = "telegram"
#: where the Slack Web API sandbox answers (``SLACK_API_URL`` of the functions when no real token is given)
SLACK_API = "/_local/slack/api/"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
#: what Telegram's Bot API takes besides JSON
BOT_API_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


class Gateway:
    def __init__(
        self,
        topology: Topology,
        invoker: Invoker,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        https_port: int | None = None,
        cert_dir: Path | None = None,
        clock: ClockControl | None = None,
        telegram: TelegramSandbox | None = None,
        telegram_secret: str = "",
        slack: SlackSandbox | None = None,
        slack_secret: str = "",
        mail: MailOutbox | None = None,
        workers: WorkerControl | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        sync: Callable[[], None] | None = None,
    ) -> None:
        #: makes every change so far durable (the emulator's journal): called before each answer
        self.sync = sync
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.topology = topology
        self.invoker = invoker
        self.host = host
        self.port = port
        self.https_port = https_port
        self.cert_dir = cert_dir
        self.telegram = telegram
        self.telegram_secret = telegram_secret
        self.slack = slack
        self.slack_secret = slack_secret
        self.clock = clock
        self.control = LocalControl(self, clock=clock, telegram=telegram, slack=slack, mail=mail, workers=workers)
        self.cert_path: Path | None = None
        self._servers: list[Listener] = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.bind()
        self.serve()

    def bind(self) -> None:
        """Listen (connections wait in the backlog until ``serve``), so ``url`` is known before the runner starts
        anything that may invoke a function: the Telegram sandbox's address is part of the functions' environment."""
        if self._servers:
            return
        limits: dict[str, Any] = {"idle_timeout": self.idle_timeout, "max_connections": self.max_connections}
        self._servers.append(Listener((self.host, self.port), self._handler("http"), **limits))
        if self.https_port is not None:
            try:
                https = Listener((self.host, self.https_port), self._handler("https"), **limits)
            except OSError as exc:
                log.warning("HTTPS listener on port %s not started: %s", self.https_port, exc)
            else:
                self.cert_path = serve_tls(https, self.cert_dir or Path(".oncall-local") / "tls")
                self._servers.append(https)

    def serve(self) -> None:
        self.bind()
        if self._threads:
            return
        self._threads = [serve_in_background(server) for server in self._servers]

    def stop(self) -> None:
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
        for t in self._threads:
            t.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._servers[0].server_address[1]}"

    @property
    def https_url(self) -> str | None:
        if len(self._servers) < 2:
            return None
        return f"https://{self.host}:{self._servers[1].server_address[1]}"

    def _handler(self, scheme: str) -> type[Any]:
        def handle(method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str) -> Response:
            return self.handle(method, target, headers, body, source_ip, scheme)

        return handler_class(handle, served=_log_request)

    # -- requests ------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str, scheme: str
    ) -> Response:
        response = self._handle(method, target, headers, body, source_ip, scheme)
        if self.sync is not None:
            # a 2xx means stored (docs/architecture.md, "Invariants"): what the request changed is on disk first
            self.sync()
        return response

    def _handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str, scheme: str
    ) -> Response:
        path = urlsplit(target).path
        if path == "/_local" or path.startswith("/_local/"):
            refused = self._refuse_control(method, path, headers, body, scheme)
            if refused is not None:
                log.warning("runner endpoint %s %s refused: %s", method, path, refused[2].decode(errors="replace"))
                return refused
            if path.startswith(SLACK_API) and self.slack is not None:
                # the Web API sandbox needs the bot token from the Authorization header, which control never sees
                return self.slack.handle(path[len(SLACK_API) :], {k.lower(): v for k, v in headers}, body)
            try:
                return self.control.handle(method, target, body)
            except Exception:
                log.exception("runner endpoint %s %s failed", method, path)
                return envelope(500, "internal_error", "Internal Server Error")
        return self.invoke_route(method, target, headers, body, source_ip, scheme)

    def _refuse_control(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, scheme: str
    ) -> Response | None:
        """Why a request may not reach a runner endpoint (see the module docstring), or None."""
        given = {name.lower(): value.strip() for name, value in headers}
        index = 1 if scheme == "https" and len(self._servers) > 1 else 0
        port = self._servers[index].server_address[1] if self._servers else self.port
        allowed = {f"{host}:{port}" for host in LOOPBACK_HOSTS}
        if given.get("host", "").lower() not in allowed:
            return envelope(
                403, "forbidden", "runner endpoints answer a loopback Host with the runner's port", {"field": "Host"}
            )
        origin = given.get("origin")
        if origin is not None and origin.lower() not in {f"{s}://{a}" for s in ("http", "https") for a in allowed}:
            return envelope(403, "forbidden", "runner endpoints refuse cross-origin requests", {"field": "Origin"})
        content_type = given.get("content-type", "").split(";")[0].strip().lower()
        bot_api = path.startswith(("/_local/telegram/bot", SLACK_API)) and content_type in BOT_API_FORMS
        if (
            method not in ("GET", "HEAD")
            and (body or content_type)
            and content_type != "application/json"
            and not bot_api
        ):
            return envelope(
                415, "unsupported_media_type", "runner endpoints take application/json", {"field": "Content-Type"}
            )
        return None

    def invoke_route(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        source_ip: str = "127.0.0.1",
        scheme: str = "http",
    ) -> Response:
        path = urlsplit(target).path or "/"
        route = match_route(method, path, self.topology.routes)
        if route is None:
            return envelope(404, "not_found", f"No route for {method} {path}")
        joined: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            # API Gateway joins repeated headers with commas (cookies with "; ").
            sep = "; " if key == "cookie" else ","
            joined[key] = f"{joined[key]}{sep}{value}" if key in joined else value
        joined["x-forwarded-proto"] = scheme
        event = http_event(method, target, body=body or None, headers=joined, source_ip=source_ip, route=route)
        request_id = event["requestContext"]["requestId"]
        result = self.invoker.invoke(route.function, event)
        if not result.ok:
            if result.error_type == "RequestEntityTooLargeException":
                return envelope(413, "payload_too_large", "the request is larger than a Lambda invocation accepts")
            if result.error_type == "TooManyRequestsException":
                status, headers, body = envelope(429, "too_many_requests", "Too Many Requests", {"retry_after": 1})
                return status, [*headers, ("retry-after", "1")], body
            # The worker already printed the stack trace to the function's log lines.
            log.error(
                "%s %s → %s failed (request %s): %s: %s",
                method,
                path,
                route.function,
                request_id,
                result.error_type,
                result.error_message,
            )
            return envelope(500, "internal_error", "Internal Server Error", {"request_id": request_id})
        try:
            status, out_headers, out_body = parse_response(result.payload)
        except (ValueError, TypeError, KeyError):
            log.error("%s %s → %s returned a malformed response: %r", method, path, route.function, result.payload)
            return envelope(500, "internal_error", "Internal Server Error", {"request_id": request_id})
        pairs: list[tuple[str, str]] = []
        for name, value in out_headers.items():
            if name.lower() == "set-cookie":
                pairs += [("set-cookie", c) for c in value.split("\n") if c]
            else:
                pairs.append((name, value))
        pairs.append(("apigw-requestid", request_id))
        return status, pairs, out_body

    def telegram_function(self) -> str | None:
        route = match_route(*TELEGRAM_ROUTE, self.topology.routes)
        names = {f.name for f in self.topology.functions}
        if route is None or route.function != TELEGRAM_FUNCTION or TELEGRAM_FUNCTION not in names:
            return None
        return route.function

    def deliver_update(self, update: dict[str, Any]) -> Response:
        """What Telegram does with an update when a webhook is set: POST it with the secret-token header."""
        status, headers, body = self.invoke_route(
            *TELEGRAM_ROUTE,
            [("content-type", "application/json"), ("x-telegram-bot-api-secret-token", self.telegram_secret)],
            json.dumps(update).encode(),
            source_ip="91.108.6.1",
            scheme="https",
        )
        # A webhook may answer with one Bot API call in its response body; Telegram performs it.
        if self.telegram is not None and status == 200 and body:
            with contextlib.suppress(ValueError, TypeError):
                reply = json.loads(body)
                if isinstance(reply, dict) and isinstance(reply.get("method"), str):
                    params = {k: v for k, v in reply.items() if k != "method"}
                    self.telegram.call(self.telegram.token, reply["method"], params)
        return status, headers, body

    def deliver_slack(self, path: str, body: str) -> Response:
        """What Slack does with a command or a button press: POST the form to the app's request URL, signed with the
        signing secret at the runner's now (the function checks the timestamp against its own, the runner's, clock)."""
        now = self.clock.now().timestamp() if self.clock is not None else time.time()
        headers = signed_headers(self.slack_secret, body, int(now))
        return self.invoke_route("POST", path, list(headers.items()), body.encode(), "54.80.0.1", "https")


def _log_request(method: str, target: str, status: int, elapsed_ms: float) -> None:
    # The bot's own Bot API calls are logged by the sandbox, as what was sent.
    if not target.startswith(("/_local/telegram/bot", SLACK_API)):
        log.info("%s %s → %s (%.0f ms)", method, target, status, elapsed_ms)
