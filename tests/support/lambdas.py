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


def in_a_fresh_api_interpreter(probe: str) -> str:
    """Run ``probe`` in a new interpreter set up as the API's Lambda would be (layer and code folder first on
    ``sys.path[:2]``, via its argv, a bare environment); its stdout. For what only a cold start shows: imports."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-c", probe, str(root / "layers" / "common" / "python"), str(root / "functions" / "api")],
        capture_output=True,
        text=True,
        check=True,
        env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin", "ONCALL_ENV": "test"},
    ).stdout
