"""Instants at the API's edge are RFC 3339 strings with an offset (docs/architecture.md, "Conventions").

pydantic's ``AwareDatetime`` also takes numbers (seconds since 1970, so ``?to=0.5`` meant 1970-01-01) and
date-time strings without the ``T``; ``Instant`` takes exactly what the OpenAPI document promises
(``format: date-time``) and answers anything else with a 422 naming the field. An instant must also lie between 1970
and 9000 in UTC: ``0001-01-01T00:00:00+11:12`` is valid RFC 3339 but has no UTC value, and an instant near either end
of ``datetime``'s range overflows as soon as a duration is added to it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

#: RFC 3339 §5.6 date-time: full-date "T" full-time, the offset required ("Z" or ±hh:mm)
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):  # built by our own code, not read from a request
        return value
    if isinstance(value, str) and RFC3339.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-03-01T09:00:00Z")


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("must lie between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339), AfterValidator(_in_range)]
