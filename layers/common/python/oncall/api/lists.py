"""List responses: cursor pagination and ``ETag`` / ``If-None-Match``.

Every list answers ``{"items": [...], "next_cursor": ...}``. The ETag is a hash of the exact body, so a client polling
an unchanged list gets a bodyless 304.

Cursors are opaque and tamper-evident (docs/architecture.md, "How a request flows"): the DynamoDB key a page ended
at, signed with an HMAC whose key is derived from the JWT signing key and whose message binds the cursor to the
request it was issued for (method, path, filters other than ``cursor`` and ``limit``, and the caller). A cursor
that was not issued by this API for this very list and caller — forged, edited, replayed on another route, with
other filters or by someone else — is a 422 naming ``cursor``, never a key handed to DynamoDB. The signing key's
``kid`` travels in the cursor so a key rotation keeps outstanding cursors valid while the old key is kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from oncall.domain.errors import InvalidInput

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

#: query parameters that change a page, not the list: a cursor stays valid when only these differ
_PAGING = frozenset({"cursor", "limit"})
_KEY_LABEL = b"oncall/list-cursor/v1"
_MAC_BYTES = 16
#: what the current request's cursors are bound to; set by ``middleware`` (after auth, which names the caller)
_scope: ContextVar[str] = ContextVar("oncall_cursor_scope", default="")


def scope_of(method: str, path: str, query: Mapping[str, str] | None, caller: str | None) -> str:
    filters = sorted((k, v) for k, v in (query or {}).items() if k not in _PAGING)
    return json.dumps([method.upper(), path, filters, caller or ""], separators=(",", ":"))


def middleware(
    app: APIGatewayHttpResolver, next_middleware: Callable[[APIGatewayHttpResolver], Response[Any]]
) -> Response[Any]:
    event = app.current_event
    principal = app.context.get("principal_id")
    reset = _scope.set(scope_of(event.http_method, event.path, event.query_string_parameters, principal))
    try:
        return next_middleware(app)
    finally:
        _scope.reset(reset)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cursor_key(kid: str | None) -> tuple[str, bytes] | None:
    """(kid, key) for signing (``kid`` None: the current key) or verifying; None when ``kid`` is unknown."""
    from oncall import wiring

    keys = wiring.core.key_source().get()
    if kid is None:
        kid, material = keys.signing_key()
    else:
        found = keys.verification_key(kid)
        if found is None:
            return None
        material = found
    return kid, hmac.new(material, _KEY_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _scope.get().encode() + b"\n" + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(last_key: Mapping[str, Any] | None) -> str | None:
    if not last_key:
        return None
    signer = _cursor_key(None)
    assert signer is not None  # the current key always exists (KeySet guarantees it)
    kid, key = signer
    payload = json.dumps({"kid": kid, "key": dict(last_key)}, sort_keys=True, separators=(",", ":"), default=str)
    raw = payload.encode()
    return _b64(raw) + "." + _b64(_mac(key, raw))


def _refuse() -> InvalidInput:
    return InvalidInput("cursor", "not a cursor this API issued for this list")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    body, dot, mac = cursor.partition(".")
    if not dot:
        raise _refuse()
    try:
        raw, given = _unb64(body), _unb64(mac)
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _refuse() from None
    if not isinstance(value, dict) or not isinstance(value.get("kid"), str) or not isinstance(value.get("key"), dict):
        raise _refuse()
    verifier = _cursor_key(value["kid"])
    if verifier is None or not hmac.compare_digest(_mac(verifier[1], raw), given):
        raise _refuse()
    return dict(value["key"])


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
