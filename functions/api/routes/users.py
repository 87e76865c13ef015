"""``/users``: administration (admin), self read/update, Telegram link codes."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from oncall import wiring
from oncall.api.auth import current_user
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.domain.users import ADMIN_EDITABLE
from oncall.services.users import NewUser
from routes.identity_bodies import LinkCodeOut, UserCreateIn, UserOut, UserPatchIn, changes_of

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


@router.post("/users", tags=["users"], summary="Create a user (admin); honours Idempotency-Key")
def create_user(body: Annotated[UserCreateIn, Body()]) -> tuple[UserOut, int]:
    new = NewUser(
        username=body.username,
        password=body.password,
        role=body.role,
        display_name=body.display_name,
        email=body.email,
        timezone=body.timezone,
        teams={t: r.value for t, r in body.teams.items()} if body.teams is not None else None,
        **({"reminder_offsets_minutes": tuple(body.reminder_offsets_minutes)} if body.reminder_offsets_minutes else {}),
    )
    return UserOut.of(wiring.core.user_service().create(current_user(), new)), 201


@router.get("/users", tags=["users"], summary="List users by username (admin)")
def list_users(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    users, last = wiring.core.user_service().list(current_user(), limit, decode_cursor(cursor))
    items = [UserOut.of(u).model_dump(mode="json") for u in users]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/users/<user_id>", tags=["users"], summary="Read a user (admin, or yourself)")
def get_user(user_id: str) -> UserOut:
    return UserOut.of(wiring.core.user_service().get(current_user(), user_id))


@router.patch("/users/<user_id>", tags=["users"], summary="Update a user (admin; yourself: profile fields only)")
def patch_user(user_id: str, body: Annotated[UserPatchIn, Body()]) -> UserOut:
    changes = changes_of(body, allow=ADMIN_EDITABLE)
    password = body.password if "password" in body.model_fields_set else None
    return UserOut.of(wiring.core.user_service().update(current_user(), user_id, changes, password=password))


@router.delete("/users/<user_id>", tags=["users"], summary="Delete a user (admin); their sessions end at once")
def delete_user(user_id: str) -> Response[None]:
    wiring.core.user_service().delete(current_user(), user_id)
    return Response(status_code=204, content_type=None, body=None)


@router.post(
    "/users/<user_id>/disable",
    tags=["users"],
    summary="Offboard a person (admin): sessions and API tokens end at once, nobody pages them",
)
def disable_user(user_id: str) -> UserOut:
    return UserOut.of(wiring.core.user_service().disable(current_user(), user_id))


@router.post("/users/<user_id>/enable", tags=["users"], summary="Enable a disabled person again (admin)")
def enable_user(user_id: str) -> UserOut:
    return UserOut.of(wiring.core.user_service().enable(current_user(), user_id))


@router.post(
    "/users/<user_id>/telegram-link",
    tags=["users"],
    summary="One-time code (10 min) to link a Telegram chat: send /start <code> to the bot",
)
def telegram_link(user_id: str) -> tuple[LinkCodeOut, int]:
    return LinkCodeOut.of(wiring.core.user_service().create_link_code(current_user(), user_id)), 201


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
