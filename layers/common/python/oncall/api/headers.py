"""Response headers every API answer carries, and CORS (docs/architecture.md, "How a request flows").

Applied to the final response, whoever produced it (the resolver, a precheck's 401/413/415), so no path escapes:

- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY`` and a
  ``Content-Security-Policy`` that forbids everything (JSON needs nothing) with ``frame-ancestors 'none'``;
- the web console (``/`` and ``/console/...``) gets a policy allowing its own scripts, styles and fetches from this
  origin only (no inline script or style at all), forms posting only here, and no framing;
- an SMS ack link's page (``/sms/ack/...``, no script, no style) may post its one form back here, nothing else;
- ``/docs`` (Swagger UI, its assets inlined) gets a policy that allows exactly its own inline scripts, by hash, and
  fetching the document from this origin;
- ``Strict-Transport-Security`` when the request came over HTTPS (``X-Forwarded-Proto``, set by API Gateway and by
  the local runner's gateway); never over plain HTTP, where a browser ignores it anyway;
- ``Cache-Control: no-store`` on every answer to a request that carried credentials (``Authorization``): nothing
  personal lands in a shared or disk cache. ETags still let a client that keeps its own copy poll cheaply.

CORS is off unless ``ONCALL_CORS_ORIGINS`` lists origins: a browser on an allowed origin gets
``Access-Control-Allow-Origin`` naming it (never ``*``, never credentials: the API takes bearer tokens, not
cookies) and its preflight ``OPTIONS`` answered with 204; any other origin gets no CORS header, so browsers refuse
to hand it the response.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from typing import Any

JSON_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000; includeSubDomains"
DOCS_PATH = "/docs"
CONSOLE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: the SMS ack link's confirmation page: plain HTML whose only ability is posting its form to this origin
ACK_PAGE_POLICY = "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
ACK_PAGE_PREFIX = "/sms/ack/"
#: request headers a browser may send cross-origin, and response headers it may read
ALLOW_HEADERS = "authorization, content-type, idempotency-key, if-none-match"
EXPOSE_HEADERS = "etag, retry-after, idempotent-replayed, www-authenticate, allow"
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
#: an inline script ends at the first ``</script`` whatever it contains: the browser's rule, hence the regex
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script", re.S | re.I)


def _lowered(event: dict[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def origins(setting: str | None) -> frozenset[str]:
    return frozenset(o.strip().lower().rstrip("/") for o in (setting or "").split(",") if o.strip())


def allowed_origin(event: dict[str, Any], allow: frozenset[str]) -> str | None:
    origin = _lowered(event).get("origin")
    return origin if origin is not None and origin.lower().rstrip("/") in allow else None


def preflight(event: dict[str, Any], allow: frozenset[str]) -> dict[str, Any] | None:
    """A 204 for a CORS preflight from an allowed origin; None for anything else (the resolver answers it)."""
    http = (event.get("requestContext") or {}).get("http") or {}
    if str(http.get("method", "")).upper() != "OPTIONS":
        return None
    origin = allowed_origin(event, allow)
    if origin is None or "access-control-request-method" not in _lowered(event):
        return None
    headers = {
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": "600",
    }
    return {"statusCode": 204, "headers": headers, "body": "", "isBase64Encoded": False}


@lru_cache(maxsize=2)
def docs_policy(html: str) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.finditer(html)
    )
    # Swagger UI styles its elements with style attributes, which only 'unsafe-inline' allows (a hash would disable it)
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def secure(event: dict[str, Any], response: dict[str, Any], allow: frozenset[str]) -> dict[str, Any]:
    """``response`` (API Gateway payload 2.0) with the security headers and, for an allowed origin, CORS."""
    request = _lowered(event)
    headers = dict(response.get("headers") or {})
    present = {k.lower(): k for k in headers}

    def put(name: str, value: str) -> None:
        headers.pop(present.get(name.lower(), name), None)
        headers[name] = value

    put("X-Content-Type-Options", "nosniff")
    put("Referrer-Policy", "no-referrer")
    put("X-Frame-Options", "DENY")
    path = str(event.get("rawPath") or "")
    body = response.get("body")
    html = headers.get(present.get("content-type", "Content-Type"), "").startswith("text/html")
    if path == DOCS_PATH and html and isinstance(body, str) and not response.get("isBase64Encoded"):
        put("Content-Security-Policy", docs_policy(body))
    elif path == "/" or path == "/console" or path.startswith("/console/"):
        put("Content-Security-Policy", CONSOLE_POLICY)
    elif path.startswith(ACK_PAGE_PREFIX) and html:
        put("Content-Security-Policy", ACK_PAGE_POLICY)
    else:
        put("Content-Security-Policy", JSON_POLICY)
    if request.get("x-forwarded-proto", "").lower() == "https":
        put("Strict-Transport-Security", HSTS)
    if "authorization" in request:
        put("Cache-Control", "no-store")
    origin = allowed_origin(event, allow)
    if origin is not None:
        put("Access-Control-Allow-Origin", origin)
        put("Access-Control-Expose-Headers", EXPOSE_HEADERS)
    if allow:
        vary = headers.get(present.get("vary", "Vary"))
        put("Vary", f"{vary}, Origin" if vary else "Origin")
    return {**response, "headers": headers}
