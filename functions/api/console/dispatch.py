"""Routing, sign-in, CSRF and error pages for the console; the pages themselves are in ``console.pages``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from console import render, session
from console.client import ApiClient
from console.web import FormTooLarge, Request, form_of, html, redirect
from oncall.domain.errors import Unauthenticated
from oncall.domain.users import Role
from oncall.observability import log as logger

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from oncall.services.auth import Principal


@dataclass
class Context:
    """What a page handler gets: the request, the signed-in API client, the CSRF token for its forms."""

    request: Request
    api: ApiClient
    csrf: str
    principal: Principal | None
    cookies: session.Outgoing
    #: what a page read once and may need again while answering the same request
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> Any:
        assert self.principal is not None
        return self.principal.user

    @property
    def can_act(self) -> bool:
        """Responders and admins see action buttons; a viewer's forged post still meets the API's 403."""
        return self.principal is not None and self.principal.user.role is not Role.VIEWER

    @property
    def is_admin(self) -> bool:
        return self.principal is not None and self.principal.user.role is Role.ADMIN

    def render(self, template: str, status: int = 200, **values: Any) -> dict[str, Any]:
        user = self.principal.user if self.principal else None
        body = render.page(
            template,
            csrf=self.csrf,
            me=user,
            tz=user.timezone if user else "UTC",
            can_act=self.can_act,
            is_admin=self.is_admin,
            path=self.request.path,
            **values,
        )
        return html(status, body)


Page = Callable[[Context], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    page: Page
    public: bool = False


ROUTES: list[Route] = []


def page(method: str, path: str, *, public: bool = False) -> Callable[[Page], Page]:
    """Declare a console page: ``{name}`` matches one path segment."""
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[A-Za-z0-9_-]{1,64})", path) + "$")

    def add(fn: Page) -> Page:
        ROUTES.append(Route(method, pattern, fn, public))
        return fn

    return add


def error_page(
    ctx_or_none: Context | None, status: int, title: str, message: str, request_id: str = ""
) -> dict[str, Any]:
    body = render.page(
        "error.html",
        status=status,
        title=title,
        message=message,
        request_id=request_id,
        me=ctx_or_none.user if ctx_or_none and ctx_or_none.principal else None,
        csrf=ctx_or_none.csrf if ctx_or_none else "",
        path="",
        is_admin=False,
    )
    return html(status, body)


def _static(request: Request) -> dict[str, Any]:
    name = request.path.removeprefix("/console/static/")
    found = render.assets().get(name)
    if found is None:
        return error_page(None, 404, "Not found", "There is no such file.")
    data, digest = found
    suffix = name[name.rfind(".") :]
    # a hashed URL never changes content: cache it for a year; an unhashed one must be revalidated
    cache = "public, max-age=31536000, immutable" if request.query.get("v") == digest else "public, max-age=60"
    return {
        "statusCode": 200,
        "headers": {"Content-Type": render.ASSET_TYPES[suffix], "Cache-Control": cache, "ETag": f'"{digest}"'},
        "body": data.decode(),
        "isBase64Encoded": False,
    }


def _authenticate(request: Request, out: session.Outgoing) -> tuple[Principal, str] | None:
    """The caller from the session cookie; an expired access token is refreshed (the refresh token rotates)."""
    from oncall import wiring
    from oncall.settings import get_settings

    auth = wiring.core.auth_service()
    access = request.cookies.get(session.ACCESS)
    if access:
        try:
            return auth.authenticate(access), access
        except Unauthenticated:
            pass
    refresh = request.cookies.get(session.REFRESH)
    if not refresh:
        return None
    try:
        pair = auth.refresh(refresh)
        principal = auth.authenticate(pair.access_token)
    except Unauthenticated:
        out.end()
        return None
    out.pair(pair.access_token, pair.refresh_token, pair.expires_in, get_settings().auth.refresh_ttl_seconds)
    return principal, pair.access_token


def handle(app: APIGatewayHttpResolver, event: dict[str, Any], context: Any) -> dict[str, Any]:
    from console import pages  # noqa: F401  (registers the pages)

    http = (event.get("requestContext") or {}).get("http") or {}
    method = str(http.get("method") or "GET").upper()
    path = str(event.get("rawPath") or "/")
    if path == "/":
        return redirect("/console")
    query = {str(k): str(v) for k, v in (event.get("queryStringParameters") or {}).items()}
    request = Request(method, path, query, {}, session.cookies(event), event)
    if path.startswith("/console/static/") and method in ("GET", "HEAD"):
        return _static(request)
    out = session.Outgoing()
    csrf = request.cookies.get(session.CSRF) or ""
    if not csrf:
        csrf = session.new_csrf()
        out.set_cookies.append(session.cookie(session.CSRF, csrf, session.CSRF_MAX_AGE))
    response = _dispatch(app, request, context, out, csrf)
    if out.set_cookies:
        response["cookies"] = [*out.set_cookies, *response.get("cookies", [])]
    return response


def _dispatch(
    app: APIGatewayHttpResolver, request: Request, context: Any, out: session.Outgoing, csrf: str
) -> dict[str, Any]:
    found = [(r, m) for r in ROUTES if (m := r.pattern.match(request.path))]
    chosen = next(((r, m) for r, m in found if r.method == request.method), None)
    if chosen is None:
        if found:
            return error_page(None, 405, "Not allowed", f"{request.method} is not how this page is used.")
        return error_page(None, 404, "Not found", "There is no such page in the console.")
    route, match = chosen
    request.params = match.groupdict()
    if request.method == "POST":
        try:
            request.form = form_of(request.event)
        except FormTooLarge:
            return error_page(None, 413, "Too large", "That form was larger than the console accepts.")
        if not session.csrf_ok(request.cookies.get(session.CSRF), request.form.get("csrf")):
            # no session-changing request without the token this console put in its own form
            return error_page(
                None,
                403,
                "Form refused",
                "This form was not sent from this console (or it expired). Reload the page and try again.",
            )
    api = ApiClient(app, request.event, context)
    ctx = Context(request, api, csrf, None, out)
    if not route.public:
        who = _authenticate(request, out)
        if who is None:
            target = request.path if request.method == "GET" else "/console"
            return redirect(f"/console/login?next={quote(target)}")
        ctx.principal, bearer = who
        ctx.api = api.signed_in(ctx.principal, bearer)
    try:
        return route.page(ctx)
    except Exception:
        logger.exception("console page failed", extra={"path": request.path})
        return error_page(
            ctx,
            500,
            "Something went wrong",
            "The console could not show this page. The error is logged under this request id.",
            request.request_id,
        )
