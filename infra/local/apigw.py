"""HTTP API (payload format 2.0) events and responses, built the way API Gateway builds them.

The runner turns each HTTP request into one of these events for the real handler; handler-level tests use the same
builder, and ``tests/functional/test_event_shapes.py`` holds it to a captured sample in ``tests/events/``.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from infra.topology import ROUTES, Route

#: the methods an HTTP API route can name; ``ANY`` stands for these, so another method (``TRACE``) matches nothing
HTTP_API_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def match_route(method: str, path: str, routes: tuple[Route, ...] = ROUTES) -> Route | None:
    """API Gateway's choice: the most specific route wins; ``ANY`` matches every HTTP API method; ``{proxy+}`` is
    greedy."""
    best: tuple[int, Route] | None = None
    if method.upper() not in HTTP_API_METHODS:
        return None
    for route in routes:
        if route.method not in ("ANY", method.upper()):
            continue
        score = _path_score(route.path, path)
        if score is None:
            continue
        score = score * 2 + (1 if route.method != "ANY" else 0)
        if best is None or score > best[0]:
            best = (score, route)
    return best[1] if best else None


def _path_score(pattern: str, path: str) -> int | None:
    p_parts = [p for p in pattern.split("/") if p]
    parts = [p for p in path.split("/") if p]
    score = 0
    for i, seg in enumerate(p_parts):
        if seg.endswith("+}"):
            return score if len(parts) > i else None
        if i >= len(parts):
            return None
        if seg.startswith("{"):
            score += 1
        elif seg == parts[i]:
            score += 3
        else:
            return None
    return score + 1 if len(parts) == len(p_parts) else None


def path_parameters(pattern: str, path: str) -> dict[str, str]:
    p_parts = [p for p in pattern.split("/") if p]
    parts = [p for p in path.split("/") if p]
    params: dict[str, str] = {}
    for i, seg in enumerate(p_parts):
        if seg.endswith("+}"):
            params[seg[1:-2]] = "/".join(parts[i:])
            break
        if seg.startswith("{"):
            params[seg[1:-1]] = parts[i]
    return params


def http_event(
    method: str,
    target: str,
    *,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    headers: Mapping[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    route: Route | None = None,
    stage: str = "$default",
    api_id: str = "local",
    account_id: str = "000000000000",
    domain: str = "127.0.0.1",
) -> dict[str, Any]:
    """A payload-2.0 event for ``method target`` (target = path plus optional query string)."""
    split = urlsplit(target)
    path = split.path or "/"
    raw_query = split.query
    hdrs: dict[str, str] = {}
    cookies: list[str] = []
    for key, value in (headers or {}).items():
        lk = key.lower()
        if lk == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        # API Gateway joins repeated headers with commas; callers pass them joined already.
        hdrs[lk] = value
    is_b64 = False
    text: str | None
    if body is None:
        text = None
    elif isinstance(body, (dict, list)):
        text = json.dumps(body)
        hdrs.setdefault("content-type", "application/json")
    elif isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
            # API Gateway passes text content types through as text, everything else base64.
            ct = hdrs.get("content-type", "")
            if ct and not (ct.startswith("text/") or "json" in ct or "xml" in ct or "form-urlencoded" in ct):
                text, is_b64 = base64.b64encode(body).decode(), True
        except UnicodeDecodeError:
            text, is_b64 = base64.b64encode(body).decode(), True
    else:
        text = body
    if text is not None:
        hdrs.setdefault("content-length", str(len(base64.b64decode(text)) if is_b64 else len(text.encode())))
    hdrs.setdefault("host", domain)
    hdrs.setdefault("x-forwarded-for", source_ip)
    hdrs.setdefault("x-forwarded-proto", "http")
    hdrs.setdefault("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}")
    route = route or match_route(method, path)
    route_key = route.route_key if route else "$default"
    query: dict[str, str] = {}
    for k, v in parse_qsl(raw_query, keep_blank_values=True):
        query[k] = f"{query[k]},{v}" if k in query else v
    now_ms = int(time.time() * 1000)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": quote(path, safe="/%:@!$&'()*+,;=-._~"),
        "rawQueryString": raw_query,
        "headers": hdrs,
        "requestContext": {
            "accountId": account_id,
            "apiId": api_id,
            "domainName": domain,
            "domainPrefix": domain.split(".")[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": hdrs.get("user-agent", ""),
            },
            "requestId": base64.b64encode(uuid.uuid4().bytes[:10]).decode(),
            "routeKey": route_key,
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now_ms / 1000)),
            "timeEpoch": now_ms,
        },
        "isBase64Encoded": is_b64,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if route and "{" in route.path:
        event["pathParameters"] = path_parameters(route.path, path)
    if text is not None:
        event["body"] = text
    return event


def parse_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """Interpret a handler's return value the way HTTP API does for payload format 2.0."""
    if not isinstance(result, dict) or "statusCode" not in result:
        body = json.dumps(result).encode()
        return 200, {"content-type": "application/json"}, body
    status = int(result["statusCode"])
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(v) for v in values)
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    cookies = result.get("cookies") or []
    if cookies:
        headers["set-cookie"] = cookies[0] if len(cookies) == 1 else "\n".join(cookies)
    return status, headers, body
