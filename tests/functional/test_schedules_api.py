"""Schedules, shifts, rotations, overrides and calendar feeds through the real API handler on emulated DynamoDB."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import boto3
import icalendar
import pytest

from oncall import wiring
from oncall.domain.users import Role
from tests.support.identity import FakeClock, Session, login_as
from tests.support.lambdas import HttpResult, call_api

NOW = datetime(2026, 3, 24, 6, tzinfo=UTC)
T = datetime(2026, 3, 24, 9, tzinfo=UTC)
#: a short rotation horizon keeps the emulator's transactions few (moto copies tables per transaction item)
HORIZON_DAYS = "10"


def at(hours: float) -> str:
    return (T + timedelta(hours=hours)).isoformat()


@pytest.fixture
def world(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_ROTATION_HORIZON_DAYS", HORIZON_DAYS)
    get_settings.cache_clear()
    wiring.reset()
    clock = FakeClock(NOW)
    wiring.override(clock=clock)
    admin, ann, bob, viewer = (
        login_as(Role.ADMIN),
        login_as(Role.RESPONDER),
        login_as(Role.RESPONDER),
        login_as(Role.VIEWER),
    )
    created = api(admin, "POST", "/schedules", {"name": "Platform", "timezone": "Europe/Berlin"})
    assert created.status == 201, created.json
    yield {"admin": admin, "ann": ann, "bob": bob, "viewer": viewer, "sid": created.json["id"], "clock": clock}
    wiring.reset()


def api(who: Session | None, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any) -> HttpResult:
    headers = dict(who.headers) if who else {}
    headers.update(kw.pop("headers", {}))
    if "query" in kw:
        path += "?" + urlencode(kw.pop("query"))
    if body is not None:
        headers["content-type"] = "application/json"
        kw["body"] = json.dumps(body)
    return call_api(method, path, headers=headers, **kw)


def shift(world: dict[str, Any], who: str, start: float, end: float, as_: str = "admin") -> HttpResult:
    body = {"user_id": world[who].user.id, "start": at(start), "end": at(end)}
    return api(world[as_], "POST", f"/schedules/{world['sid']}/shifts", body)


def scan() -> list[dict[str, Any]]:
    return boto3.client("dynamodb", region_name="us-east-1").scan(TableName="oncall-schedules")["Items"]


def outbox() -> list[tuple[str, str]]:
    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName="oncall-outbox")["Items"]
    return sorted((i["detail_type"]["S"], i["sk"]["S"]) for i in items)


def test_schedule_crud_with_iana_zone(world: dict[str, Any]) -> None:
    admin, sid = world["admin"], world["sid"]
    got = api(world["viewer"], "GET", f"/schedules/{sid}")
    assert got.status == 200 and got.json["timezone"] == "Europe/Berlin"
    bad = api(admin, "POST", "/schedules", {"name": "x", "timezone": "CEST"})
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "timezone"
    patched = api(admin, "PATCH", f"/schedules/{sid}", {"timezone": "America/New_York"})
    assert patched.status == 200 and patched.json["timezone"] == "America/New_York"
    listed = api(world["viewer"], "GET", "/schedules")
    assert [s["id"] for s in listed.json["items"]] == [sid]
    assert api(world["ann"], "POST", "/schedules", {"name": "mine", "timezone": "UTC"}).status == 403
    assert api(world["viewer"], "PATCH", f"/schedules/{sid}", {"name": "v"}).status == 403
    assert api(admin, "GET", "/schedules/nope").json["error"]["code"] == "not_found"


def test_put_on_duty_overlap_is_409_with_the_conflicts_and_touching_is_fine(world: dict[str, Any]) -> None:
    first = shift(world, "ann", 0, 8)
    assert first.status == 201, first.json
    assert first.json["start"] == "2026-03-24T09:00:00Z"
    clash = shift(world, "bob", 7, 9)
    assert clash.status == 409
    assert clash.json["error"]["code"] == "shift_overlap"
    assert [c["id"] for c in clash.json["error"]["details"]["conflicts"]] == [first.json["id"]]
    assert shift(world, "bob", 8, 9).status == 201  # half-open: touching at 17:00 is fine
    # S2: ann cannot be on duty twice at once, even on another schedule
    other = api(world["admin"], "POST", "/schedules", {"name": "DB", "timezone": "UTC"}).json["id"]
    body = {"user_id": world["ann"].user.id, "start": at(4), "end": at(5)}
    s2 = api(world["admin"], "POST", f"/schedules/{other}/shifts", body)
    assert s2.status == 409 and s2.json["error"]["details"]["conflicts"][0]["schedule_id"] == world["sid"]
    assert ("shift.created", "v#000000000001") in outbox()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2026-03-24T09:00:00", "end": "2026-03-24T10:00:00Z"}, "start"),
        ({"start": "2026-03-24T09:00:00Z", "end": "2026-03-24T10:00:00"}, "end"),
        ({"start": "2026-03-24T10:00:00Z", "end": "2026-03-24T09:00:00Z"}, "end"),
        ({"start": "2026-03-24T09:00:00Z", "end": "2026-04-07T09:00:01Z"}, "end"),
        ({"start": "soon", "end": "2026-03-24T09:00:00Z"}, "start"),
    ],
)
def test_invalid_times_are_422_naming_the_field(world: dict[str, Any], body: dict[str, str], field: str) -> None:
    got = api(world["admin"], "POST", f"/schedules/{world['sid']}/shifts", {"user_id": world["ann"].user.id, **body})
    assert got.status == 422, got.json
    assert field in [f["field"] for f in got.json["error"]["details"]["fields"]]


def test_unknown_user_is_422_and_unknown_schedule_404(world: dict[str, Any]) -> None:
    got = api(
        world["admin"], "POST", f"/schedules/{world['sid']}/shifts", {"user_id": "ghost", "start": at(0), "end": at(1)}
    )
    assert got.status == 422 and got.json["error"]["details"]["fields"][0]["field"] == "user_id"
    body = {"user_id": world["ann"].user.id, "start": at(0), "end": at(1)}
    missing = api(world["admin"], "POST", "/schedules/nope/shifts", body)
    assert missing.status == 404 and missing.json["error"]["details"]["kind"] == "schedule"


def test_move_checks_overlap_excluding_itself_and_delete_frees_the_slot(world: dict[str, Any]) -> None:
    sid = world["sid"]
    a = shift(world, "ann", 0, 4).json
    b = shift(world, "bob", 4, 8).json
    grown = api(world["admin"], "PATCH", f"/schedules/{sid}/shifts/{a['id']}", {"end": at(5)})
    assert grown.status == 409 and grown.json["error"]["details"]["conflicts"][0]["id"] == b["id"]
    shifted = api(world["admin"], "PATCH", f"/schedules/{sid}/shifts/{a['id']}", {"start": at(-1), "end": at(3)})
    assert shifted.status == 200 and shifted.json["version"] == 2
    assert api(world["admin"], "DELETE", f"/schedules/{sid}/shifts/{b['id']}").status == 204
    assert api(world["admin"], "GET", f"/schedules/{sid}/shifts/{b['id']}").status == 404
    assert shift(world, "ann", 4, 8).status == 201  # bob's old slot is free again
    listed = api(world["viewer"], "GET", f"/schedules/{sid}/shifts", query={"from": at(-2), "to": at(10)})
    assert [(s["start"][11:16], s["end"][11:16]) for s in listed.json["items"]] == [
        ("08:00", "12:00"),
        ("13:00", "17:00"),
    ]
    assert ("shift.deleted", "v#000000000002") in outbox()


def test_who_is_on_call_and_my_shifts(world: dict[str, Any]) -> None:
    sid = world["sid"]
    a = shift(world, "ann", 0, 8).json
    shift(world, "bob", 8, 16)
    now = api(world["viewer"], "GET", f"/schedules/{sid}/oncall", query={"at": at(7.99)})
    assert now.json["user_id"] == world["ann"].user.id and now.json["shift"]["id"] == a["id"]
    handoff = api(world["viewer"], "GET", f"/schedules/{sid}/oncall", query={"at": at(8)})
    assert handoff.json["user_id"] == world["bob"].user.id
    nobody = api(world["viewer"], "GET", f"/schedules/{sid}/oncall", query={"at": at(16)})
    assert nobody.status == 200 and nobody.json["user_id"] is None
    naive = api(world["viewer"], "GET", f"/schedules/{sid}/oncall", query={"at": "2026-03-24T10:00:00"})
    assert naive.status == 422 and naive.json["error"]["details"]["fields"][0]["field"] == "at"
    mine = api(world["bob"], "GET", "/me/shifts")
    assert [s["start"] for s in mine.json["items"]] == ["2026-03-24T17:00:00Z"]


def test_roles_responder_manages_only_own_shifts_viewer_reads(world: dict[str, Any]) -> None:
    sid = world["sid"]
    own = shift(world, "ann", 0, 4, as_="ann")
    assert own.status == 201
    assert shift(world, "bob", 4, 8, as_="ann").status == 403
    bobs = shift(world, "bob", 4, 8).json
    assert api(world["ann"], "DELETE", f"/schedules/{sid}/shifts/{bobs['id']}").status == 403
    assert (
        api(
            world["ann"], "PATCH", f"/schedules/{sid}/shifts/{own.json['id']}", {"user_id": world["bob"].user.id}
        ).status
        == 403
    )
    assert api(world["ann"], "PATCH", f"/schedules/{sid}/shifts/{own.json['id']}", {"end": at(3)}).status == 200
    assert shift(world, "viewer", 10, 11, as_="viewer").status == 403


def test_override_splits_the_shift_in_one_write(world: dict[str, Any]) -> None:
    sid = world["sid"]
    base = shift(world, "ann", 0, 12).json
    other = api(world["admin"], "POST", "/schedules", {"name": "DB", "timezone": "UTC"}).json["id"]
    busy = {"user_id": world["bob"].user.id, "start": at(20), "end": at(22)}
    elsewhere = api(world["admin"], "POST", f"/schedules/{other}/shifts", busy).json
    clash = api(
        world["admin"],
        "POST",
        f"/schedules/{sid}/overrides",
        {"user_id": world["bob"].user.id, "start": at(2), "end": at(21)},
    )
    assert clash.status == 409 and clash.json["error"]["details"]["conflicts"][0]["id"] == elsewhere["id"]
    ov = api(
        world["admin"],
        "POST",
        f"/schedules/{sid}/overrides",
        {"user_id": world["bob"].user.id, "start": at(4), "end": at(6)},
    )
    assert ov.status == 201, ov.json
    listed = api(world["viewer"], "GET", f"/schedules/{sid}/shifts", query={"from": at(-1), "to": at(13)}).json["items"]
    assert [(s["start"][11:16], s["end"][11:16], s["user_id"] == world["bob"].user.id) for s in listed] == [
        ("09:00", "13:00", False),
        ("13:00", "15:00", True),
        ("15:00", "21:00", False),
    ]
    assert listed[0]["id"] == base["id"] and listed[0]["version"] == 2
    # a responder may not take someone else's shift by an override (only an admin moves duty between people)
    assert (
        api(
            world["bob"],
            "POST",
            f"/schedules/{sid}/overrides",
            {"user_id": world["bob"].user.id, "start": at(0), "end": at(1)},
        ).status
        == 403
    )
    gap = api(
        world["admin"],
        "POST",
        f"/schedules/{sid}/overrides",
        {"user_id": world["bob"].user.id, "start": at(13), "end": at(14)},
    )
    assert gap.status == 422 and gap.json["error"]["details"]["fields"][0]["field"] == "start"


def test_rotation_materialises_dst_correct_and_reports_conflicts(world: dict[str, Any]) -> None:
    sid = world["sid"]
    ann, bob = world["ann"].user.id, world["bob"].user.id
    berlin = ZoneInfo("Europe/Berlin")
    blocker = shift(world, "bob", 48, 50).json  # 2026-03-26 09:00Z, inside the horizon
    body = {"participants": [ann, bob], "start": "2026-03-25T09:00:00+01:00", "period": "daily", "name": "primary"}
    clash = api(world["admin"], "POST", f"/schedules/{sid}/rotations", body)
    assert clash.status == 409 and [c["id"] for c in clash.json["error"]["details"]["conflicts"]] == [blocker["id"]]
    assert api(world["viewer"], "GET", f"/schedules/{sid}/rotations").json["items"] == []  # nothing written
    api(world["admin"], "DELETE", f"/schedules/{sid}/shifts/{blocker['id']}")
    made = api(world["admin"], "POST", f"/schedules/{sid}/rotations", body)
    assert made.status == 201, made.json
    # daily slots from 25 March to the horizon (NOW + 10 days = 3 April, 08:00 Berlin)
    assert made.json["materialised"]["created"] == 9
    shifts = api(
        world["viewer"],
        "GET",
        f"/schedules/{sid}/shifts",
        query={"from": "2026-03-25T00:00:00Z", "to": "2026-04-01T00:00:00Z"},
    ).json["items"]
    local = [datetime.fromisoformat(s["start"]).astimezone(berlin) for s in shifts]
    assert {(t.hour, t.minute) for t in local} == {(9, 0)}  # across 29 March (CET → CEST)
    assert [s["user_id"] for s in shifts[:3]] == [ann, bob, ann]
    # the hourly job: re-running writes nothing new; a later run extends the horizon
    assert run_rotation_job("2026-03-24T06:30:00Z")["created"] == 0
    assert run_rotation_job("2026-03-25T06:30:00Z")["created"] == 1


def run_rotation_job(time: str) -> dict[str, Any]:
    from infra.local.context import LambdaContext
    from infra.local.loader import load_handler

    event = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "time": time, "detail": {}}
    return load_handler("rotations")(event, LambdaContext(function_name="rotations"))


def test_calendar_feeds_are_token_authorised_rfc5545(world: dict[str, Any]) -> None:
    sid = world["sid"]
    a = shift(world, "ann", 0, 8).json
    shift(world, "bob", 8, 16)
    assert api(None, "GET", f"/schedules/{sid}/calendar.ics").status == 404  # no token issued yet
    issued = api(world["admin"], "POST", f"/schedules/{sid}/calendar-token")
    assert issued.status == 201 and issued.json["url"].endswith(
        f"/schedules/{sid}/calendar.ics?token={issued.json['token']}"
    )
    feed = api(None, "GET", f"/schedules/{sid}/calendar.ics", query={"token": issued.json["token"]})
    assert feed.status == 200 and feed.header("content-type").startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(feed.raw.decode())
    events = list(cal.walk("VEVENT"))
    assert str(events[0]["UID"]) == f"{a['id']}@oncall-hub"
    assert events[0].decoded("DTSTART") == T and events[1].decoded("DTEND") == T + timedelta(hours=16)
    assert api(None, "GET", f"/schedules/{sid}/calendar.ics", query={"token": "x" * 43}).status == 404
    rotated = api(world["admin"], "POST", f"/schedules/{sid}/calendar-token").json["token"]
    assert api(None, "GET", f"/schedules/{sid}/calendar.ics", query={"token": issued.json["token"]}).status == 404
    assert api(None, "GET", f"/schedules/{sid}/calendar.ics", query={"token": rotated}).status == 200
    assert api(world["ann"], "POST", f"/schedules/{sid}/calendar-token").status == 403
    mine = api(world["bob"], "POST", "/me/calendar-token").json
    personal = api(None, "GET", f"/users/{world['bob'].user.id}/calendar.ics", query={"token": mine["token"]})
    assert personal.status == 200
    assert [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(personal.raw.decode()).walk("VEVENT")] == [
        "On call: Platform"
    ]
    assert api(None, "GET", f"/users/{world['ann'].user.id}/calendar.ics", query={"token": mine["token"]}).status == 404


def test_delete_schedule_frees_everyones_slots(world: dict[str, Any]) -> None:
    sid = world["sid"]
    shift(world, "ann", 0, 8)
    api(world["admin"], "POST", f"/schedules/{sid}/calendar-token")
    assert api(world["admin"], "DELETE", f"/schedules/{sid}").status == 204
    assert api(world["admin"], "GET", f"/schedules/{sid}").status == 404
    left = {(i["pk"]["S"].split("#")[0], i["sk"]["S"]) for i in scan()}
    assert left == {("USER", "GUARD")}  # only the person's guard version survives
    other = api(world["admin"], "POST", "/schedules", {"name": "Next", "timezone": "UTC"}).json["id"]
    body = {"user_id": world["ann"].user.id, "start": at(0), "end": at(8)}
    assert api(world["admin"], "POST", f"/schedules/{other}/shifts", body).status == 201


def test_changing_a_rotation_replaces_its_future_after_the_running_shift(world: dict[str, Any]) -> None:
    sid = world["sid"]
    ann, bob = world["ann"].user.id, world["bob"].user.id
    body = {"participants": [ann, bob], "start": "2026-03-23T09:00:00+01:00", "period": "daily"}
    made = api(world["admin"], "POST", f"/schedules/{sid}/rotations", body).json
    rid = made["rotation"]["id"]
    # NOW is 24 March 07:00 Berlin: the slot of 23 March 09:00 (ann) is running until 24 March 09:00
    window = {"from": "2026-03-23T00:00:00Z", "to": "2026-03-28T00:00:00Z"}
    before = api(world["viewer"], "GET", f"/schedules/{sid}/shifts", query=window).json["items"]
    assert [s["user_id"] for s in before] == [ann, bob, ann, bob, ann]
    # bob on duty elsewhere on 25 March 14:00Z: free under the old order (ann holds that day), not under the new one
    other = api(world["admin"], "POST", "/schedules", {"name": "DB", "timezone": "UTC"}).json["id"]
    busy = {"user_id": bob, "start": at(24 + 5), "end": at(24 + 6)}
    blocker = api(world["admin"], "POST", f"/schedules/{other}/shifts", busy).json
    clash = api(world["admin"], "PATCH", f"/schedules/{sid}/rotations/{rid}", {"participants": [bob, ann]})
    assert clash.status == 409 and [c["id"] for c in clash.json["error"]["details"]["conflicts"]] == [blocker["id"]]
    assert api(world["viewer"], "GET", f"/schedules/{sid}/shifts", query=window).json["items"] == before
    api(world["admin"], "DELETE", f"/schedules/{other}/shifts/{blocker['id']}")

    swapped = api(
        world["admin"], "PATCH", f"/schedules/{sid}/rotations/{rid}", {"participants": [bob, ann], "name": "swapped"}
    )
    assert swapped.status == 200, swapped.json
    assert swapped.json["rotation"]["revision"] == 2
    assert swapped.json["rotation"]["effective_from"] == "2026-03-24T08:00:00Z"
    after = api(world["viewer"], "GET", f"/schedules/{sid}/shifts", query=window).json["items"]
    assert after[0]["id"] == before[0]["id"]  # the running shift stays
    # slot n goes to participants[n % 2] of the new order: slot 1 (24 March) → ann, slot 2 → bob, ...
    assert [s["user_id"] for s in after] == [ann, ann, bob, ann, bob]
    assert all(s["id"].endswith(tuple(f"-{n}" for n in range(1, 6))) for s in after[1:])
    assert len({s["id"] for s in after[1:]} & {s["id"] for s in before}) == 0
    again = run_rotation_job("2026-03-24T06:30:00Z")
    assert again["created"] == 0 and again["conflicts"] == 0
