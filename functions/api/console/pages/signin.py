"""Sign-in and sign-out: the API's login behind a form, its token pair into cookies."""

from __future__ import annotations

from typing import Any

from console import session
from console.dispatch import Context, page
from console.pages.common import done
from console.web import redirect, safe_next


@page("GET", "/console/login", public=True)
def login_form(ctx: Context) -> dict[str, Any]:
    return ctx.render(
        "login.html", next=safe_next(ctx.request.query.get("next")), error=None, username="", done=done(ctx)
    )


@page("POST", "/console/login", public=True)
def login(ctx: Context) -> dict[str, Any]:
    from oncall.settings import get_settings

    form = ctx.request.form
    username = form.get("username", "").strip()
    answer = ctx.api.post("/auth/login", {"username": username, "password": form.get("password", "")})
    if answer.ok:
        body = answer.body
        ctx.cookies.pair(
            body["access_token"], body["refresh_token"], body["expires_in"], get_settings().auth.refresh_ttl_seconds
        )
        # a new CSRF token with the new session: one planted before sign-in is worth nothing after it
        ctx.cookies.set_cookies.append(session.cookie(session.CSRF, session.new_csrf(), session.CSRF_MAX_AGE))
        return redirect(safe_next(form.get("next")))
    if answer.status == 429:
        wait = answer.headers.get("retry-after", "")
        message = "Too many sign-in attempts. " + (f"Try again in {wait} seconds." if wait else "Try again later.")
    elif answer.status == 401:
        message = "Wrong username or password."
    elif answer.status in (400, 422):
        message = "Enter your username and your password."
    else:
        message = f"Sign-in failed ({answer.message})."
    status = answer.status if answer.status in (400, 401, 422, 429) else 502
    return ctx.render(
        "login.html", status=status, next=safe_next(form.get("next")), error=message, username=username, done=None
    )


@page("POST", "/console/logout")
def logout(ctx: Context) -> dict[str, Any]:
    ctx.api.post("/auth/logout")  # revokes the refresh family and its access tokens
    ctx.cookies.end()
    return redirect("/console/login?done=signed-out")
