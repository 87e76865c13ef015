"""One powertools ``Router`` per resource, registered on the app when a request first needs it.

A request loads only the modules that serve its path's first segment (``SEGMENTS``), so a cold start pays for the
resource it answers, not for the whole API (each module builds its request and response models at import);
``/openapi.json`` and ``/docs`` load them all. Every module of a segment is loaded together, so 404 and 405 (and the
auth precheck's reading of the route table) see every route that could match the path.
``tests/unit/test_route_segments.py`` checks that every route's first segment names its module here.
"""

from __future__ import annotations

import importlib
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

#: every route module, in the order the app registers them (a segment's modules keep this order)
MODULES = (
    "meta",
    "health",
    "auth",
    "sso",
    "me",
    "users",
    "people",
    "teams",
    "schedules",
    "calendar",
    "services",
    "routing",
    "incidents",
    "webhooks",
    "notification_rules",
    "sms",
    "ingest",
    "audit",
    "api_tokens",
    "metrics",
)

#: the route modules serving each first path segment; a path whose segment is not here matches no route (404).
#: The API document's paths load every module, as the document describes every route.
SEGMENTS: dict[str, tuple[str, ...]] = {
    "health": ("meta", "health"),
    "openapi.json": MODULES,
    "docs": MODULES,
    "auth": ("auth", "sso"),
    "me": ("me", "schedules", "notification_rules", "sms", "api_tokens"),
    "users": ("users", "calendar", "api_tokens"),
    "people": ("people",),
    "teams": ("teams",),
    "schedules": ("schedules", "calendar"),
    "services": ("services", "routing"),
    "escalation-policies": ("services",),
    "silences": ("routing",),
    "maintenance-windows": ("routing",),
    "alerts": ("routing",),
    "incidents": ("incidents",),
    "analytics": ("incidents",),
    "webhooks": ("webhooks",),
    "sms": ("sms",),
    "v2": ("ingest",),
    "integrations": ("ingest",),
    "audit": ("audit",),
    "service-accounts": ("api_tokens",),
    "metrics": ("metrics",),
}

_registered: weakref.WeakKeyDictionary[APIGatewayHttpResolver, set[str]] = weakref.WeakKeyDictionary()


def segment(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def register(app: APIGatewayHttpResolver, names: tuple[str, ...]) -> None:
    done = _registered.setdefault(app, set())
    for name in sorted(set(names) - done, key=MODULES.index):
        importlib.import_module(f"routes.{name}").register(app)
        done.add(name)


def register_for(app: APIGatewayHttpResolver, path: str) -> None:
    """Register the modules that serve ``path`` (a resolver path, stage prefix removed) unless they are already."""
    names = SEGMENTS.get(segment(path))
    if names:
        register(app, names)


def register_all(app: APIGatewayHttpResolver) -> None:
    register(app, MODULES)
