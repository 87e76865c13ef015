"""Sign-in and sign-out: the API's login behind a form, its token pair into cookies."""

from __future__ import annotations

from typing import Any

from console.dispatch import Context, page
from console.pages.common import done
from console.web import redirect, safe_next


def _sso() -> bool:
    """Whether the company's identity provider is configured (the sign-in page then offers it)."""
    from oncall import wiring

    return wiring.core.sign_in_service() is not None


@page("GET", "/console/login", public=True)
def login_form(ctx: Context) -> dict[str, Any]:
    target = safe_next(ctx.request.query.get("next"))
    return ctx.render(
        "login.html", next=target, error=None, username="", done=done(ctx), sso=_sso(), sso_url=_sso_url(target)
    )


def _sso_url(target: str) -> str:
    from urllib.parse import urlencode

    return "/auth/oidc/login?" + urlencode({"return_to": target})


@page("POST", "/console/login", public=True)
def login(ctx: Context) -> dict[str, Any]:
    from oncall.settings import get_settings

    form = ctx.request.form
    username = form.get("username", "").strip()
    answer = ctx.api.post("/auth/login", {"username": username, "password": form.get("password", "")})
    if answer.ok:
        body = answer.body
        ctx.cookies.new_session(
            body["access_token"], body["refresh_token"], body["expires_in"], get_settings().auth.refresh_ttl_seconds
        )
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
    target = safe_next(form.get("next"))
    return ctx.render(
        "login.html",
        status=status,
        next=target,
        error=message,
        username=username,
        done=None,
        sso=_sso(),
        sso_url=_sso_url(target),
    )


@page("POST", "/console/logout")
def logout(ctx: Context) -> dict[str, Any]:
    ctx.api.post("/auth/logout")  # revokes the refresh family and its access tokens
    ctx.cookies.end()
    return redirect("/console/login?done=signed-out")
