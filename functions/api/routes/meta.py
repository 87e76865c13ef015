"""Unauthenticated service routes: health, the OpenAPI document and Swagger UI (assets inlined, no CDN)."""

from __future__ import annotations

import json
from functools import cache

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

TITLE = "OnCall Hub"
VERSION = "0.1.0"
DESCRIPTION = (
    'On-call schedules, incidents and escalations. Errors are `{"error": {"code", "message", "details"}}`; '
    'lists are `{"items", "next_cursor"}` with `ETag`; creating POSTs honour `Idempotency-Key`.'
)

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


class Health(BaseModel):
    status: str
    version: str


@router.get("/health", tags=["meta"], summary="Liveness")
def health() -> Health:
    return Health(status="ok", version=VERSION)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)

    @cache
    def spec() -> str:
        return json.dumps(
            app.get_openapi_schema(title=TITLE, version=VERSION, description=DESCRIPTION).model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi():  # type: ignore[no-untyped-def]  # powertools derives schemas from annotations
        return Response(status_code=200, content_type="application/json", body=spec())

    app.enable_swagger(path="/docs", title=TITLE, version=VERSION, description=DESCRIPTION)
