"""Catalog and incident helpers for handler-level tests (inside the ``aws`` fixture or an emulator)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tests.support.lambdas import HttpResult, call_api


def ok(result: HttpResult, status: int = 200) -> Any:
    assert result.status == status, (result.status, result.raw[:500])
    return result.json


def make_policy(admin: dict[str, str], levels: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    body = {"name": extra.pop("name", "primary"), "levels": levels, **extra}
    return ok(call_api("POST", "/escalation-policies", headers=admin, body=body), 201)  # type: ignore[no-any-return]


def make_service(admin: dict[str, str], policy_id: str, name: str = "payments") -> dict[str, Any]:
    body = {"name": name, "escalation_policy_id": policy_id}
    return ok(call_api("POST", "/services", headers=admin, body=body), 201)  # type: ignore[no-any-return]


def open_incident(headers: dict[str, str], service_id: str, **extra: Any) -> dict[str, Any]:
    body = {"title": extra.pop("title", "Checkout returns 502"), "service_id": service_id, "severity": "high", **extra}
    return ok(call_api("POST", "/incidents", headers=headers, body=body), 201)  # type: ignore[no-any-return]


def user_level(user_id: str, timeout: int) -> dict[str, Any]:
    return {"targets": [{"type": "user", "id": user_id}], "timeout_seconds": timeout}


def stored_incidents(team: str, service_id: str, count: int, start: datetime, offset: int = 0) -> None:
    """``count`` incidents of ``team`` on ``service_id`` (one in three acknowledged, the rest triggered), stored as the
    incident store lays them out and written in batches: for tests and benches of what reads them, not of what opens
    them."""
    import boto3

    from oncall.adapters.dynamodb import kit
    from oncall.adapters.dynamodb.incident_items import alerts_item, incident_item
    from oncall.domain.incidents import Incident, Severity, Source, Status
    from oncall.services.incidents import new_id

    items = []
    for n in range(offset, offset + count):
        at = start + timedelta(seconds=n)
        incident = Incident(
            id=new_id(),
            title=f"Alert {n}",
            service_id=service_id,
            severity=Severity.HIGH,
            source=Source.OPERATOR,
            status=Status.TRIGGERED if n % 3 else Status.ACKNOWLEDGED,
            created_at=at,
            updated_at=at,
            team_id=team,
        )
        items += [incident_item(incident), alerts_item(incident)]
    client = boto3.client("dynamodb", region_name="us-east-1")
    kit.batch_write(client, "oncall-incidents", [{"PutRequest": {"Item": i}} for i in items])
