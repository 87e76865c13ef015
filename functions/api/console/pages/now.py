"""*Now*: who is on call on every schedule and who is next, my next shifts, open incidents by severity."""

from __future__ import annotations

from typing import Any

from console import render
from console.dispatch import Context, page
from console.pages.common import SEVERITIES, Failed, collect, guarded, iso, items, names, now


@page("GET", "/console")
@guarded
def now_page(ctx: Context) -> dict[str, Any]:
    at = now()
    people = names(ctx)
    rows = []
    for schedule in collect(ctx, "/schedules"):
        sid = schedule["id"]
        on_call = ctx.api.get(f"/schedules/{sid}/oncall")
        if not on_call.ok:
            raise Failed(on_call)
        shift = on_call.body.get("shift")
        upcoming = items(ctx.api.get(f"/schedules/{sid}/shifts", **{"from": iso(at), "limit": 5}))
        following = [s for s in upcoming if render.parse_time(s["start"]) > at]  # type: ignore[operator]
        rows.append({"schedule": schedule, "shift": shift, "next": following[0] if following else None})
    mine = items(ctx.api.get("/me/shifts", limit=5))
    open_incidents = collect(ctx, "/incidents", {"status": "triggered"}, pages=2) + collect(
        ctx, "/incidents", {"status": "acknowledged"}, pages=2
    )
    by_severity = {s: [i for i in open_incidents if i["severity"] == s] for s in SEVERITIES}
    return ctx.render(
        "now.html",
        rows=rows,
        people=people,
        mine=mine,
        schedule_names={r["schedule"]["id"]: r["schedule"]["name"] for r in rows},
        by_severity=by_severity,
        open_count=len(open_incidents),
    )
