"""The runner's front door: an HTTP API stand-in on 127.0.0.1 that invokes the routes' functions through the pools.

Each request becomes a real HTTP API (payload 2.0) event (``apigw.http_event``, matched against the topology's
routes), runs in a worker of the route's function, and the handler's response is written back as HTTP API would
(status, headers, each cookie as its own ``Set-Cookie``, base64 bodies decoded). A handler that fails (exception,
timeout, crash) is API Gateway's "Internal Server Error" in our envelope, never a stack trace: the trace goes to the
runner's log. A throttled invocation is 429.

Runner-only endpoints, under ``/_local/`` (nothing in AWS answers them):

- ``GET /_local/clock`` → ``{"now"}``; ``POST /_local/clock {"advance": "PT10M"}`` (ISO-8601 duration or seconds)
  moves the runner's one clock forward → ``{"now", "fired": [...]}``: the schedules that fell due have fired, the
  Step Functions waits it covers have ended (escalation timeouts, ack timeouts, auto-close, ``Wait`` states, retry
  intervals) and every function's ``now`` has moved with it.
- ``/_local/telegram/bot<token>/<method>``: the Bot API sandbox (``sandbox.TelegramSandbox``);
  ``GET /_local/telegram/outbox[?chat_id=]``; ``POST /_local/telegram/send {"chat_id", "text" | "callback_data",
  "message_id"?, "from"?}`` delivers an Update to the bot function and answers with the bot's replies.
- ``GET /_local/mail``: mail sent through the emulator's SES.
- ``GET /_local/workers``: the worker pools (sizes, cold starts, pids); ``POST /_local/workers/reset[?function=]``
  stops idle workers so the next invocation starts cold.

An optional HTTPS listener serves the same thing with a self-signed certificate (generated with ``cryptography``,
kept in the data folder), for clients that refuse ``http://`` base URLs, such as the official PagerDuty client.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import ssl
import threading
import time
import uuid
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from infra.local.apigw import http_event, match_route, parse_response
from infra.local.contracts import Invoker
from infra.local.sandbox import MailOutbox, TelegramSandbox
from infra.topology import Topology

log = logging.getLogger("oncall.local")

#: API Gateway's payload limit
MAX_BODY = 10 * 1024 * 1024
TELEGRAM_ROUTE = ("POST", "/telegram/webhook")
TELEGRAM_FUNCTION = "telegram"

Response = tuple[int, list[tuple[str, str]], bytes]


class WorkerControl(Protocol):
    def stats(self) -> list[Any]: ...

    def close_idle(self, function: str | None = None) -> int: ...


class ClockControl(Protocol):
    def now(self) -> dt.datetime: ...

    def advance_clock(self, delta: dt.timedelta) -> list[str]: ...


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


def envelope(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body = json.dumps({"error": {"code": code, "message": message, "details": details or {}}}).encode()
    return status, [("content-type", "application/json")], body


def json_response(status: int, value: Any) -> Response:
    return status, [("content-type", "application/json")], json.dumps(value, default=str).encode()


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
        mail: MailOutbox | None = None,
        workers: WorkerControl | None = None,
    ) -> None:
        self.topology = topology
        self.invoker = invoker
        self.host = host
        self.port = port
        self.https_port = https_port
        self.cert_dir = cert_dir
        self.clock = clock
        self.telegram = telegram
        self.telegram_secret = telegram_secret
        self.mail = mail
        self.workers = workers
        self.cert_path: Path | None = None
        self._servers: list[ThreadingHTTPServer] = []
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
        http = _Server((self.host, self.port), _handler_class(self, "http"))
        self._servers.append(http)
        if self.https_port is not None:
            try:
                https = _Server((self.host, self.https_port), _handler_class(self, "https"))
            except OSError as exc:
                log.warning("HTTPS listener on port %s not started: %s", self.https_port, exc)
            else:
                self.cert_path = ensure_certificate(self.cert_dir or Path(".oncall-local") / "tls")
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(self.cert_path, self.cert_path.with_suffix(".key"))
                # The handshake happens in the request's thread (see _Handler.setup), not in the accept loop.
                https.socket = context.wrap_socket(https.socket, server_side=True, do_handshake_on_connect=False)
                self._servers.append(https)

    def serve(self) -> None:
        self.bind()
        if self._threads:
            return
        for server in self._servers:
            t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            t.start()
            self._threads.append(t)

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

    # -- requests ------------------------------------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str, scheme: str
    ) -> Response:
        path = urlsplit(target).path
        if path == "/_local" or path.startswith("/_local/"):
            try:
                return self._local(method, target, body)
            except Exception:
                log.exception("runner endpoint %s %s failed", method, path)
                return envelope(500, "internal_error", "Internal Server Error")
        return self.invoke_route(method, target, headers, body, source_ip, scheme)

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
                "%s %s → %s failed: %s: %s", method, path, route.function, result.error_type, result.error_message
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

    # -- /_local -------------------------------------------------------------------------------------------------

    def _local(self, method: str, target: str, body: bytes) -> Response:
        split = urlsplit(target)
        path = split.path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if path == "/_local/clock":
            return self._clock(method, body)
        if path.startswith("/_local/telegram/bot"):
            return self._bot_api(path, query, body)
        if path == "/_local/telegram/outbox" and method == "GET":
            if self.telegram is None:
                return envelope(409, "telegram_not_sandboxed", "TELEGRAM_MODE is not outbox: messages go to Telegram")
            chat = query.get("chat_id")
            try:
                after = int(query.get("after", "0") or 0)
            except ValueError:
                return envelope(422, "validation_error", "after must be an outbox seq number", {"field": "after"})
            return json_response(200, {"items": self.telegram.outbox(_maybe_int(chat), after)})
        if path == "/_local/telegram/send" and method == "POST":
            return self._telegram_send(body)
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
        fired = self.clock.advance_clock(delta)
        return json_response(
            200, {"now": _iso(self.clock.now()), "advanced_seconds": delta.total_seconds(), "fired": fired}
        )

    def _bot_api(self, path: str, query: dict[str, str], body: bytes) -> Response:
        if self.telegram is None:
            return json_response(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        rest = path[len("/_local/telegram/bot") :]
        token, _, method = rest.partition("/")
        params: dict[str, Any] = dict(query)
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            if isinstance(parsed, dict):
                params.update(parsed)
        status, reply = self.telegram.call(token, method, params)
        return json_response(status, reply)

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
        function = self.telegram_function()
        if function is None:
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
        status, _, reply_body = self.deliver_update(update)
        replies = self.telegram.outbox(chat_id, after=before)
        result: dict[str, Any] = {"update": update, "webhook_status": status, "replies": replies}
        if status != 200:
            with contextlib.suppress(ValueError):
                result["webhook_response"] = json.loads(reply_body or b"null")
        return json_response(200, result)


def _maybe_int(value: str | None) -> int | str | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def _iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-request (or refusing the self-signed certificate) are not the runner's errors.
        log.debug("connection from %s ended abnormally", client_address, exc_info=True)


def _handler_class(gateway: Gateway, scheme: str) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One buffered write per response (flushed by the base class) and no Nagle: separate header and body
        # segments on a keep-alive connection otherwise meet the client's delayed ACK, ~40 ms per request.
        wbufsize = -1
        disable_nagle_algorithm = True
        server_version = "oncall-local"
        sys_version = ""

        def setup(self) -> None:
            if isinstance(self.request, ssl.SSLSocket):
                self.request.settimeout(10)
                try:
                    self.request.do_handshake()
                except (ssl.SSLError, OSError):
                    # A client that does not trust the certificate hangs up; nothing to answer.
                    self.request.close()
                    raise
                self.request.settimeout(None)
            super().setup()

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def _serve(self) -> None:
            started = time.perf_counter()
            length_header = self.headers.get("content-length")
            if self.headers.get("transfer-encoding", "").lower() == "chunked":
                self._write(*envelope(411, "length_required", "send Content-Length (chunked bodies unsupported)"))
                return
            try:
                length = int(length_header or 0)
            except ValueError:
                self._write(*envelope(400, "bad_request", "invalid Content-Length"))
                return
            if length > MAX_BODY:
                # Read and drop the body first: closing on unread data resets the connection, and the client
                # would see a reset instead of the 413.
                remaining = length
                while remaining > 0 and remaining <= 8 * MAX_BODY:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        break
                    remaining -= len(chunk)
                self._write(*envelope(413, "payload_too_large", "Request Entity Too Large"))
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            status, headers, out = gateway.handle(
                self.command, self.path, list(self.headers.items()), body, self.client_address[0], scheme
            )
            self._write(status, headers, out)
            if not self.path.startswith("/_local/telegram/bot"):
                log.info(
                    "%s %s → %s (%.0f ms)", self.command, self.path, status, (time.perf_counter() - started) * 1000
                )

        def _write(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    return _Handler


def ensure_certificate(directory: Path) -> Path:
    """A self-signed certificate for 127.0.0.1 and localhost (PEM ``cert.pem`` + ``cert.key``), made once and
    reused, so a client told to trust it keeps trusting it across restarts."""
    cert_path = directory / "cert.pem"
    key_path = directory / "cert.key"
    if cert_path.is_file() and key_path.is_file():
        return cert_path
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OnCall Hub local runner")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(uuid.uuid4().int >> 1)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path
