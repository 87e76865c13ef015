"""``/services`` and ``/escalation-policies``: each owned by a team, managed by its managers, read by its members
(``oncall.domain.teams``: another team's answer 404); lists show the caller's teams unless ``team_id`` narrows them.

A service's integration key is returned only by create and ``rotate-key``; afterwards only its hash exists.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.domain.escalation import MAX_LEVELS, MAX_TARGETS, Level, Policy, Target, TargetType
from oncall.domain.page_content import URL_MAX
from oncall.domain.services_catalog import Service
from oncall.domain.slack import CHANNEL_ID

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
TeamField = Annotated[
    Id | None,
    Field(description="the owning team; omitted on create: the default team (its managers and admins may)"),
]
TeamFilter = Annotated[str | None, Query(max_length=64, description="only this team's (default: all of yours)")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- escalation policies ---------------------------------------------------------------------------------------------
class TargetIn(_In):
    type: Literal["user", "schedule", "team"] = Field(
        description="a person; whoever is on call on a schedule; whoever is on call on any of a team's schedules"
    )
    id: Id


class LevelIn(_In):
    targets: list[TargetIn] = Field(min_length=1, max_length=MAX_TARGETS)
    timeout_seconds: int = Field(ge=1, le=24 * 3600)

    def level(self) -> Level:
        return Level(tuple(Target(TargetType(t.type), t.id) for t in self.targets), self.timeout_seconds)


class PolicyIn(_In):
    name: str = Field(min_length=1, max_length=100)
    team_id: TeamField = None
    description: str | None = Field(default=None, max_length=1000)
    levels: list[LevelIn] = Field(min_length=1, max_length=MAX_LEVELS)
    repeat: int = Field(default=0, ge=0, le=9, description="extra passes through all levels after the first")
    ack_timeout_seconds: int | None = Field(default=None, ge=1, description="re-trigger if acknowledged this long")
    auto_close_seconds: int = Field(default=24 * 3600, ge=1, le=30 * 24 * 3600)


class PolicyPatchIn(_In):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    team_id: Id | None = Field(default=None, description="move to another team (you must manage both)")
    description: str | None = Field(default=None, max_length=1000)
    levels: list[LevelIn] | None = Field(default=None, min_length=1, max_length=MAX_LEVELS)
    repeat: int | None = Field(default=None, ge=0, le=9)
    ack_timeout_seconds: int | None = Field(default=None, ge=1)
    auto_close_seconds: int | None = Field(default=None, ge=1, le=30 * 24 * 3600)


class PolicyOut(BaseModel):
    id: str
    name: str
    team_id: str
    description: str | None
    levels: list[dict[str, Any]]
    repeat: int
    ack_timeout_seconds: int | None
    auto_close_seconds: int
    version: int

    @classmethod
    def of(cls, policy: Policy) -> PolicyOut:
        return cls(**policy.to_dict())


@router.post("/escalation-policies", tags=["escalation"], summary="Create an escalation policy (team manager)")
def create_policy(body: Annotated[PolicyIn, Body()]) -> tuple[PolicyOut, int]:
    policy = wiring.incidents.catalog_service().create_policy(
        current_user(),
        name=body.name,
        description=body.description,
        levels=[lv.level() for lv in body.levels],
        repeat=body.repeat,
        ack_timeout_seconds=body.ack_timeout_seconds,
        auto_close_seconds=body.auto_close_seconds,
        team_id=body.team_id,
    )
    return PolicyOut.of(policy), 201


@router.get("/escalation-policies", tags=["escalation"], summary="List escalation policies by name")
def list_policies(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    team_id: TeamFilter = None,
) -> Response[Any]:
    catalog = wiring.incidents.catalog_service()
    found, last = catalog.list_policies(current_user(), limit, decode_cursor(cursor), team_id)
    items = [PolicyOut.of(p).model_dump(mode="json") for p in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/escalation-policies/<policy_id>", tags=["escalation"], summary="Read an escalation policy")
def get_policy(policy_id: str) -> PolicyOut:
    return PolicyOut.of(wiring.incidents.catalog_service().get_policy(policy_id, current_user()))


@router.patch(
    "/escalation-policies/<policy_id>", tags=["escalation"], summary="Change an escalation policy (team manager)"
)
def patch_policy(policy_id: str, body: Annotated[PolicyPatchIn, Body()]) -> PolicyOut:
    raw = body.model_dump(exclude_unset=True)
    _not_null(raw, ("name", "levels", "repeat", "auto_close_seconds", "team_id"))
    changes: dict[str, Any] = {k: v for k, v in raw.items() if k != "levels"}
    if body.levels is not None:
        changes["levels"] = tuple(lv.level() for lv in body.levels)
    return PolicyOut.of(wiring.incidents.catalog_service().update_policy(current_user(), policy_id, changes))


@router.delete(
    "/escalation-policies/<policy_id>", tags=["escalation"], summary="Delete an unused policy (team manager)"
)
def delete_policy(policy_id: str) -> Response[None]:
    wiring.incidents.catalog_service().delete_policy(current_user(), policy_id)
    return Response(status_code=204, content_type=None, body=None)


# -- services --------------------------------------------------------------------------------------------------------
RunbookUrl = Annotated[
    str | None,
    Field(
        max_length=URL_MAX,
        description="absolute http(s) URL of what to do when the service pages; every page links to it",
        examples=["https://runbooks.example.com/checkout"],
    ),
]

SlackChannel = Annotated[
    str | None,
    Field(
        max_length=21,
        pattern=CHANNEL_ID.pattern,
        description="the Slack channel id every incident of the service is posted to (invite the app there first)",
        examples=["C0123ABCD"],
    ),
]


class ServiceIn(_In):
    name: str = Field(min_length=1, max_length=100)
    team_id: TeamField = None
    description: str | None = Field(default=None, max_length=1000)
    escalation_policy_id: Id
    runbook_url: RunbookUrl = None
    slack_channel: SlackChannel = None


class ServicePatchIn(_In):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    team_id: Id | None = Field(default=None, description="move to another team (you must manage both)")
    description: str | None = Field(default=None, max_length=1000)
    escalation_policy_id: Id | None = None
    #: null removes it
    runbook_url: RunbookUrl = None
    #: null removes it
    slack_channel: SlackChannel = None


class ServiceOut(BaseModel):
    id: str
    name: str
    team_id: str
    description: str | None
    escalation_policy_id: str
    runbook_url: str | None = None
    slack_channel: str | None = None
    created_at: str
    updated_at: str
    key_rotated_at: str | None
    previous_key_expires_at: str | None
    version: int
    #: only in the responses of create and rotate-key
    integration_key: str | None = None

    @classmethod
    def of(cls, service: Service, key: str | None = None) -> ServiceOut:
        return cls(**service.to_dict(), integration_key=key)


@router.post("/services", tags=["services"], summary="Create a service; the integration key is shown this once")
def create_service(body: Annotated[ServiceIn, Body()]) -> tuple[ServiceOut, int]:
    service, key = wiring.incidents.catalog_service().create_service(
        current_user(),
        name=body.name,
        escalation_policy_id=body.escalation_policy_id,
        description=body.description,
        runbook_url=body.runbook_url,
        team_id=body.team_id,
        slack_channel=body.slack_channel,
    )
    return ServiceOut.of(service, key), 201


@router.get("/services", tags=["services"], summary="List services by name")
def list_services(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    team_id: TeamFilter = None,
) -> Response[Any]:
    catalog = wiring.incidents.catalog_service()
    found, last = catalog.list_services(current_user(), limit, decode_cursor(cursor), team_id)
    items = [ServiceOut.of(s).model_dump(mode="json", exclude={"integration_key"}) for s in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/services/<service_id>", tags=["services"], summary="Read a service (never its key)")
def get_service(service_id: str) -> ServiceOut:
    return ServiceOut.of(wiring.incidents.catalog_service().get_service(service_id, current_user()))


@router.patch(
    "/services/<service_id>",
    tags=["services"],
    summary="Rename, describe, re-point a service or set its runbook or Slack channel (team manager)",
)
def patch_service(service_id: str, body: Annotated[ServicePatchIn, Body()]) -> ServiceOut:
    changes = body.model_dump(exclude_unset=True)
    _not_null(changes, ("name", "escalation_policy_id", "team_id"))
    return ServiceOut.of(wiring.incidents.catalog_service().update_service(current_user(), service_id, changes))


@router.delete("/services/<service_id>", tags=["services"], summary="Delete a service and its keys (team manager)")
def delete_service(service_id: str) -> Response[None]:
    wiring.incidents.catalog_service().delete_service(current_user(), service_id)
    return Response(status_code=204, content_type=None, body=None)


@router.post(
    "/services/<service_id>/rotate-key",
    tags=["services"],
    summary="New integration key; the previous one works for one more hour",
)
def rotate_key(service_id: str) -> ServiceOut:
    service, key = wiring.incidents.catalog_service().rotate_key(current_user(), service_id)
    return ServiceOut.of(service, key)


def _not_null(changes: dict[str, Any], fields: tuple[str, ...]) -> None:
    """``{"name": null}`` in a PATCH would remove a required field: refuse it by name (only optional fields clear)."""
    from oncall.domain.errors import InvalidInput

    for name in fields:
        if name in changes and changes[name] is None:
            raise InvalidInput(name, "cannot be removed")


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
