"""Instants at the API's edge are RFC 3339 strings with an offset (docs/architecture.md, "Conventions").

pydantic's ``AwareDatetime`` also takes numbers (seconds since 1970, so ``?to=0.5`` meant 1970-01-01) and
date-time strings without the ``T``; ``Instant`` takes exactly what the OpenAPI document promises
(``format: date-time``) and answers anything else with a 422 naming the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BeforeValidator

#: RFC 3339 §5.6 date-time: full-date "T" full-time, the offset required ("Z" or ±hh:mm)
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):  # built by our own code, not read from a request
        return value
    if isinstance(value, str) and RFC3339.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-03-01T09:00:00Z")


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
