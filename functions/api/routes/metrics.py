"""``GET /metrics``: the Prometheus text exposition (``oncall.services.metrics``). A scraper presents the metrics
token as a bearer token (``oncall.api.auth.MONITORING``); a signed-in admin may read it too."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from oncall import wiring
from oncall.api.auth import require_monitor
from oncall.domain.prometheus import CONTENT_TYPE

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


@router.get("/metrics", tags=["meta"], summary="Prometheus metrics (the metrics token, or an admin)")
def metrics() -> Response[str]:
    require_monitor()
    return Response(
        status_code=200,
        content_type=CONTENT_TYPE,
        body=wiring.incidents.metrics_service().scrape(),
        headers={"Cache-Control": "no-store"},
    )


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
