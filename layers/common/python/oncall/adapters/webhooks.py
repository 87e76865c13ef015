"""Edges of outgoing webhooks: the HTTP sender behind the SSRF guard, the URL guard for the API, the SQS job queue."""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping

from oncall.adapters import ssrf
from oncall.adapters.queues import SqsQueue
from oncall.domain.errors import InvalidInput
from oncall.services.webhooks import SendResult

USER_AGENT = "OnCallHub-Webhooks/1"


class HttpSender:
    """POSTs through ``ssrf.check`` (resolve once, every address public unless allow-listed) and
    ``ssrf.pinned_request`` (connect to that address; Host and SNI keep the name); never follows redirects."""

    def __init__(
        self,
        allowlist: ssrf.Allowlist,
        resolve: ssrf.Resolver = ssrf.system_resolver,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.allowlist = allowlist
        self.resolve = resolve
        self.tls = tls

    def send(self, url: str, headers: Mapping[str, str], body: bytes, timeout: float) -> SendResult:
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            target = ssrf.check(url, self.allowlist, self.resolve)
        except ssrf.Refused as exc:
            return SendResult(None, f"refused: {exc}", elapsed(), final=exc.permanent)
        try:
            resp = ssrf.pinned_request(
                target, "POST", body, {**headers, "user-agent": USER_AGENT}, timeout=timeout, context=self.tls
            )
        except TimeoutError:
            return SendResult(None, f"timed out after {timeout:g}s", elapsed())
        except (OSError, ssl.SSLError) as exc:
            return SendResult(None, f"connection failed: {exc.__class__.__name__}: {exc}", elapsed())
        except Exception as exc:  # http.client.HTTPException and friends: a broken peer, not our bug
            return SendResult(None, f"bad response: {exc.__class__.__name__}: {exc}", elapsed())
        detail = f"HTTP {resp.status}"
        if 300 <= resp.status < 400:
            detail += f" redirect not followed (Location: {resp.headers.get('location', '-')[:200]})"
        elif resp.body:
            detail += ": " + resp.body[:200].decode("utf-8", "replace")
        return SendResult(resp.status, detail, resp.duration_ms)


class GuardUrl:
    """The API-side check: the same SSRF rules, so a subscription to an internal address is a 422 naming ``url``."""

    def __init__(self, allowlist: ssrf.Allowlist, resolve: ssrf.Resolver = ssrf.system_resolver) -> None:
        self.allowlist = allowlist
        self.resolve = resolve

    def __call__(self, url: str) -> None:
        try:
            ssrf.check(url, self.allowlist, self.resolve)
        except ssrf.Refused as exc:
            raise InvalidInput("url", f"refused: {exc}") from None


#: the notifier queue's attempt jobs (``JobQueue``)
SqsJobQueue = SqsQueue
