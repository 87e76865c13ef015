"""Reading a vendor's REST API: read-only GETs with the user's token, rate limits honoured, transient failures
retried, and every other failure turned into a ``SourceError`` that says what to do. The source is read completely
before anything is planned, so a failure here leaves nothing half-written (docs/architecture.md, "Importing")."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from infra.migrate.model import SourceError

Params = Mapping[str, str | int | Sequence[str]]

#: attempts per request (429 and 5xx and broken answers are retried; 401/403/404 are not)
ATTEMPTS = 6
#: the longest wait for one Retry-After before giving up (a source asking for more is told to the user)
MAX_RETRY_AFTER_S = 120.0


class RestClient:
    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        vendor: str,
        sleep: Callable[[float], None] = time.sleep,
        timeout_s: float = 30.0,
        attempts: int = ATTEMPTS,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("https", "http") or not parsed.netloc:
            raise SourceError(f"{vendor}: base URL {base_url!r} must be an absolute http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.vendor = vendor
        self.sleep = sleep
        self.timeout_s = timeout_s
        self.attempts = attempts
        #: how many requests were sent and how many were retried (the report prints them)
        self.requests = 0
        self.retries = 0

    def url(self, path: str, params: Params | None = None) -> str:
        if path.startswith(("http://", "https://")):
            return path  # a next-link the source gave us
        query = urllib.parse.urlencode(params or {}, doseq=True)
        return f"{self.base_url}{path}" + (f"?{query}" if query else "")

    def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        url = self.url(path, params)
        shown = url.split("?", 1)[0]
        last = ""
        for attempt in range(self.attempts):
            self.requests += 1
            request = urllib.request.Request(url, headers=self.headers, method="GET")  # noqa: S310  # scheme checked
            wait = min(8.0, 0.5 * 2**attempt)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                    body = response.read()
            except urllib.error.HTTPError as exc:
                status = exc.code
                if status in (401, 403):
                    raise SourceError(
                        f"{self.vendor} refused the token ({status} on GET {shown}): check that it is valid, "
                        "not expired, and may read users, teams, schedules, escalation policies and services"
                    ) from None
                if status == 404:
                    raise SourceError(f"{self.vendor}: GET {shown} answered 404; check the base URL") from None
                if status == 429:
                    wait = _retry_after(exc.headers.get("Retry-After"), wait)
                    if wait > MAX_RETRY_AFTER_S:
                        raise SourceError(
                            f"{self.vendor} is rate limiting (429) and asks to wait {wait:.0f} s; run again later"
                        ) from None
                    last = "429 rate limited"
                elif status >= 500:
                    last = f"{status} server error"
                else:
                    raise SourceError(f"{self.vendor}: GET {shown} answered {status}") from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"cannot connect ({reason})"
            else:
                try:
                    parsed = json.loads(body)
                except (ValueError, UnicodeDecodeError):
                    last = f"an incomplete or invalid JSON answer ({len(body)} bytes)"
                else:
                    if not isinstance(parsed, dict):
                        raise SourceError(f"{self.vendor}: GET {shown} did not answer a JSON object")
                    return parsed
            if attempt + 1 < self.attempts:
                self.retries += 1
                self.sleep(wait)
        raise SourceError(
            f"{self.vendor}: GET {shown} failed {self.attempts} times (last: {last}); nothing was written, "
            "run the import again"
        )

    def next_pages(self, path: str, params: Params | None = None) -> list[Any]:
        """Every item of a listing that links its next page (``paging.next``, Opsgenie); a link to another host is
        refused, so the token never leaves for somewhere the user did not name."""
        items: list[Any] = []
        url: str | None = self.url(path, params)
        base = urllib.parse.urlsplit(self.base_url)
        while url:
            link = urllib.parse.urlsplit(url)
            if (link.scheme, link.netloc) != (base.scheme, base.netloc):
                raise SourceError(f"{self.vendor}: a next-page link points to another host ({link.netloc})")
            page = self.get(url)
            got = page.get("data")
            if not isinstance(got, list):
                raise SourceError(f"{self.vendor}: GET {path} answered without a 'data' list")
            items += got
            url = (page.get("paging") or {}).get("next") if got else None
        return items

    def offset_pages(self, path: str, key: str, params: Params | None = None, limit: int = 100) -> list[Any]:
        """Every item of a classic offset/limit/more listing (PagerDuty)."""
        items: list[Any] = []
        offset = 0
        while True:
            page = self.get(path, {**(params or {}), "offset": offset, "limit": limit})
            got = page.get(key)
            if not isinstance(got, list):
                raise SourceError(f"{self.vendor}: GET {path} answered without a {key!r} list")
            items += got
            if not page.get("more") or not got:
                return items
            offset += len(got)


class DirectoryReader:
    """The same answers, saved by the user: ``<dir>/<API path>.json`` (PagerDuty's ``users.json``,
    ``schedules/P123.json``; Opsgenie's ``v2/users.json``...), each one answer or a JSON list of answers (the pages)."""

    def __init__(self, root: Path, vendor: str) -> None:
        if not root.is_dir():
            raise SourceError(f"{root} is not a directory of exported JSON files")
        self.root = root
        self.vendor = vendor

    def _load(self, path: str) -> list[dict[str, Any]]:
        file = self.root / (path.strip("/") + ".json")
        if not file.is_file():
            raise SourceError(f"{self.vendor} export: {file.name} is missing under {self.root} (GET {path})")
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceError(f"{self.vendor} export: {file} is not complete JSON ({exc})") from None
        pages = data if isinstance(data, list) else [data]
        if not all(isinstance(p, dict) for p in pages):
            raise SourceError(f"{self.vendor} export: {file} must hold an API answer or a list of them")
        return pages

    def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        return self._load(path)[0]

    def next_pages(self, path: str, params: Params | None = None) -> list[Any]:
        return self.offset_pages(path, "data")

    def offset_pages(self, path: str, key: str, params: Params | None = None, limit: int = 100) -> list[Any]:
        items: list[Any] = []
        for page in self._load(path):
            got = page.get(key)
            if not isinstance(got, list):
                raise SourceError(f"{self.vendor} export: {path}.json has no {key!r} list")
            items += got
        return items


def _retry_after(header: str | None, default: float) -> float:
    """Retry-After in seconds (the HTTP-date form is not used by these APIs; it falls back to the backoff)."""
    try:
        return max(0.0, float(header)) if header is not None else default
    except ValueError:
        return default
