"""*People* (everyone; admins see roles and status) and *Me*: profile, reminders, Telegram link."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from console.client import Answer
from console.dispatch import Context, page
from console.pages.common import Failed, collect, done, failed, field_message, guarded, items, shown_once
from console.web import redirect

#: the channels a person can route each kind of notification to
CHANNELS = ("telegram", "email")
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


def _me(
    ctx: Context, *, status: int = 200, error: str | None = None, link: dict[str, Any] | None = None
) -> dict[str, Any]:
    me = ctx.api.get("/me")
    rules = ctx.api.get("/me/notification-rules")
    for answer in (me, rules):
        if not answer.ok:
            raise Failed(answer)
    current = {kind: rules.body["rules"].get(kind, default) for kind, default in rules.body["defaults"].items()}
    return ctx.render(
        "me.html",
        status=status,
        profile=me.body,
        error=error,
        link=link,
        qr=_qr(link["deep_link"]) if link and link.get("deep_link") else None,
        rules=current,
        channels=CHANNELS,
        done=done(ctx),
        shifts=items(ctx.api.get("/me/shifts", limit=10)),
        schedule_names={s["id"]: s["name"] for s in collect(ctx, "/schedules")},
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


@page("POST", "/console/me/notification-rules")
@guarded
def save_rules(ctx: Context) -> dict[str, Any]:
    form = ctx.request.form
    current = ctx.api.get("/me/notification-rules")
    if not current.ok:
        return failed(ctx, current)
    rules = {kind: [c for c in CHANNELS if form.get(f"rule-{kind}-{c}")] for kind in current.body["defaults"]}
    answer = ctx.api.call("PUT", "/me/notification-rules", body={"rules": rules})
    if answer.ok:
        return redirect("/console/me?done=rules")
    if answer.status in (400, 409, 422):
        return _me(ctx, status=answer.status, error=field_message(answer))
    return failed(ctx, answer)


def _qr(url: str) -> Markup:
    """The Telegram deep link as an inline SVG QR code: scanned with the phone, it opens the bot there."""
    import segno

    # segno writes only paths and presentation attributes (no style attribute for the CSP to refuse)
    return Markup(segno.make(url, error="m").svg_inline(scale=4, title="Scan to open the bot"))  # noqa: S704


@page("POST", "/console/me/calendar-token")
@guarded
def my_feed(ctx: Context) -> dict[str, Any]:
    answer = ctx.api.post("/me/calendar-token")
    return shown_once(
        ctx, answer, title="Your calendar feed", what="calendar feed URL", field="url", back="/console/me"
    )


@page("POST", "/console/me/telegram-link")
@guarded
def telegram_link(ctx: Context) -> dict[str, Any]:
    answer = ctx.api.post(f"/users/{ctx.user.id}/telegram-link")
    if not answer.ok:
        return failed(ctx, answer)
    return _me(ctx, link=answer.body)
