"""Catalog and incident helpers for handler-level tests (inside the ``aws`` fixture or an emulator)."""

from __future__ import annotations

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
