"""Calendar feeds (RFC 5545) that calendar apps subscribe to: no JWT (they cannot send one), authorised instead by
an unguessable per-feed token in the URL, compared in constant time; rotating it revokes old subscriptions. Both
routes are on the auth middleware's ``PUBLIC`` allow-list."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from oncall import wiring

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

Token = Annotated[str | None, Query(max_length=128, description="the feed token from POST .../calendar-token")]


def _ics(body: str) -> Response[str]:
    return Response(
        status_code=200,
        content_type="text/calendar; charset=utf-8",
        body=body,
        # the token is in the URL: keep the feed out of shared caches
        headers={"Cache-Control": "private, max-age=300"},
    )


@router.get("/schedules/<schedule_id>/calendar.ics", tags=["calendar"], summary="A schedule's shifts as iCalendar")
def schedule_feed(schedule_id: str, token: Token = None) -> Response[str]:
    return _ics(wiring.core.schedule_service().schedule_calendar(schedule_id, token))


@router.get("/users/<user_id>/calendar.ics", tags=["calendar"], summary="One person's shifts as iCalendar")
def user_feed(user_id: str, token: Token = None) -> Response[str]:
    return _ics(wiring.core.schedule_service().user_calendar(user_id, token))


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
