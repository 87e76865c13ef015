"""Call real handlers in-process with real event shapes (handler-level functional tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from infra.local.apigw import http_event, parse_response
from infra.local.context import LambdaContext
from infra.local.loader import load_handler


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    def header(self, name: str) -> str | None:
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return None


def call_api(method: str, target: str, function: str = "api", **kwargs: Any) -> HttpResult:
    event = http_event(method, target, **kwargs)
    result = load_handler(function)(event, LambdaContext(function_name=function))
    return HttpResult(*parse_response(result))


def call_raw(event: dict[str, Any], function: str = "api") -> HttpResult:
    result = load_handler(function)(event, LambdaContext(function_name=function))
    return HttpResult(*parse_response(result))


def call_as(who: Any, method: str, path: str, body: Any = None) -> HttpResult:
    """``call_api`` as ``who`` (a session with ``headers``; None: anonymous), a body sent as JSON."""
    headers = dict(who.headers) if who else {}
    if body is None:
        return call_api(method, path, headers=headers)
    headers["content-type"] = "application/json"
    return call_api(method, path, headers=headers, body=json.dumps(body))
