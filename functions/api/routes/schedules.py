"""``/schedules``: schedules, shifts, who is on call, rotations, overrides; ``/me/shifts``; feed-token rotation.

Roles (docs/architecture.md, "Conventions"): admin manages everything; a responder manages their own shifts; a viewer
reads (the auth middleware already refuses their writes). Times are RFC 3339 with an offset; a naive time is a 422
naming the field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.api.times import Instant
from oncall.domain.rotations import Rotation
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Shift, iso

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
#: the default window of a shift list that names no ``to``
DEFAULT_LIST_SPAN = timedelta(days=28)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleIn(_In):
    name: str = Field(min_length=1, max_length=100)
    timezone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    team: str | None = Field(default=None, max_length=100)


class SchedulePatchIn(_In):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    team: str | None = Field(default=None, max_length=100)


class ScheduleOut(BaseModel):
    id: str
    name: str
    timezone: str
    team: str | None

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleOut:
        return cls(id=schedule.id, name=schedule.name, timezone=schedule.timezone, team=schedule.team)


class ShiftIn(_In):
    user_id: Id
    start: Instant
    end: Instant


class ShiftPatchIn(_In):
    user_id: Id | None = None
    start: Instant | None = None
    end: Instant | None = None


class ShiftOut(BaseModel):
    id: str
    schedule_id: str
    user_id: str
    start: str
    end: str
    version: int
    rotation_id: str | None

    @classmethod
    def of(cls, shift: Shift) -> ShiftOut:
        return cls(**shift.to_dict())


class OnCallOut(BaseModel):
    schedule_id: str
    at: str
    user_id: str | None
    shift: ShiftOut | None


class RotationIn(_In):
    name: str = Field(default="", max_length=100)
    participants: list[Id] = Field(min_length=1, max_length=100, description="user ids, in hand-off order")
    start: Instant = Field(description="the first hand-off; later ones keep its local time of day")
    period: Literal["daily", "weekly", "hours"]
    hours: int | None = Field(default=None, ge=1, le=24 * 14, description="length of each shift when period=hours")
    end: Instant | None = None
    timezone: str | None = Field(default=None, max_length=64, description="defaults to the schedule's zone")


class RotationPatchIn(_In):
    name: str | None = Field(default=None, max_length=100)
    participants: list[Id] | None = Field(default=None, min_length=1, max_length=100)
    start: Instant | None = None
    period: Literal["daily", "weekly", "hours"] | None = None
    hours: int | None = Field(default=None, ge=1, le=24 * 14)
    end: Instant | None = None
    timezone: str | None = Field(default=None, max_length=64)


class RotationOut(BaseModel):
    id: str
    schedule_id: str
    name: str
    participants: list[str]
    start: str
    end: str | None
    timezone: str
    period: str
    hours: int | None
    revision: int
    effective_from: str | None

    @classmethod
    def of(cls, rotation: Rotation) -> RotationOut:
        return cls(**rotation.to_dict())


class MaterialisedOut(BaseModel):
    created: int
    existing: int
    conflicts: list[ShiftOut]


class RotationCreatedOut(BaseModel):
    rotation: RotationOut
    materialised: MaterialisedOut


class OverrideIn(_In):
    user_id: Id = Field(description="who takes over")
    start: Instant
    end: Instant


class FeedTokenOut(BaseModel):
    token: str
    url: str


def _no_content() -> Response[None]:
    return Response(status_code=204, content_type=None, body=None)


def _feed_url(path: str, token: str) -> str:
    # never from the request's Host header, which the caller chooses: the configured public URL, else the API's own
    # domain as API Gateway reports it
    from oncall.settings import get_settings

    base = get_settings().public_url or f"https://{router.current_event.request_context.domain_name}"
    return f"{base}{path}?token={token}"


# -- schedules --------------------------------------------------------------------------------------------------------


@router.post("/schedules", tags=["schedules"], summary="Create a schedule (admin); honours Idempotency-Key")
def create_schedule(body: Annotated[ScheduleIn, Body()]) -> tuple[ScheduleOut, int]:
    schedule = wiring.core.schedule_service().create_schedule(
        current_user(), name=body.name, timezone=body.timezone, team=body.team
    )
    return ScheduleOut.of(schedule), 201


@router.get("/schedules", tags=["schedules"], summary="List schedules by name")
def list_schedules(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    found, last = wiring.core.schedule_service().list_schedules(limit, decode_cursor(cursor))
    items = [ScheduleOut.of(s).model_dump(mode="json") for s in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/schedules/<schedule_id>", tags=["schedules"], summary="Read a schedule")
def get_schedule(schedule_id: str) -> ScheduleOut:
    return ScheduleOut.of(wiring.core.schedule_service().get_schedule(schedule_id))


@router.patch("/schedules/<schedule_id>", tags=["schedules"], summary="Rename, re-zone or re-team a schedule (admin)")
def patch_schedule(schedule_id: str, body: Annotated[SchedulePatchIn, Body()]) -> ScheduleOut:
    schedule = wiring.core.schedule_service().update_schedule(
        current_user(), schedule_id, name=body.name, timezone=body.timezone, team=body.team
    )
    return ScheduleOut.of(schedule)


@router.delete("/schedules/<schedule_id>", tags=["schedules"], summary="Delete a schedule and its shifts (admin)")
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
    found, last = service.list_shifts(schedule_id, start, to or start + DEFAULT_LIST_SPAN, limit, decode_cursor(cursor))
    items = [ShiftOut.of(s).model_dump(mode="json") for s in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/schedules/<schedule_id>/shifts/<shift_id>", tags=["shifts"], summary="Read a shift")
def get_shift(schedule_id: str, shift_id: str) -> ShiftOut:
    return ShiftOut.of(wiring.core.schedule_service().get_shift(schedule_id, shift_id))


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
    _, shift = service.on_call(schedule_id, when)
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
    found = wiring.core.schedule_service().list_rotations(schedule_id)
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
