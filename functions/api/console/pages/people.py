"""*People* (everyone; admins see roles and status) and *Me*: profile, reminders, Telegram link."""

from __future__ import annotations

from typing import Any

from console.dispatch import Context, page
from console.pages.common import Failed, collect, done, failed, field_message, guarded, items
from console.web import redirect


@page("GET", "/console/people")
@guarded
def people_page(ctx: Context) -> dict[str, Any]:
    if ctx.is_admin:
        return ctx.render("people.html", users=collect(ctx, "/users"), full=True)
    return ctx.render("people.html", users=collect(ctx, "/people"), full=False)


def _me(
    ctx: Context, *, status: int = 200, error: str | None = None, link: dict[str, Any] | None = None
) -> dict[str, Any]:
    me = ctx.api.get("/me")
    if not me.ok:
        raise Failed(me)
    return ctx.render(
        "me.html",
        status=status,
        profile=me.body,
        error=error,
        link=link,
        done=done(ctx),
        shifts=items(ctx.api.get("/me/shifts", limit=10)),
    )


@page("GET", "/console/me")
@guarded
def me_page(ctx: Context) -> dict[str, Any]:
    return _me(ctx)


@page("POST", "/console/me")
@guarded
def save_me(ctx: Context) -> dict[str, Any]:
    form = ctx.request.form
    body: dict[str, Any] = {"display_name": form.get("display_name", ""), "timezone": form.get("timezone", "")}
    if form.get("email", "").strip():
        body["email"] = form["email"].strip()
    offsets = form.get("reminder_offsets_minutes", "").replace(" ", "")
    try:
        body["reminder_offsets_minutes"] = [int(v) for v in offsets.split(",") if v]
    except ValueError:
        return _me(ctx, status=422, error="reminder_offsets_minutes: minutes before a shift, separated by commas")
    answer = ctx.api.patch("/me", body)
    if answer.ok:
        return redirect("/console/me?done=profile")
    if answer.status in (400, 409, 422):
        return _me(ctx, status=answer.status, error=field_message(answer))
    return failed(ctx, answer)


@page("POST", "/console/me/telegram-link")
@guarded
def telegram_link(ctx: Context) -> dict[str, Any]:
    answer = ctx.api.post(f"/users/{ctx.user.id}/telegram-link")
    if not answer.ok:
        return failed(ctx, answer)
    return _me(ctx, link=answer.body)
