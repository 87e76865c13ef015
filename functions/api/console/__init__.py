"""The web console: server-rendered pages over the API, served by the API function (docs/architecture.md, "Console").

Why the API function and not a ``web`` function of its own: a page is a handful of API calls, so a separate function
would import the same routes and services anyway and pay its own cold starts; in the API function a console visit
keeps the API warm and the other way round. The console's own modules (Jinja2 among them) are imported on the first
console request only, so alert intake and API cold starts do not grow (``bench/console.py`` measures both).

``handle`` answers ``GET /`` (a redirect to the console), ``/console`` and everything under it; it returns payload-2.0
responses that ``oncall.api.headers.secure`` finishes with the console's Content-Security-Policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

PREFIX = "/console"


def is_console(event: dict[str, Any]) -> bool:
    path = str(event.get("rawPath") or "")
    return path in ("/", PREFIX) or path.startswith(PREFIX + "/")


def handle(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    from console import dispatch

    return dispatch.handle(app, event, context)
