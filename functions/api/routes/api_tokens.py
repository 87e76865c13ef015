"""API tokens (``/me/api-tokens``, an admin's ``/users/{id}/api-tokens``) and team service accounts
(``/service-accounts``): credentials for automation, shown once, stored hashed (docs/architecture.md, "API tokens")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user, require
from oncall.api.lists import list_response
from oncall.api.times import Instant
from oncall.domain.api_tokens import ApiToken
from oncall.domain.teams import TeamRole
from oncall.domain.users import Role, User
from oncall.services.api_tokens import Minted

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
TeamId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiTokenIn(Strict):
    name: str = Field(min_length=1, max_length=100, examples=["ci-deploys"])
    scopes: list[Annotated[str, Field(max_length=32)]] = Field(
        min_length=1, max_length=32, examples=[["incidents:read", "incidents:write"]]
    )
    expires_at: Instant | None = Field(default=None, description="RFC 3339; omitted: the token does not expire")


class ApiTokenOut(BaseModel):
    id: str
    owner_id: str
    name: str
    scopes: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> ApiTokenOut:
        return cls(
            id=token.id,
            owner_id=token.owner_id,
            name=token.name,
            scopes=list(token.scopes),
            created_at=token.created_at,
            created_by=token.created_by,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
        )


class MintedOut(ApiTokenOut):
    token: str = Field(description="the bearer string: shown this once, never again")

    @classmethod
    def minted(cls, minted: Minted) -> MintedOut:
        return cls(**ApiTokenOut.of(minted.token).model_dump(), token=minted.secret)


class ServiceAccountIn(Strict):
    name: str = Field(min_length=1, max_length=128, examples=["terraform"])
    team_id: TeamId
    team_role: TeamRole = TeamRole.RESPONDER


class ServiceAccountOut(BaseModel):
    id: str
    name: str
    team_id: str | None
    team_role: str | None
    created_at: datetime

    @classmethod
    def of(cls, account: User) -> ServiceAccountOut:
        team, role = next(iter(account.teams.items()), (None, None))
        return cls(
            id=account.id, name=account.display_name, team_id=team, team_role=role, created_at=account.created_at
        )


def _minted(minted: Minted) -> Response[Any]:
    # a secret in the body: no cache anywhere may keep it
    return Response(
        status_code=201,
        content_type="application/json",
        body=MintedOut.minted(minted).model_dump(mode="json"),
        headers={"Cache-Control": "no-store"},
    )


def _tokens(owner_id: str) -> Response[Any]:
    tokens = wiring.core.api_token_service().tokens(current_user(), owner_id)
    items = [ApiTokenOut.of(t).model_dump(mode="json") for t in tokens]
    return list_response(router.current_event.headers, items, None)


def _no_content() -> Response[None]:
    return Response(status_code=204, content_type=None, body=None)


# -- personal tokens ---------------------------------------------------------------------------------------------------


@router.post("/me/api-tokens", tags=["api-tokens"], summary="Mint a personal API token (shown once)")
def create_my_token(body: Annotated[ApiTokenIn, Body()]) -> Response[MintedOut]:
    actor = current_user()
    return _minted(wiring.core.api_token_service().create(actor, actor.id, body.name, body.scopes, body.expires_at))


@router.get("/me/api-tokens", tags=["api-tokens"], summary="Your API tokens, with their last use")
def list_my_tokens() -> Response[Any]:
    return _tokens(current_user().id)


@router.delete("/me/api-tokens/<token_id>", tags=["api-tokens"], summary="Revoke one of your API tokens")
def revoke_my_token(token_id: str) -> Response[None]:
    actor = current_user()
    wiring.core.api_token_service().revoke(actor, actor.id, token_id)
    return _no_content()


@router.get("/users/<user_id>/api-tokens", tags=["api-tokens"], summary="A person's API tokens (admin)")
def list_user_tokens(user_id: str) -> Response[Any]:
    require(Role.ADMIN)
    return _tokens(user_id)


@router.delete(
    "/users/<user_id>/api-tokens/<token_id>", tags=["api-tokens"], summary="Revoke a person's API token (admin)"
)
def revoke_user_token(user_id: str, token_id: str) -> Response[None]:
    wiring.core.api_token_service().revoke(require(Role.ADMIN), user_id, token_id)
    return _no_content()


# -- service accounts --------------------------------------------------------------------------------------------------


@router.post("/service-accounts", tags=["service-accounts"], summary="Create a team's service account (manager)")
def create_service_account(body: Annotated[ServiceAccountIn, Body()]) -> tuple[ServiceAccountOut, int]:
    service = wiring.core.api_token_service()
    account = service.create_service_account(current_user(), body.team_id, body.name, body.team_role)
    return ServiceAccountOut.of(account), 201


@router.get("/service-accounts", tags=["service-accounts"], summary="Service accounts of the teams you see")
def list_service_accounts(team_id: Annotated[str | None, Query(max_length=64)] = None) -> Response[Any]:
    accounts = wiring.core.api_token_service().service_accounts(current_user(), team_id)
    items = [ServiceAccountOut.of(a).model_dump(mode="json") for a in accounts]
    return list_response(router.current_event.headers, items, None)


@router.get("/service-accounts/<account_id>", tags=["service-accounts"], summary="A service account")
def get_service_account(account_id: str) -> ServiceAccountOut:
    return ServiceAccountOut.of(wiring.core.api_token_service().service_account(current_user(), account_id))


@router.delete(
    "/service-accounts/<account_id>", tags=["service-accounts"], summary="Delete a service account and its tokens"
)
def delete_service_account(account_id: str) -> Response[None]:
    wiring.core.api_token_service().delete_service_account(current_user(), account_id)
    return _no_content()


@router.post(
    "/service-accounts/<account_id>/api-tokens", tags=["service-accounts"], summary="Mint a service account's token"
)
def create_account_token(account_id: str, body: Annotated[ApiTokenIn, Body()]) -> Response[MintedOut]:
    service = wiring.core.api_token_service()
    service.service_account(current_user(), account_id)
    return _minted(service.create(current_user(), account_id, body.name, body.scopes, body.expires_at))


@router.get(
    "/service-accounts/<account_id>/api-tokens", tags=["service-accounts"], summary="A service account's tokens"
)
def list_account_tokens(account_id: str) -> Response[Any]:
    wiring.core.api_token_service().service_account(current_user(), account_id)
    return _tokens(account_id)


@router.delete(
    "/service-accounts/<account_id>/api-tokens/<token_id>",
    tags=["service-accounts"],
    summary="Revoke a service account's token",
)
def revoke_account_token(account_id: str, token_id: str) -> Response[None]:
    service = wiring.core.api_token_service()
    service.service_account(current_user(), account_id)
    service.revoke(current_user(), account_id, token_id)
    return _no_content()


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
