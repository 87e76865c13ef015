"""*People*: everyone; admins see roles and status and change them (*Me* is ``console.pages.me``)."""

from __future__ import annotations

from typing import Any

from console.client import Answer
from console.dispatch import Context, page
from console.pages.common import collect, done, failed, guarded
from console.web import redirect

ROLES = ("admin", "responder", "viewer")


@page("GET", "/console/people")
@guarded
def people_page(ctx: Context) -> dict[str, Any]:
    if ctx.is_admin:
        return ctx.render("people.html", users=collect(ctx, "/users"), full=True, roles=ROLES, done=done(ctx))
    return ctx.render("people.html", users=collect(ctx, "/people"), full=False, done=done(ctx))


@page("POST", "/console/people/{user_id}/{action}")
@guarded
def person_action(ctx: Context) -> dict[str, Any]:
    """An admin's change to someone: role (``PATCH /users/{id}``), or disable/enable (offboarding)."""
    user_id, action = ctx.request.params["user_id"], ctx.request.params["action"]
    if action == "role":
        answer = ctx.api.patch(f"/users/{user_id}", {"role": ctx.request.form.get("role", "")})
    elif action in ("disable", "enable"):
        answer = ctx.api.post(f"/users/{user_id}/{action}")
    else:
        return failed(ctx, Answer(404, {"error": {"message": "there is no such action"}}, {}))
    if answer.ok:
        return redirect(f"/console/people?done={'role' if action == 'role' else action + 'd'}")
    return failed(ctx, answer)
