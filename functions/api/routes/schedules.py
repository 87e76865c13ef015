"""``/schedules``: schedules, shifts, who is on call, rotations, overrides; ``/me/shifts``; feed-token rotation.

Powers (``oncall.domain.teams``): a schedule's team managers (and admins) manage it; its responders manage their own
shifts; its observers and global viewers read; anyone outside its team gets 404. Bodies are in ``schedule_bodies``.
Times are RFC 3339 with an offset; a naive time is a 422 naming the field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from oncall import wiring
from oncall.api.auth import current_user
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.api.times import Instant
from oncall.domain.shifts import iso
from routes.schedule_bodies import (
    FeedTokenOut,
    MaterialisedOut,
    OnCallOut,
    OverrideIn,
    RotationCreatedOut,
    RotationIn,
    RotationOut,
    RotationPatchIn,
    ScheduleIn,
    ScheduleOut,
    SchedulePatchIn,
    ShiftIn,
    ShiftOut,
    ShiftPatchIn,
)

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

#: the default window of a shift list that names no ``to``
DEFAULT_LIST_SPAN = timedelta(days=28)


def _no_content() -> Response[None]:
    return Response(status_code=204, content_type=None, body=None)


def _feed_url(path: str, token: str) -> str:
    # never from the request's Host header, which the caller chooses: the configured public URL, else the API's own
    # domain as API Gateway reports it
    from oncall.settings import get_settings

    base = get_settings().public_url or f"https://{router.current_event.request_context.domain_name}"
    return f"{base}{path}?token={token}"


# -- schedules --------------------------------------------------------------------------------------------------------


@router.post("/schedules", tags=["schedules"], summary="Create a schedule (team manager); honours Idempotency-Key")
def create_schedule(body: Annotated[ScheduleIn, Body()]) -> tuple[ScheduleOut, int]:
    schedule = wiring.core.schedule_service().create_schedule(
        current_user(), name=body.name, timezone=body.timezone, team=body.team, team_id=body.team_id
    )
    return ScheduleOut.of(schedule), 201


@router.get("/schedules", tags=["schedules"], summary="List schedules by name")
def list_schedules(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    team_id: Annotated[str | None, Query(max_length=64, description="only this team's (default: all of yours)")] = None,
) -> Response[Any]:
    schedules = wiring.core.schedule_service()
    found, last = schedules.list_schedules(current_user(), limit, decode_cursor(cursor), team_id)
    items = [ScheduleOut.of(s).model_dump(mode="json") for s in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/schedules/<schedule_id>", tags=["schedules"], summary="Read a schedule")
def get_schedule(schedule_id: str) -> ScheduleOut:
    return ScheduleOut.of(wiring.core.schedule_service().get_schedule(schedule_id, current_user()))


@router.patch(
    "/schedules/<schedule_id>",
    tags=["schedules"],
    summary="Rename, re-zone or move a schedule to another team (team manager)",
)
def patch_schedule(schedule_id: str, body: Annotated[SchedulePatchIn, Body()]) -> ScheduleOut:
    schedule = wiring.core.schedule_service().update_schedule(
        current_user(), schedule_id, name=body.name, timezone=body.timezone, team=body.team, team_id=body.team_id
    )
    return ScheduleOut.of(schedule)


@router.delete(
    "/schedules/<schedule_id>", tags=["schedules"], summary="Delete a schedule and its shifts (team manager)"
)
def delete_schedule(schedule_id: str) -> Response[None]:
    wiring.core.schedule_service().delete_schedule(current_user(), schedule_id)
    return _no_content()


# -- shifts -----------------------------------------------------------------------------------------------------------


@router.post(
    "/schedules/<schedule_id>/shifts",
    tags=["shifts"],
    summary="Put someone on duty; 409 shift_overlap lists the conflicting shifts",
)
def put_on_duty(schedule_id: str, body: Annotated[ShiftIn, Body()]) -> tuple[ShiftOut, int]:
    shift = wiring.core.schedule_service().put_on_duty(
        current_user(), schedule_id=schedule_id, user_id=body.user_id, start=body.start, end=body.end
    )
    return ShiftOut.of(shift), 201


@router.get("/schedules/<schedule_id>/shifts", tags=["shifts"], summary="Shifts overlapping [from, to)")
def list_shifts(
    schedule_id: str,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Annotated[Instant | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    service = wiring.core.schedule_service()
    start = from_ or service.clock()
    end = to or start + DEFAULT_LIST_SPAN
    found, last = service.list_shifts(schedule_id, start, end, limit, decode_cursor(cursor), current_user())
    items = [ShiftOut.of(s).model_dump(mode="json") for s in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/schedules/<schedule_id>/shifts/<shift_id>", tags=["shifts"], summary="Read a shift")
def get_shift(schedule_id: str, shift_id: str) -> ShiftOut:
    return ShiftOut.of(wiring.core.schedule_service().get_shift(schedule_id, shift_id, current_user()))


@router.patch(
    "/schedules/<schedule_id>/shifts/<shift_id>",
    tags=["shifts"],
    summary="Move a shift (times and/or holder); checked for overlap like a create",
)
def move_shift(schedule_id: str, shift_id: str, body: Annotated[ShiftPatchIn, Body()]) -> ShiftOut:
    shift = wiring.core.schedule_service().move_shift(
        current_user(),
        schedule_id=schedule_id,
        shift_id=shift_id,
        user_id=body.user_id,
        start=body.start,
        end=body.end,
    )
    return ShiftOut.of(shift)


@router.delete("/schedules/<schedule_id>/shifts/<shift_id>", tags=["shifts"], summary="Delete a shift")
def delete_shift(schedule_id: str, shift_id: str) -> Response[None]:
    wiring.core.schedule_service().delete_shift(current_user(), schedule_id=schedule_id, shift_id=shift_id)
    return _no_content()


@router.get("/schedules/<schedule_id>/oncall", tags=["shifts"], summary="Who is on call at a moment (default now)")
def on_call(schedule_id: str, at: Annotated[Instant | None, Query()] = None) -> OnCallOut:
    service = wiring.core.schedule_service()
    when = at or service.clock()
    _, shift = service.on_call(schedule_id, when, current_user())
    return OnCallOut(
        schedule_id=schedule_id,
        at=iso(when),
        user_id=shift.user_id if shift else None,
        shift=ShiftOut.of(shift) if shift else None,
    )


@router.get("/me/shifts", tags=["shifts"], summary="My shifts overlapping [from, to) (default: now to the horizon)")
def my_shifts(
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Annotated[Instant | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    found, last = wiring.core.schedule_service().my_shifts(current_user(), from_, to, limit, decode_cursor(cursor))
    items = [ShiftOut.of(s).model_dump(mode="json") for s in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


# -- rotations and overrides ------------------------------------------------------------------------------------------


@router.post(
    "/schedules/<schedule_id>/rotations",
    tags=["rotations"],
    summary="Create a rotation (admin): stored and materialised over the horizon, or 409 listing every conflict",
)
def create_rotation(schedule_id: str, body: Annotated[RotationIn, Body()]) -> tuple[RotationCreatedOut, int]:
    rotation, done = wiring.core.schedule_service().create_rotation(
        current_user(),
        schedule_id=schedule_id,
        participants=body.participants,
        start=body.start,
        period=body.period,
        hours=body.hours,
        end=body.end,
        timezone=body.timezone,
        name=body.name,
    )
    out = RotationCreatedOut(
        rotation=RotationOut.of(rotation),
        materialised=MaterialisedOut(
            created=done.created, existing=done.existing, conflicts=[ShiftOut.of(c) for c in done.conflicts]
        ),
    )
    return out, 201


@router.get("/schedules/<schedule_id>/rotations", tags=["rotations"], summary="List a schedule's rotations")
def list_rotations(schedule_id: str) -> Response[Any]:
    found = wiring.core.schedule_service().list_rotations(schedule_id, current_user())
    items = [RotationOut.of(r).model_dump(mode="json") for r in found]
    return list_response(router.current_event.headers, items, None)


@router.patch(
    "/schedules/<schedule_id>/rotations/<rotation_id>",
    tags=["rotations"],
    summary="Change a rotation (admin) from the end of its running shift on; 409 lists every conflict, nothing written",
)
def patch_rotation(schedule_id: str, rotation_id: str, body: Annotated[RotationPatchIn, Body()]) -> RotationCreatedOut:
    rotation, done = wiring.core.schedule_service().update_rotation(
        current_user(),
        schedule_id=schedule_id,
        rotation_id=rotation_id,
        changes=body.model_dump(exclude_unset=True),
    )
    return RotationCreatedOut(
        rotation=RotationOut.of(rotation),
        materialised=MaterialisedOut(
            created=done.created, existing=done.existing, conflicts=[ShiftOut.of(c) for c in done.conflicts]
        ),
    )


@router.delete(
    "/schedules/<schedule_id>/rotations/<rotation_id>",
    tags=["rotations"],
    summary="Stop a rotation (admin): its shifts that have not started are removed",
)
def delete_rotation(schedule_id: str, rotation_id: str) -> Response[None]:
    wiring.core.schedule_service().delete_rotation(current_user(), schedule_id=schedule_id, rotation_id=rotation_id)
    return _no_content()


@router.post(
    "/schedules/<schedule_id>/overrides",
    tags=["rotations"],
    summary="Someone else takes [start, end): the shifts there are trimmed or split in the same write",
)
def create_override(schedule_id: str, body: Annotated[OverrideIn, Body()]) -> tuple[ShiftOut, int]:
    shift = wiring.core.schedule_service().override(
        current_user(), schedule_id=schedule_id, user_id=body.user_id, start=body.start, end=body.end
    )
    return ShiftOut.of(shift), 201


# -- calendar feed tokens ---------------------------------------------------------------------------------------------


@router.post(
    "/schedules/<schedule_id>/calendar-token",
    tags=["calendar"],
    summary="Issue (or rotate) the schedule's calendar-feed token (admin); the old one stops working",
)
def rotate_schedule_feed(schedule_id: str) -> tuple[FeedTokenOut, int]:
    token = wiring.core.schedule_service().rotate_schedule_feed(current_user(), schedule_id)
    return FeedTokenOut(token=token, url=_feed_url(f"/schedules/{schedule_id}/calendar.ics", token)), 201


@router.post(
    "/me/calendar-token",
    tags=["calendar"],
    summary="Issue (or rotate) your personal calendar-feed token; the old one stops working",
)
def rotate_my_feed() -> tuple[FeedTokenOut, int]:
    user = current_user()
    token = wiring.core.schedule_service().rotate_user_feed(user)
    return FeedTokenOut(token=token, url=_feed_url(f"/users/{user.id}/calendar.ics", token)), 201


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
