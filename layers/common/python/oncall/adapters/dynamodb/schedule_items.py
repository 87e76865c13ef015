"""The ``schedules`` table's keys and item shapes, both ways: a schedule, a shift (any of its three views) and a
rotation rule. The layout and access patterns are in ``oncall.adapters.dynamodb.schedules``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.rotations import Rotation
from oncall.domain.schedules import Schedule
from oncall.domain.shifts import Shift, from_sort_key, sort_key

BY_KIND = "by-kind"
SCHEDULE_KIND = "SCHEDULE"
ROTATION_KIND = "ROTATION"
#: sorts after every character a shift id may contain, closing "starts at or before T" ranges
HIGH = "~"


def sched_pk(schedule_id: str) -> str:
    return f"SCHED#{schedule_id}"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def at_sk(start: datetime, shift_id: str) -> str:
    return f"AT#{sort_key(start)}#{shift_id}"


def shift_attrs(shift: Shift) -> dict[str, Attr]:
    attrs = {
        "id": s(shift.id),
        "schedule_id": s(shift.schedule_id),
        "user_id": s(shift.user_id),
        "start": s(sort_key(shift.start)),
        "end": s(sort_key(shift.end)),
        "version": n(shift.version),
    }
    if shift.rotation_id:
        attrs["rotation_id"] = s(shift.rotation_id)
    return attrs


def shift_of(item: Mapping[str, Attr]) -> Shift:
    return Shift(
        id=item["id"]["S"],
        schedule_id=item["schedule_id"]["S"],
        user_id=item["user_id"]["S"],
        start=from_sort_key(item["start"]["S"]),
        end=from_sort_key(item["end"]["S"]),
        version=int(item["version"]["N"]),
        rotation_id=item["rotation_id"]["S"] if "rotation_id" in item else None,
    )


def schedule_of(item: Mapping[str, Attr]) -> Schedule:
    return Schedule(
        id=item["id"]["S"],
        name=item["name"]["S"],
        timezone=item["timezone"]["S"],
        team=item["team"]["S"] if "team" in item else None,
        version=int(item["version"]["N"]),
        team_id=item["team_id"]["S"] if "team_id" in item else None,
    )


def rotation_of(item: Mapping[str, Attr]) -> Rotation:
    return Rotation(
        id=item["id"]["S"],
        schedule_id=item["schedule_id"]["S"],
        name=item.get("name", {}).get("S", ""),
        participants=tuple(v["S"] for v in item["participants"]["L"]),
        start=from_sort_key(item["start"]["S"]),
        end=from_sort_key(item["end"]["S"]) if "end" in item else None,
        timezone=item["timezone"]["S"],
        period=item["period"]["S"],
        hours=int(item["hours"]["N"]) if "hours" in item else None,
        revision=int(item["revision"]["N"]),
        effective_from=from_sort_key(item["effective_from"]["S"]) if "effective_from" in item else None,
    )
