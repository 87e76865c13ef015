"""Checks made on the raw API Gateway event before routing.

They catch what the resolver would otherwise turn into a 500 or silently accept: oversized bodies, bodies that are not
UTF-8, JSON that does not parse, JSON whose top level is not an object. The event is normalised in place (a base64
body is decoded) so the resolver sees text.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from oncall.api.errors import raw_error

_BODY_METHODS = {"POST", "PUT", "PATCH"}


def precheck(event: dict[str, Any], max_body_bytes: int) -> dict[str, Any] | None:
    """Return an error response for a request that cannot be processed, or None after normalising ``event``."""
    body = event.get("body")
    if body is None or body == "":
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

    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if method in _BODY_METHODS and (content_type == "application/json" or content_type.endswith("+json")):
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


def _too_large(limit: int) -> dict[str, Any]:
    return raw_error(413, "body_too_large", f"request body exceeds {limit} bytes", {"limit_bytes": limit})
