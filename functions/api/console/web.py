"""Request and response plumbing for the console: form parsing, HTML answers, redirects, error pages."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

#: a console form is a few fields; anything larger is refused before it is parsed
MAX_FORM_BYTES = 16 * 1024


class FormTooLarge(Exception):
    pass


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: dict[str, str]
    event: dict[str, Any]
    #: path parameters of the matched page
    params: dict[str, str] = field(default_factory=dict)

    @property
    def request_id(self) -> str:
        return str((self.event.get("requestContext") or {}).get("requestId") or "")

    @property
    def https(self) -> bool:
        headers = {str(k).lower(): str(v) for k, v in (self.event.get("headers") or {}).items()}
        return headers.get("x-forwarded-proto", "").lower() == "https"


def form_of(event: dict[str, Any]) -> dict[str, str]:
    body = event.get("body")
    if not body:
        return {}
    if event.get("isBase64Encoded"):
        if len(body) > MAX_FORM_BYTES * 4 // 3 + 4:
            raise FormTooLarge
        try:
            text = base64.b64decode(body, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return {}
    else:
        text = str(body)
    if len(text.encode()) > MAX_FORM_BYTES:
        raise FormTooLarge
    out: dict[str, str] = {}
    try:
        fields = parse_qsl(text, keep_blank_values=True, max_num_fields=100)
    except ValueError:  # more fields than any console form has
        raise FormTooLarge from None
    for key, value in fields:
        out.setdefault(key, value)
    return out


def html(status: int, body: str, cookies: list[str] | None = None) -> dict[str, Any]:
    # no-store: after sign-out the back button must not show a page from the disk or back/forward cache
    response: dict[str, Any] = {
        "statusCode": status,
        "headers": {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
        "body": body,
        "isBase64Encoded": False,
    }
    if cookies:
        response["cookies"] = list(cookies)
    return response


def redirect(location: str, cookies: list[str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "statusCode": 303,
        "headers": {"Location": location, "Cache-Control": "no-store"},
        "body": "",
        "isBase64Encoded": False,
    }
    if cookies:
        response["cookies"] = list(cookies)
    return response


def safe_next(target: str | None) -> str:
    """Only a path of this console: never an open redirect to another site (``//evil``, ``/\\evil``, a scheme)."""
    if not target or not target.startswith("/console") or target.startswith("//") or "\\" in target:
        return "/console"
    return target
