"""The console's only data path: the API itself, called in-process.

Each page asks the API's resolver what a curl user would ask (``GET /schedules/{id}/oncall``...), with the session's
bearer token, so validation, roles, team scope, audit and error envelopes are exactly the API's: a viewer's forged form
post meets the same 403 a viewer's curl does, and no second data path can drift from the first. The event is a
payload-2.0 event derived from the browser's request (source IP, protocol, request id), so rate limits and logs name
the real caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from oncall.api import auth

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from oncall.services.auth import Principal


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> dict[str, Any]:
        """The API's error envelope (``{"code", "message", "details"}``), or an empty one."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return dict(self.body["error"])
        return {}

    @property
    def message(self) -> str:
        return str(self.error.get("message") or f"the request failed ({self.status})")


class ApiClient:
    def __init__(
        self,
        app: APIGatewayHttpResolver,
        outer: dict[str, Any],
        context: Any,
        principal: Principal | None = None,
        bearer: str | None = None,
    ) -> None:
        self._app = app
        self._outer = outer
        self._context = context
        self.principal = principal
        self._bearer = bearer

    def signed_in(self, principal: Principal, bearer: str) -> ApiClient:
        return ApiClient(self._app, self._outer, self._context, principal, bearer)

    def get(self, path: str, **query: Any) -> Answer:
        return self.call("GET", path, query=query)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Answer:
        return self.call("POST", path, body=body)

    def patch(self, path: str, body: dict[str, Any]) -> Answer:
        return self.call("PATCH", path, body=body)

    def delete(self, path: str) -> Answer:
        return self.call("DELETE", path)

    def call(
        self, method: str, path: str, *, query: dict[str, Any] | None = None, body: dict[str, Any] | None = None
    ) -> Answer:
        event = self._event(method, path, {k: str(v) for k, v in (query or {}).items() if v not in (None, "")}, body)
        if self.principal is not None:
            result = auth.resolve_as(self._app, self.principal, event, self._context)
        else:
            result = self._app.resolve(event, self._context)
        raw = result.get("body") or ""
        try:
            parsed = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            parsed = raw
        headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        return Answer(int(result["statusCode"]), parsed, headers)

    def _event(self, method: str, path: str, query: dict[str, str], body: dict[str, Any] | None) -> dict[str, Any]:
        outer_headers = {str(k).lower(): str(v) for k, v in (self._outer.get("headers") or {}).items()}
        headers = {
            k: v
            for k, v in outer_headers.items()
            if k in ("host", "x-forwarded-for", "x-forwarded-proto", "user-agent")
        }
        if self._bearer:
            headers["authorization"] = f"Bearer {self._bearer}"
        if body is not None:
            headers["content-type"] = "application/json"
        context = dict(self._outer.get("requestContext") or {})
        context["http"] = {**(context.get("http") or {}), "method": method, "path": path}
        context["routeKey"] = "ANY /{proxy+}"
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "ANY /{proxy+}",
            "rawPath": path,
            "rawQueryString": urlencode(query),
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": False,
        }
        if query:
            event["queryStringParameters"] = query
        if body is not None:
            event["body"] = json.dumps(body)
        return event
