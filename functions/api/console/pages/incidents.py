"""*Incidents*: the live list (polled rows), the detail with timeline, and the transitions as buttons."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from console.client import Answer
from console.dispatch import Context, error_page, page
from console.pages.common import (
    ACTION_LABELS,
    ACTIONS,
    SEVERITIES,
    STATUSES,
    Failed,
    collect,
    done,
    failed,
    field_message,
    guarded,
    items,
    names,
)
from console.web import redirect


def _incident_query(ctx: Context) -> dict[str, str]:
    q = ctx.request.query
    return {k: q[k] for k in ("status", "severity", "service_id", "team_id") if q.get(k)}


def _incident_list(ctx: Context) -> tuple[list[dict[str, Any]], str | None]:
    query = _incident_query(ctx)
    answer = ctx.api.get("/incidents", limit=50, cursor=ctx.request.query.get("cursor"), **query)
    if not answer.ok:
        raise Failed(answer)
    return items(answer), answer.body.get("next_cursor")


@page("GET", "/console/incidents")
@guarded
def incidents_page(ctx: Context) -> dict[str, Any]:
    found, cursor = _incident_list(ctx)
    query = _incident_query(ctx)
    services = {s["id"]: s["name"] for s in collect(ctx, "/services")}
    return ctx.render(
        "incidents.html",
        incidents=found,
        people=names(ctx),
        services=services,
        # a person in several teams narrows the list to one; the API already limits it to their teams
        teams={t["id"]: t["name"] for t in collect(ctx, "/teams")},
        query=query,
        statuses=STATUSES,
        severities=SEVERITIES,
        next_url=f"/console/incidents?{urlencode({**query, 'cursor': cursor})}" if cursor else None,
        # only the first page updates itself: a later page is a fixed window into the past
        poll_url=None if ctx.request.query.get("cursor") else f"/console/incidents/rows?{urlencode(query)}",
    )


@page("GET", "/console/incidents/rows")
@guarded
def incident_rows(ctx: Context) -> dict[str, Any]:
    found, _ = _incident_list(ctx)
    services = {s["id"]: s["name"] for s in collect(ctx, "/services")}
    response = ctx.render("incident_rows.html", incidents=found, people=names(ctx), services=services)
    # the poller swaps rows in only from an answer that says it is rows (not a sign-in page after a redirect)
    response["headers"]["X-Console-Fragment"] = "incident-rows"
    return response


def _incident_detail(ctx: Context, incident_id: str, status: int = 200, error: str | None = None) -> dict[str, Any]:
    incident = ctx.api.get(f"/incidents/{incident_id}")
    if not incident.ok:
        raise Failed(incident)
    timeline = items(ctx.api.get(f"/incidents/{incident_id}/timeline"))
    service = ctx.api.get(f"/services/{incident.body['service_id']}")
    return ctx.render(
        "incident.html",
        status=status,
        incident=incident.body,
        timeline=timeline,
        alerts=[e for e in timeline if e["kind"].startswith("alert")],
        service=service.body if service.ok else None,
        people=names(ctx),
        actions=ACTIONS.get(incident.body["status"], ()),
        labels=ACTION_LABELS,
        error=error,
        done=done(ctx),
    )


@page("GET", "/console/incidents/{incident_id}")
@guarded
def incident_page(ctx: Context) -> dict[str, Any]:
    return _incident_detail(ctx, ctx.request.params["incident_id"])


@page("POST", "/console/incidents/{incident_id}/{action}")
@guarded
def incident_action(ctx: Context) -> dict[str, Any]:
    incident_id, action = ctx.request.params["incident_id"], ctx.request.params["action"]
    if action == "notes":
        answer = ctx.api.post(f"/incidents/{incident_id}/notes", {"text": ctx.request.form.get("text", "")})
        if answer.ok:
            return redirect(f"/console/incidents/{incident_id}?done=note")
        if answer.status in (400, 409, 422):
            return _incident_detail(ctx, incident_id, answer.status, field_message(answer))
        return failed(ctx, answer)
    if action not in ACTION_LABELS:
        return error_page(ctx, 404, "Not found", "There is no such action.")
    answer = ctx.api.post(f"/incidents/{incident_id}/{action}")
    if answer.ok:
        return redirect(f"/console/incidents/{incident_id}?done={action}")
    if answer.status == 409:
        # someone else moved it first: show what it is now, and why this press did nothing
        return _incident_detail(ctx, incident_id, 409, _conflict_message(ctx, answer, incident_id))
    return failed(ctx, answer)


def _conflict_message(ctx: Context, answer: Answer, incident_id: str) -> str:
    """'Already acknowledged' said as a person would: what it is now, by whom."""
    current = ctx.api.get(f"/incidents/{incident_id}")
    text = answer.message[:1].upper() + answer.message[1:]
    if not current.ok:
        return text + "."
    now_is = current.body
    by = now_is.get("acknowledged_by") if now_is["status"] == "acknowledged" else None
    who = names(ctx).get(str(by), "someone else") if by else ""
    return f"{text}: it is {now_is['status']} now" + (f" (acknowledged by {who})" if who else "") + "."
