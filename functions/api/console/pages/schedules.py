"""*Schedules*: the list and a week/month calendar where shifts and overrides are added, moved and deleted."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from console import render
from console.client import Answer
from console.dispatch import Context, page
from console.pages.common import (
    Failed,
    FormError,
    collect,
    done,
    failed,
    field_message,
    guarded,
    iso,
    items,
    names,
    now,
    shown_once,
)
from console.web import redirect


@page("GET", "/console/schedules")
@guarded
def schedules_page(ctx: Context) -> dict[str, Any]:
    people = names(ctx)
    rows = []
    for schedule in collect(ctx, "/schedules"):
        on_call = ctx.api.get(f"/schedules/{schedule['id']}/oncall")
        rows.append({"schedule": schedule, "user_id": on_call.body.get("user_id") if on_call.ok else None})
    return ctx.render("schedules.html", rows=rows, people=people)


def _local_datetime(value: str, tz: str, field: str) -> datetime:
    try:
        naive = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FormError(field, "enter a date and a time") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=render.zone(tz))


def _range(ctx: Context, tz: str) -> tuple[str, date, date]:
    view = "month" if ctx.request.query.get("view") == "month" else "week"
    try:
        anchor = date.fromisoformat(ctx.request.query.get("start", ""))
    except ValueError:
        anchor = now().astimezone(render.zone(tz)).date()
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        return view, first, first + timedelta(days=7)
    first = anchor.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return view, first, following


def _calendar(
    ctx: Context, schedule_id: str, *, status: int = 200, error: str | None = None, form: dict[str, str] | None = None
) -> dict[str, Any]:
    schedule = ctx.api.get(f"/schedules/{schedule_id}")
    if not schedule.ok:
        raise Failed(schedule)
    tz = ctx.user.timezone or "UTC"
    zone = render.zone(tz)
    view, first, last = _range(ctx, tz)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last, time(), zone)
    shifts = collect(ctx, f"/schedules/{schedule_id}/shifts", {"from": iso(start), "to": iso(end)})
    rotations = {
        r["id"]: r.get("name") or "rotation" for r in items(ctx.api.get(f"/schedules/{schedule_id}/rotations"))
    }
    people = names(ctx)
    days = []
    day = first
    while day < last:
        day_start = datetime.combine(day, time(), zone)
        day_end = day_start + timedelta(days=1)
        todays = []
        for s in shifts:
            s_start, s_end = render.parse_time(s["start"]), render.parse_time(s["end"])
            assert s_start is not None and s_end is not None
            if s_start < day_end and s_end > day_start:
                todays.append(
                    {
                        **s,
                        "from_label": "…" if s_start < day_start else s_start.astimezone(zone).strftime("%H:%M"),
                        "to_label": "…" if s_end > day_end else s_end.astimezone(zone).strftime("%H:%M"),
                        "rotation": rotations.get(s["rotation_id"] or ""),
                    }
                )
        days.append({"date": day, "shifts": todays, "today": day == now().astimezone(zone).date()})
        day += timedelta(days=1)
    step = timedelta(days=7) if view == "week" else timedelta(days=31)
    previous = (first - step).replace(day=1) if view == "month" else first - step
    editing = next((s for s in shifts if s["id"] == ctx.request.query.get("edit")), None)
    return ctx.render(
        "calendar.html",
        status=status,
        schedule=schedule.body,
        view=view,
        days=days,
        first=first,
        last=last - timedelta(days=1),
        previous=previous.isoformat(),
        following=last.isoformat(),
        people=people,
        error=error,
        form=form or {},
        editing=editing,
        done=done(ctx),
        local=lambda value: render.when(value, tz, "%Y-%m-%dT%H:%M"),
    )


@page("GET", "/console/schedules/{schedule_id}")
@guarded
def calendar_page(ctx: Context) -> dict[str, Any]:
    return _calendar(ctx, ctx.request.params["schedule_id"])


def _shift_body(ctx: Context) -> dict[str, Any]:
    form = ctx.request.form
    tz = ctx.user.timezone or "UTC"
    if not form.get("user_id"):
        raise FormError("user_id", "choose who is on duty")
    start = _local_datetime(form.get("start", ""), tz, "start")
    end = _local_datetime(form.get("end", ""), tz, "end")
    return {"user_id": form["user_id"], "start": start.isoformat(), "end": end.isoformat()}


def _overlap_message(ctx: Context, answer: Answer) -> str:
    conflicts = (answer.error.get("details") or {}).get("conflicts") or []
    if answer.error.get("code") != "shift_overlap" or not conflicts:
        return field_message(answer)
    people = names(ctx)
    tz = ctx.user.timezone or "UTC"
    described = [
        f"{people.get(c['user_id'], c['user_id'])}'s shift {render.when(c['start'], tz)} – {render.when(c['end'], tz)}"
        + ("" if c.get("schedule_id") == ctx.request.params["schedule_id"] else " on another schedule")
        for c in conflicts
    ]
    return "This overlaps " + "; ".join(described) + "."


def _shift_write(ctx: Context, method: str, path: str, done_code: str) -> dict[str, Any]:
    schedule_id = ctx.request.params["schedule_id"]
    try:
        body = _shift_body(ctx)
    except FormError as exc:
        return _calendar(ctx, schedule_id, status=422, error=f"{exc.field}: {exc.message}", form=ctx.request.form)
    answer = ctx.api.call(method, path, body=body)
    if answer.ok:
        week = _local_datetime(ctx.request.form["start"], ctx.user.timezone or "UTC", "start").date().isoformat()
        return redirect(f"/console/schedules/{schedule_id}?start={week}&done={done_code}")
    if answer.status in (400, 409, 422):
        # the refusal is shown in place, with what was typed kept in the form
        return _calendar(
            ctx, schedule_id, status=answer.status, error=_overlap_message(ctx, answer), form=ctx.request.form
        )
    return failed(ctx, answer)


@page("POST", "/console/schedules/{schedule_id}/shifts")
@guarded
def create_shift(ctx: Context) -> dict[str, Any]:
    schedule_id = ctx.request.params["schedule_id"]
    if ctx.request.form.get("kind") == "override":
        return _shift_write(ctx, "POST", f"/schedules/{schedule_id}/overrides", "override")
    return _shift_write(ctx, "POST", f"/schedules/{schedule_id}/shifts", "shift")


@page("POST", "/console/schedules/{schedule_id}/shifts/{shift_id}/move")
@guarded
def move_shift(ctx: Context) -> dict[str, Any]:
    p = ctx.request.params
    return _shift_write(ctx, "PATCH", f"/schedules/{p['schedule_id']}/shifts/{p['shift_id']}", "shift")


@page("POST", "/console/schedules/{schedule_id}/shifts/{shift_id}/delete")
@guarded
def delete_shift(ctx: Context) -> dict[str, Any]:
    p = ctx.request.params
    answer = ctx.api.delete(f"/schedules/{p['schedule_id']}/shifts/{p['shift_id']}")
    if answer.ok:
        try:  # back to the week the person was looking at; anything but a date is not echoed into a header
            week = date.fromisoformat(ctx.request.form.get("start", "")).isoformat()
        except ValueError:
            week = ""
        return redirect(f"/console/schedules/{p['schedule_id']}?start={week}&done=deleted")
    return failed(ctx, answer)


@page("POST", "/console/schedules/{schedule_id}/calendar-token")
@guarded
def schedule_feed(ctx: Context) -> dict[str, Any]:
    schedule_id = ctx.request.params["schedule_id"]
    answer = ctx.api.post(f"/schedules/{schedule_id}/calendar-token")
    back = f"/console/schedules/{schedule_id}"
    return shown_once(ctx, answer, title="Calendar feed", what="calendar feed URL", field="url", back=back)
