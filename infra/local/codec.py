"""DynamoDB JSON ↔ plain JSON for what the runner writes to disk (snapshot, journal): boto3 and moto hand binary
attributes over as bytes, which JSON cannot hold, so they travel as ``{"__b64__": <base64>}``."""

from __future__ import annotations

import base64
from typing import Any


def enc(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"__b64__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: enc(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [enc(v) for v in value]
    return value


def dec(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {k: dec(v) for k, v in value.items()}
    if isinstance(value, list):
        return [dec(v) for v in value]
    return value
