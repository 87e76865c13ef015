"""``/auth/oidc``: sign in with the company's identity provider (docs/architecture.md, "Single sign-on").

``login`` sends the browser to the provider; the provider sends it back to ``callback``, which answers with the same
token pair ``/auth/login`` gives (or, for a sign-in begun on the web console, sets it as the console's session cookies
and goes back there). A refused sign-in is a 403 naming the reason: a short readable page for a browser
(it asked for ``text/html``), the JSON error envelope for everything else.
"""

from __future__ import annotations

import html
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from oncall import wiring
from oncall.domain.errors import NotFound
from oncall.domain.oidc import SignInRefused
from oncall.services.sso import SignInService

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in refused - OnCall Hub</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem">
<h1>You could not be signed in</h1>
<p>{message}</p>
<p><a href="/auth/oidc/login">Start again</a></p>
<p><small>Reason: <code>{reason}</code></small></p>
</body></html>
"""


class SignedInOut(BaseModel):
    """The token pair ``/auth/login`` gives, and who signed in and where they were going."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme, not a secret
    expires_in: int
    user_id: str
    return_to: str


def _service() -> SignInService:
    service = wiring.core.sign_in_service()
    if service is None:
        raise NotFound("identity provider", "oidc")  # single sign-on is not configured here
    return service


def _wants_html() -> bool:
    accept = (router.current_event.headers or {}).get("accept", "")
    return "text/html" in accept.lower()


@router.get("/auth/oidc/login", tags=["auth"], summary="Sign in with the identity provider (redirects there)")
def oidc_login(
    return_to: Annotated[str | None, Query(max_length=500, description="a path here to come back to")] = None,
) -> Response[None]:
    url = _service().begin(return_to)
    return Response(status_code=302, content_type=None, body=None, headers={"Location": url, **_NO_STORE})


@router.get("/auth/oidc/callback", tags=["auth"], summary="Where the identity provider returns; answers a token pair")
def oidc_callback(
    code: Annotated[str | None, Query(max_length=2048)] = None,
    state: Annotated[str | None, Query(max_length=256)] = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
) -> Response[Any]:
    service = _service()
    try:
        done = service.complete(code=code, state=state, error=error)
    except SignInRefused as refused:
        if not _wants_html():
            raise
        page = _PAGE.format(message=html.escape(refused.message), reason=html.escape(refused.reason))
        return Response(status_code=403, content_type="text/html; charset=utf-8", body=page, headers=_NO_STORE)
    if done.return_to == "/console" or done.return_to.startswith("/console/"):
        # a sign-in begun on the console's sign-in page ends there signed in: the same pair, as its cookies
        from console import session
        from oncall.settings import get_settings

        ttl = get_settings().auth.refresh_ttl_seconds
        cookies = session.signed_in(done.pair.access_token, done.pair.refresh_token, done.pair.expires_in, ttl)
        headers = {"Location": done.return_to, **_NO_STORE}
        return Response(status_code=303, content_type=None, body=None, headers=headers, cookies=cookies)
    out = SignedInOut(
        access_token=done.pair.access_token,
        refresh_token=done.pair.refresh_token,
        expires_in=done.pair.expires_in,
        user_id=done.user.id,
        return_to=done.return_to,
    )
    return Response(status_code=200, content_type="application/json", body=out.model_dump(), headers=_NO_STORE)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
