"""Make the generated OpenAPI document say exactly what the API answers (docs/architecture.md, "How a request flows").

powertools derives parameters, bodies and the return model of each route, but documents every success as a 200
and every failure as FastAPI's ``{"detail": [...]}`` 422. ``complete`` rewrites the document from what the
routes declare (``Surface``): the real success status and its schema (lists, iCalendar, 201/202/204), every failure
the plumbing can answer with the one error envelope, and how to authenticate (a bearer scheme Swagger UI can
authorise with; public routes say they need nothing). The fuzzing test (``tests/e2e/test_api_fuzz.py``) holds the
document to it: an answer whose status or body the document does not allow fails the build.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ERROR = "Error"
BEARER = "bearer"
INTEGRATION_KEY = "integrationKey"
_REF = "#/components/schemas/"
_BODY_METHODS = {"post", "put", "patch"}
_MUTATING = _BODY_METHODS | {"delete"}
_POWERTOOLS_ONLY = ("HTTPValidationError", "ValidationError", "ResponseValidationError")

ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR,
    "type": "object",
    "description": "Every failure: a stable machine code, a sentence, and details (fields, limits, allowed values).",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "examples": ["validation_error"]},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}

#: what each failure status means here, the same on every operation that can answer it
FAILURES: dict[int, str] = {
    400: "Malformed request: body not JSON, not an object, not UTF-8, or a malformed header",
    401: "Missing, invalid or expired credentials",
    403: "Authenticated, but the role or ownership does not allow this",
    404: "The object (or one the body names) does not exist",
    409: "Conflicts with the current state (overlap, a race lost, a state that does not allow it)",
    413: "Request body too large",
    415: "Request body is not application/json",
    422: "Well-formed but invalid: the details name each field",
    429: "Too many requests; retry after Retry-After seconds",
    503: "Storage refused a write for capacity after retries: send the request again after Retry-After",
}


@dataclass(frozen=True)
class Surface:
    """What the routes declare beyond what powertools reads from their annotations. Keys are ``(METHOD, path)`` with
    OpenAPI path templates (``/users/{user_id}``)."""

    public: frozenset[tuple[str, str]]
    #: success statuses other than 200
    status: Mapping[tuple[str, str], int]
    #: list routes → the component schema of one item (``{"items": [...], "next_cursor": ...}``)
    lists: Mapping[tuple[str, str], str]
    #: routes that authenticate with an integration key as bearer
    integration_key: frozenset[tuple[str, str]] = frozenset()
    #: routes answering another media type (the schema is a string)
    media: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: extra component schemas the tables below refer to
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: routes whose success body has a schema given here rather than by an annotation
    bodies: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: routes that answer some statuses in a foreign shape (PagerDuty's): status → component
    foreign: Mapping[tuple[str, str], Mapping[int, str]] = field(default_factory=dict)
    #: what a status means on a route where ``FAILURES`` does not say it (readiness's 503): status → description
    meaning: Mapping[tuple[str, str], Mapping[int, str]] = field(default_factory=dict)
    #: routes of a feature a deployment may leave off (single sign-on): 404 while it is
    optional: frozenset[tuple[str, str]] = frozenset()
    #: pages for people (an SMS ack link): these statuses may also answer as an HTML page saying why
    pages: Mapping[tuple[str, str], Mapping[int, str]] = field(default_factory=dict)


def openapi_path(resolver_path: str) -> str:
    return re.sub(r"<(\w+)>", r"{\1}", resolver_path)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": dict(schema)}}}


def _failures(method: str, path: str, surface: Surface) -> Iterable[int]:
    if (method.upper(), path) == ("GET", "/health"):
        return ()
    codes = {400, 401, 403, 422, 429, 503}
    if "{" in path or method in _MUTATING or (method.upper(), path) in surface.optional:
        codes.add(404)
    if method in _MUTATING:
        codes.add(409)
    if method in _BODY_METHODS:
        codes |= {413, 415}
    return sorted(codes)


def _success(method: str, path: str, op: dict[str, Any], surface: Surface) -> dict[str, Any]:
    key = (method.upper(), path)
    generated = op.get("responses", {}).get("200", {})
    schema = generated.get("content", {}).get("application/json", {}).get("schema", {})
    status = surface.status.get(key, 200)
    if status == 204:
        return {"204": {"description": "Done; no content"}}
    if status == 302:
        location = {"Location": {"description": "where to go next", "schema": {"type": "string", "format": "uri"}}}
        return {"302": {"description": "A redirect", "headers": location}}
    if key in surface.lists:
        page = {
            "type": "object",
            "required": ["items", "next_cursor"],
            "additionalProperties": False,
            "properties": {
                "items": {"type": "array", "items": _ref(surface.lists[key])},
                "next_cursor": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "description": "pass as ?cursor= for the next page; null on the last one",
                },
            },
        }
        return {
            "200": _json(page, "One page, with an ETag"),
            "304": {"description": "Not modified: If-None-Match names the current ETag"},
        }
    if key in surface.media:
        media = surface.media[key]
        return {str(status): {"description": "The document", "content": {media: {"schema": {"type": "string"}}}}}
    if key in surface.bodies:
        schema = _ref(surface.bodies[key])
    described = {200: "Success", 201: "Created", 202: "Accepted"}.get(status, "Success")
    return {str(status): _json(schema, described)}


def complete(spec: Mapping[str, Any], surface: Surface) -> dict[str, Any]:
    """A copy of ``spec`` made exact (see the module docstring)."""
    out = copy.deepcopy(dict(spec))
    components = out.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas[ERROR] = ERROR_SCHEMA
    schemas.update({name: dict(s) for name, s in surface.schemas.items()})
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "an access token from POST /auth/login, /auth/refresh or GET /auth/oidc/callback, or an API token "
                "(och_..., POST /me/api-tokens)"
            ),
        },
        INTEGRATION_KEY: {
            "type": "http",
            "scheme": "bearer",
            "description": "a service's integration key (Alertmanager / Grafana deliveries)",
        },
    }
    out["security"] = [{BEARER: []}]
    for path, operations in out.get("paths", {}).items():
        for method, op in operations.items():
            key = (method.upper(), path)
            responses = _success(method, path, op, surface)
            foreign = surface.foreign.get(key, {})
            meaning = surface.meaning.get(key, {})
            for status in _failures(method, path, surface):
                shape = foreign.get(status, ERROR)
                responses[str(status)] = _json(_ref(shape), meaning.get(status, FAILURES[status]))
            for status, said in surface.pages.get(key, {}).items():
                page = responses.setdefault(str(status), {"description": said, "content": {}})
                page["content"]["text/html"] = {"schema": {"type": "string"}}
            op["responses"] = responses
            if key in surface.integration_key:
                op["security"] = [{INTEGRATION_KEY: []}]
            elif key in surface.public:
                op["security"] = []
    text = repr(out["paths"])
    for name in _POWERTOOLS_ONLY:
        if _REF + name not in text:
            schemas.pop(name, None)
    return out
