"""Errors the domain and services raise. They name what went wrong, never an HTTP status: the API maps them in one
place (``oncall.api.errors``)."""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every expected failure. ``code`` is the stable snake_case identifier clients switch on."""

    code: ClassVar[str] = "domain_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(DomainError):
    """Well-formed but unacceptable input; ``field`` names the culprit (e.g. ``end`` before ``start``)."""

    code = "validation_error"

    def __init__(self, field: str, message: str, **details: Any) -> None:
        super().__init__(f"{field}: {message}", fields=[{"field": field, "message": message}], **details)
        self.field = field


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found", kind=kind, id=ident)


class Conflict(DomainError):
    """The request is valid but clashes with stored state (a taken name, an overlapping shift, a stale version)."""

    code = "conflict"


class ConcurrentUpdate(Conflict):
    """Optimistic concurrency lost too many times in a row; the client may retry."""

    code = "concurrent_update"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after
