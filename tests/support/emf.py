"""CloudWatch Embedded Metric Format, as AWS specifies it: a JSON schema of the ``_aws`` metadata (the specification's
own, transcribed) and the rules the schema cannot say (every dimension a root string member, every metric a root
number or list of numbers). ``emf_lines`` finds the EMF objects in a log."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

_NAME = {"type": "string", "minLength": 1, "maxLength": 1024}
_UNITS = [
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits",
    "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
    "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
]  # fmt: skip

SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "properties": {
                            "Namespace": _NAME,
                            "Dimensions": {
                                "type": "array",
                                "items": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 30,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 250},
                                },
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "properties": {
                                        "Name": _NAME,
                                        "Unit": {"type": "string", "enum": _UNITS},
                                        "StorageResolution": {"type": "integer", "enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def validate(obj: dict[str, Any]) -> None:
    """Raise unless ``obj`` is a valid EMF object."""
    jsonschema.validate(obj, SCHEMA)
    for directive in obj["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            for name in dimension_set:
                assert isinstance(obj.get(name), str), f"dimension {name} is not a root string member"
        for metric in directive["Metrics"]:
            value = obj.get(metric["Name"])
            numbers = value if isinstance(value, list) else [value]
            assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers), metric["Name"]


def emf_lines(log: str) -> list[dict[str, Any]]:
    """Every EMF object in ``log`` (a JSON object with ``_aws``, wherever on its line it starts)."""
    found = []
    for line in log.splitlines():
        start = line.find('{"_aws"')
        if start >= 0:
            found.append(json.loads(line[start:]))
    return found
