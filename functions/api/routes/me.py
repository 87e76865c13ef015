"""``/me``: the caller's own profile and password."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from oncall import wiring
from oncall.api.auth import current_principal, current_user
from oncall.domain.users import SELF_EDITABLE
from routes.identity_bodies import PasswordChangeIn, ProfileIn, TokenOut, UserOut, changes_of

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


@router.get("/me", tags=["me"], summary="The caller's profile")
def me() -> UserOut:
    return UserOut.of(current_user())


@router.patch("/me", tags=["me"], summary="Update display name, email, time zone, reminder offsets")
def patch_me(body: Annotated[ProfileIn, Body()]) -> UserOut:
    actor = current_user()
    return UserOut.of(wiring.core.user_service().update(actor, actor.id, changes_of(body, allow=SELF_EDITABLE)))


@router.post("/me/password", tags=["me"], summary="Change your password; other sessions end, this one gets new tokens")
def change_password(body: Annotated[PasswordChangeIn, Body()]) -> Response[TokenOut]:
    pair = wiring.core.auth_service().change_password(current_principal(), body.current_password, body.new_password)
    out: Response[Any] = Response(
        status_code=200,
        content_type="application/json",
        body=TokenOut.of(pair).model_dump(mode="json"),
        headers={"Cache-Control": "no-store"},
    )
    return out


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
