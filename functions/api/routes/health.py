"""``GET /health/ready``: can this deployment serve? For a load balancer, a deploy pipeline or an uptime monitor.

``/health`` (``routes.meta``) says only that the function runs: free, public, and silent about everything behind it.
Readiness asks each dependency the API needs (its tables, the bus, the incident-lifecycle state machine) for a cheap
describe (``oncall.services.readiness``), so it costs AWS calls and says which parts of the system exist: it is a
monitoring route (``oncall.api.auth.MONITORING``), open to the metrics bearer token or a signed-in admin.
Not ready is a 503 with the same body, so a monitor that reads only the status still acts on it.
"""

from __future__ import annotations

from typing import Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, Field

from oncall import wiring
from oncall.api.auth import require_monitor
from oncall.services.readiness import Check

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


class CheckOut(BaseModel):
    name: str = Field(description="the dependency: table:<logical name>, bus, state-machine:<name>")
    ok: bool
    latency_ms: float = Field(description="how long its answer took (the deadline, when it gave none)")
    #: left out of a check that passed
    error: str | None = Field(
        None,
        description="why it failed: an AWS error code or an exception class name, never a message",
        exclude_if=lambda value: value is None,
    )

    @classmethod
    def of(cls, check: Check) -> CheckOut:
        return cls(name=check.name, ok=check.ok, latency_ms=check.latency_ms, error=check.error)


class ReadinessOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: list[CheckOut]


@router.get(
    "/health/ready",
    tags=["meta"],
    summary="Readiness: every table, the bus and the lifecycle state machine answer (metrics token or admin)",
)
def ready() -> tuple[ReadinessOut, int]:
    require_monitor()
    result = wiring.core.readiness().run()
    out = ReadinessOut(status="ready" if result.ready else "not_ready", checks=[CheckOut.of(c) for c in result.checks])
    return out, 200 if result.ready else 503


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
