"""``/people``: the directory every signed-in person may read (``oncall.services.directory``)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from oncall import wiring
from oncall.api.auth import current_user
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.services.directory import Entry

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


class PersonOut(BaseModel):
    id: str
    username: str
    display_name: str
    timezone: str
    #: team id → team role
    teams: dict[str, str]
    on_call_now: bool
    #: the channels set up for them (``telegram``, ``email``), not the addresses
    channels: list[str]
    #: only for admins and the person themself
    email: str | None

    @classmethod
    def of(cls, entry: Entry) -> PersonOut:
        return cls(**entry.__dict__)


@router.get("/people", tags=["people"], summary="Who is who: names, teams, on call now, channels (everyone)")
def list_people(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    found, last = wiring.core.directory().page(current_user(), limit, decode_cursor(cursor))
    items = [PersonOut.of(e).model_dump(mode="json") for e in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/people/<user_id>", tags=["people"], summary="One person of the directory")
def get_person(user_id: str) -> PersonOut:
    return PersonOut.of(wiring.core.directory().one(current_user(), user_id))


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
