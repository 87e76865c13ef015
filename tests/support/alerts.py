"""Helpers for alert-ingestion tests: samples from tests/events, a service with its integration key, table counts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3

from tests.support.identity import Session
from tests.support.incidents import make_policy, make_service, user_level

EVENTS = Path(__file__).resolve().parent.parent / "events"


def sample(name: str) -> dict[str, Any]:
    """A captured or documented payload from tests/events (a fresh copy each time)."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return copy.deepcopy(data)


def pd_body(action: str, key: str, **changes: Any) -> dict[str, Any]:
    """The official PagerDuty client's captured request body, with our integration key."""
    body = sample(f"pagerduty-client-7.2-{action}.json")["body"]
    body["routing_key"] = key
    body.update(changes)
    return body


def alertmanager_body(name: str = "firing") -> dict[str, Any]:
    return sample(f"alertmanager-0.25-{name}.json")["body"]


def new_service(admin: Session, responder: Session, name: str = "checkout") -> tuple[str, str]:
    """(service id, integration key) of a new service paging ``responder``."""
    policy = make_policy(admin.headers, [user_level(responder.user.id, 60)], name=f"{name}-policy")
    service = make_service(admin.headers, policy["id"], name=name)
    return str(service["id"]), str(service["integration_key"])


def items(table: str, prefix: str | None = None) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": f"oncall-{table}"}
    while True:
        out = client.scan(**kwargs)
        found += out.get("Items", [])
        if "LastEvaluatedKey" not in out:
            break
        kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
    if prefix is not None:
        found = [i for i in found if str(i["pk"]["S"]).startswith(prefix)]
    return found


def incident_metas() -> list[dict[str, Any]]:
    return [i for i in items("incidents") if i["sk"]["S"] == "META"]
