"""*Teams*: every team the person may read, with its Slack channel; admins add teams, a team's managers (and admins)
edit one. The Slack channel is where incidents of the team's services that name no channel of their own are posted
(docs/architecture.md "Slack")."""

from __future__ import annotations

from typing import Any

from console.client import Answer
from console.dispatch import Context, page
from console.pages.common import Failed, collect, done, failed, field_message, field_of, guarded
from console.web import redirect

FIELDS = ("name", "description", "slack_channel")


def _body(form: dict[str, str], *, clearing: bool) -> dict[str, Any]:
    """The API body of a team form; on an edit, an emptied description or channel removes it (``null``)."""
    body: dict[str, Any] = {"name": form.get("name", "").strip()}
    for key in ("description", "slack_channel"):
        value = form.get(key, "").strip()
        if value or clearing:
            body[key] = value or None
    return body


def _teams(ctx: Context, *, status: int = 200, refused: Answer | None = None, form: Any = None) -> dict[str, Any]:
    return ctx.render(
        "teams.html",
        status=status,
        teams=collect(ctx, "/teams"),
        form=form or {},
        error=field_message(refused) if refused else None,
        error_field=field_of(refused) if refused else None,
        done=done(ctx),
    )


@page("GET", "/console/teams")
@guarded
def teams_page(ctx: Context) -> dict[str, Any]:
    return _teams(ctx)


@page("POST", "/console/teams/new")
@guarded
def create_team(ctx: Context) -> dict[str, Any]:
    answer = ctx.api.post("/teams", _body(ctx.request.form, clearing=False))
    if answer.ok:
        return redirect("/console/teams?done=team")
    if answer.status in (400, 409, 422):
        return _teams(ctx, status=answer.status, refused=answer, form=ctx.request.form)
    return failed(ctx, answer)


def _team(ctx: Context) -> dict[str, Any]:
    team = ctx.api.get(f"/teams/{ctx.request.params['team_id']}")
    if not team.ok:
        raise Failed(team)
    return dict(team.body)


def _team_form(
    ctx: Context, team: dict[str, Any], *, status: int = 200, refused: Answer | None = None, form: Any = None
) -> dict[str, Any]:
    values = {key: (form.get(key, "") if form is not None else (team.get(key) or "")) for key in FIELDS}
    services = collect(ctx, "/services", {"team_id": team["id"]})
    return ctx.render(
        "team.html",
        status=status,
        team=team,
        values=values,
        # the services whose incidents go to the team's channel: those that name none of their own
        falling_back=[s for s in services if not s.get("slack_channel")],
        own_channel=[s for s in services if s.get("slack_channel")],
        error=field_message(refused) if refused else None,
        error_field=field_of(refused) if refused else None,
    )


@page("GET", "/console/teams/{team_id}")
@guarded
def edit_team(ctx: Context) -> dict[str, Any]:
    return _team_form(ctx, _team(ctx))


@page("POST", "/console/teams/{team_id}")
@guarded
def update_team(ctx: Context) -> dict[str, Any]:
    team, form = _team(ctx), ctx.request.form
    answer = ctx.api.patch(f"/teams/{team['id']}", _body(form, clearing=True))
    if answer.ok:
        return redirect("/console/teams?done=team")
    if answer.status in (400, 409, 422):
        return _team_form(ctx, team, status=answer.status, refused=answer, form=form)
    return failed(ctx, answer)
