"""List responses: cursor pagination and ``ETag`` / ``If-None-Match``.

Every list answers ``{"items": [...], "next_cursor": ...}``. The ETag is a hash of the exact body, so a client polling
an unchanged list gets a bodyless 304. Cursors are opaque to clients: base64url JSON of DynamoDB's
``LastEvaluatedKey``; a cursor that does not decode is a 422 naming ``cursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from oncall.domain.errors import InvalidInput

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(last_key: Mapping[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(dict(last_key), sort_keys=True, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor", "not a cursor this API issued") from None
    if not isinstance(value, dict):
        raise InvalidInput("cursor", "not a cursor this API issued")
    return value


def etag_of(body: str) -> str:
    return 'W/"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def list_response(headers: Mapping[str, str] | None, items: Sequence[Any], next_cursor: str | None) -> Response[Any]:
    """JSON list with an ETag; a bodyless 304 when the client's ``If-None-Match`` already names it."""
    from aws_lambda_powertools.event_handler import Response

    body = json.dumps({"items": list(items), "next_cursor": next_cursor}, separators=(",", ":"), default=str)
    etag = etag_of(body)
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    if_none_match = lowered.get("if-none-match")
    common = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if if_none_match is not None:
        candidates = {tag.strip() for tag in if_none_match.split(",")}
        weak = {c[2:] if c.startswith("W/") else c for c in candidates}
        if "*" in candidates or etag[2:] in weak:
            return Response(status_code=304, content_type=None, body="", headers=common)
    return Response(status_code=200, content_type="application/json", body=body, headers=common)
