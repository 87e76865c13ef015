"""Checks made on the raw API Gateway event before routing.

They catch what the resolver would otherwise turn into a 500 or silently accept: oversized bodies, bodies that are not
UTF-8, bodies that are not declared JSON (415: media types compare case-insensitively and may carry parameters, so
``APPLICATION/JSON; charset=utf-8`` is JSON; ``text/plain``, ``application/merge-patch+json`` or a form are not),
JSON that does not parse, JSON whose top level is not an object. The event is normalised in place (a base64 body is
decoded, the JSON media type lower-cased) so the resolver sees text it can read.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from oncall.api.errors import raw_error

_BODY_METHODS = {"POST", "PUT", "PATCH"}
JSON = "application/json"


def precheck(event: dict[str, Any], max_body_bytes: int) -> dict[str, Any] | None:
    """Return an error response for a request that cannot be processed, or None after normalising ``event``."""
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    body = event.get("body")
    if body is None or body == "":
        # nothing to refuse; a route that needs a body still reads the declared type (415 from the resolver)
        _json_media_type(event)
        return None
    if not isinstance(body, str):
        return raw_error(400, "malformed_request", "request body must be text")
    if event.get("isBase64Encoded"):
        if len(body) > (max_body_bytes * 4) // 3 + 4:
            return _too_large(max_body_bytes)
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return raw_error(400, "malformed_request", "request body is not valid base64")
    else:
        raw = body.encode("utf-8", "surrogatepass")
    if len(raw) > max_body_bytes:
        return _too_large(max_body_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return raw_error(400, "invalid_encoding", "request body is not valid UTF-8", {"offset": exc.start})
    event["body"] = text
    event["isBase64Encoded"] = False

    if method in _BODY_METHODS:
        refused = _json_media_type(event)
        if refused is not None:
            return refused
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            detail = {"line": exc.lineno, "column": exc.colno} if isinstance(exc, json.JSONDecodeError) else {}
            return raw_error(400, "malformed_json", "request body is not valid JSON", detail)
        if not isinstance(parsed, dict):
            return raw_error(
                400, "body_not_object", "request body must be a JSON object", {"got": type(parsed).__name__}
            )
    return None


def _json_media_type(event: dict[str, Any]) -> dict[str, Any] | None:
    """A 415 unless the body is declared JSON (or not declared at all); the declared type is rewritten lower-case,
    which is how the resolver recognises JSON."""
    headers = event.get("headers") or {}
    name = next((k for k in headers if str(k).lower() == "content-type"), None)
    if name is None:
        return None
    media, sep, params = str(headers[name]).partition(";")
    media = media.strip().lower()
    if media != JSON:
        return raw_error(
            415,
            "unsupported_media_type",
            f"request body must be {JSON}",
            {"content_type": media[:100], "accepted": [JSON]},
        )
    del headers[name]
    headers["content-type"] = JSON + sep + params
    return None


def _too_large(limit: int) -> dict[str, Any]:
    return raw_error(413, "body_too_large", f"request body exceeds {limit} bytes", {"limit_bytes": limit})
