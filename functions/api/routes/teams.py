"""``/teams``: teams and their members. Admins create and delete teams; a team's managers rename it and manage its
members; its members read it (``oncall.domain.teams``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.domain.slack import CHANNEL_ID
from oncall.domain.teams import Team, TeamRole
from oncall.domain.users import User

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


SlackChannel = Annotated[
    str | None,
    Field(
        max_length=21,
        pattern=CHANNEL_ID.pattern,
        description="the Slack channel id incidents of the team's services are posted to when a service names none",
        examples=["C0123ABCD"],
    ),
]


class TeamIn(_In):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    slack_channel: SlackChannel = None


class TeamPatchIn(_In):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    #: null removes it
    slack_channel: SlackChannel = None


class TeamOut(BaseModel):
    id: str
    name: str
    description: str | None
    slack_channel: str | None = None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        return cls(**team.to_dict())


class MemberIn(_In):
    role: TeamRole = Field(
        description="manager: manages the team's schedules, policies, services and members; "
        "responder: acts on its incidents and their own shifts; observer: reads"
    )


class MemberOut(BaseModel):
    user_id: str
    username: str
    display_name: str
    role: TeamRole

    @classmethod
    def of(cls, user: User, role: TeamRole) -> MemberOut:
        return cls(user_id=user.id, username=user.username, display_name=user.display_name, role=role)


@router.post("/teams", tags=["teams"], summary="Create a team (admin)")
def create_team(body: Annotated[TeamIn, Body()]) -> tuple[TeamOut, int]:
    team = wiring.incidents.team_service().create(
        current_user(), name=body.name, description=body.description, slack_channel=body.slack_channel
    )
    return TeamOut.of(team), 201


@router.get("/teams", tags=["teams"], summary="List teams by name (yours; every team for admins and viewers)")
def list_teams(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    found, last = wiring.incidents.team_service().listed(current_user(), limit, decode_cursor(cursor))
    items = [TeamOut.of(t).model_dump(mode="json") for t in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/teams/<team_id>", tags=["teams"], summary="Read a team")
def get_team(team_id: str) -> TeamOut:
    return TeamOut.of(wiring.incidents.team_service().get(current_user(), team_id))


@router.patch("/teams/<team_id>", tags=["teams"], summary="Rename or describe a team (its managers)")
def patch_team(team_id: str, body: Annotated[TeamPatchIn, Body()]) -> TeamOut:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        from oncall.domain.errors import InvalidInput

        raise InvalidInput("name", "cannot be removed")
    return TeamOut.of(wiring.incidents.team_service().update(current_user(), team_id, changes))


@router.delete("/teams/<team_id>", tags=["teams"], summary="Delete an empty team (admin); 409 while it owns anything")
def delete_team(team_id: str) -> Response[None]:
    wiring.incidents.team_service().delete(current_user(), team_id)
    return Response(status_code=204, content_type=None, body=None)


@router.get("/teams/<team_id>/members", tags=["teams"], summary="A team's members and their team roles")
def list_members(team_id: str) -> Response[Any]:
    members = wiring.incidents.team_service().members(current_user(), team_id)
    items = [MemberOut.of(u, r).model_dump(mode="json") for u, r in members]
    return list_response(router.current_event.headers, items, None)


@router.put(
    "/teams/<team_id>/members/<user_id>",
    tags=["teams"],
    summary="Add a person to a team, or change their team role (its managers)",
)
def put_member(team_id: str, user_id: str, body: Annotated[MemberIn, Body()]) -> MemberOut:
    user, role = wiring.incidents.team_service().put_member(current_user(), team_id, user_id, body.role)
    return MemberOut.of(user, role)


@router.delete("/teams/<team_id>/members/<user_id>", tags=["teams"], summary="Remove a person from a team")
def remove_member(team_id: str, user_id: str) -> Response[None]:
    wiring.incidents.team_service().remove_member(current_user(), team_id, user_id)
    return Response(status_code=204, content_type=None, body=None)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
