"""Request and response bodies of ``/schedules`` and ``/me/shifts`` (``routes.schedules``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from oncall.api.times import Instant
from oncall.domain.rotations import Rotation
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Shift

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScheduleIn(_In):
    name: str = Field(min_length=1, max_length=100)
    timezone: str = Field(min_length=1, max_length=64, description="IANA time zone, e.g. Europe/Berlin")
    team: str | None = Field(default=None, max_length=100, description="a free-text label; ownership is team_id")
    team_id: Id | None = Field(
        default=None, description="the owning team; omitted: the default team (its managers and admins may)"
    )


class SchedulePatchIn(_In):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    timezone: str | None = Field(default=None, min_length=1, max_length=64)
    team: str | None = Field(default=None, max_length=100)
    team_id: Id | None = Field(default=None, description="move to another team (you must manage both)")


class ScheduleOut(BaseModel):
    id: str
    name: str
    timezone: str
    team: str | None
    team_id: str

    @classmethod
    def of(cls, schedule: Schedule) -> ScheduleOut:
        return cls(**schedule.to_dict())


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
