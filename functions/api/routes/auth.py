"""``/auth``: login, refresh, logout. Tokens are never cached by intermediaries (``Cache-Control: no-store``)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from oncall import wiring
from oncall.api.auth import current_principal
from routes.identity_bodies import LoginIn, RefreshIn, TokenOut

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _tokens(out: TokenOut) -> Response[Any]:
    return Response(
        status_code=200, content_type="application/json", body=out.model_dump(mode="json"), headers=_NO_STORE
    )


@router.post("/auth/login", tags=["auth"], summary="Log in; returns an access and a refresh token")
def login(body: Annotated[LoginIn, Body()]) -> Response[TokenOut]:
    source_ip = router.current_event.request_context.http.source_ip
    return _tokens(TokenOut.of(wiring.core.auth_service().login(body.username, body.password, source_ip)))


@router.post("/auth/refresh", tags=["auth"], summary="Trade a refresh token for a new pair (rotation)")
def refresh(body: Annotated[RefreshIn, Body()]) -> Response[TokenOut]:
    return _tokens(TokenOut.of(wiring.core.auth_service().refresh(body.refresh_token)))


@router.post("/auth/logout", tags=["auth"], summary="End this session (its refresh family and access tokens)")
def logout() -> Response[None]:
    wiring.core.auth_service().logout(current_principal())
    return Response(status_code=204, content_type=None, body=None)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
