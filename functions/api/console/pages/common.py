"""What the console's pages share: reading lists through the API, refusals as pages, names for ids."""

from __future__ import annotations

import time as time_module
from datetime import UTC, datetime
from typing import Any

from console.client import Answer
from console.dispatch import Context, Page, error_page
from console.web import redirect

SEVERITIES = ("critical", "high", "medium", "low")
STATUSES = ("triggered", "acknowledged", "resolved", "closed")
#: the transitions a page offers for an incident in each status (the API decides whether they are legal)
ACTIONS = {
    "triggered": ("acknowledge", "resolve"),
    "acknowledged": ("resolve", "unacknowledge"),
    "resolved": ("reopen", "close"),
    "closed": (),
}
ACTION_LABELS = {
    "acknowledge": "Acknowledge",
    "unacknowledge": "Unacknowledge",
    "resolve": "Resolve",
    "reopen": "Reopen",
    "close": "Close",
}
#: fixed texts for ?done= (a query string never carries text the page would show as ours)
DONE = {
    "acknowledge": "Acknowledged.",
    "unacknowledge": "Back to triggered: paging resumes.",
    "resolve": "Resolved.",
    "reopen": "Reopened: paging starts again.",
    "close": "Closed.",
    "note": "Note added.",
    "shift": "Shift saved.",
    "override": "Override saved.",
    "deleted": "Shift deleted.",
    "signed-out": "You are signed out.",
    "profile": "Profile saved.",
    "policy": "Escalation policy saved.",
    "service": "Service saved.",
    "team": "Team saved.",
    "rules": "Notification rules saved.",
    "phone-code": "A code is on its way to your number: enter it below to verify the number.",
    "phone": "Your number is verified: SMS can reach you.",
    "phone-removed": "Your number is removed: no SMS will be sent to it.",
    "role": "Role changed.",
    "disabled": "Disabled: their sessions and tokens have ended.",
    "enabled": "Enabled again.",
}
PAGE_LIMIT = 200


def now() -> datetime:
    from oncall import wiring

    # the product's clock (the local runner's clock control moves it too), never the page's own
    return wiring.clock()()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def items(answer: Answer) -> list[dict[str, Any]]:
    return list(answer.body.get("items", [])) if answer.ok and isinstance(answer.body, dict) else []


def collect(ctx: Context, path: str, query: dict[str, str] | None = None, pages: int = 10) -> list[dict[str, Any]]:
    """Every item of a listing, following cursors (bounded: a console page is not an export)."""
    out: list[dict[str, Any]] = []
    cursor = None
    for _ in range(pages):
        answer = ctx.api.get(path, limit=PAGE_LIMIT, cursor=cursor, **(query or {}))
        if not answer.ok:
            raise Failed(answer)
        out += items(answer)
        cursor = answer.body.get("next_cursor")
        if not cursor:
            break
    return out


class Failed(Exception):
    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.message)
        self.answer = answer


def failed(ctx: Context, answer: Answer) -> dict[str, Any]:
    """The API's refusal as a readable page (a 401 means the session ended: sign in again)."""
    if answer.status == 401:
        ctx.cookies.end()
        return redirect("/console/login")
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Slow down"}
    title = titles.get(answer.status, "Refused" if answer.status < 500 else "Something went wrong")
    return error_page(ctx, answer.status, title, answer.message, ctx.request.request_id)


def guarded(fn: Page) -> Page:
    """A refusal the page did not handle itself (``Failed``) becomes the readable error page."""

    def run(ctx: Context) -> dict[str, Any]:
        try:
            return fn(ctx)
        except Failed as exc:
            return failed(ctx, exc.answer)

    run.__name__ = fn.__name__
    return run


#: the directory is the same for everyone signed in, and a name a few seconds stale is harmless: a warm container
#: reads ``/people`` (one Query per person for "on call now") at most this often
NAMES_TTL_SECONDS = 10.0


class _Names:
    """Person id → display name as last read, held by the wiring (so a reset, as between tests, forgets it)."""

    def __init__(self) -> None:
        self.read_at = float("-inf")
        self.names: dict[str, str] = {}


def names(ctx: Context) -> dict[str, str]:
    """Person id → display name for every page part that shows people, from the API's directory."""
    from oncall.wiring.seam import once

    held = once("console-names", _Names)
    if time_module.monotonic() - held.read_at > NAMES_TTL_SECONDS:
        held.names = {p["id"]: p["display_name"] or p["username"] for p in collect(ctx, "/people")}
        held.read_at = time_module.monotonic()
    return dict(held.names)


def done(ctx: Context) -> str | None:
    return DONE.get(ctx.request.query.get("done", ""))


def field_message(answer: Answer) -> str:
    """The API's message and the fields it names (a 422's details list them)."""
    details = answer.error.get("details")
    fields = []
    if isinstance(details, dict):
        fields = [str(f.get("field")) for f in details.get("fields", []) if isinstance(f, dict)] or (
            [str(details["field"])] if details.get("field") else []
        )
    elif isinstance(details, list):
        fields = [str(f.get("field")) for f in details if isinstance(f, dict) and f.get("field")]
    return answer.message + (f" ({', '.join(fields)})" if fields else "")


def field_of(answer: Answer) -> str:
    """The first field a refusal names ("" when it names none), for the page to mark that input invalid."""
    details = answer.error.get("details")
    if isinstance(details, dict):
        fields = [f for f in details.get("fields", []) if isinstance(f, dict)]
        if fields:
            return str(fields[0].get("field") or "")
        return str(details.get("field") or "")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        return str(details[0].get("field") or "")
    return ""


class FormError(Exception):
    """A form field the page itself can tell is wrong before asking the API (a date that does not parse)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def shown_once(ctx: Context, answer: Answer, *, title: str, what: str, field: str, back: str) -> dict[str, Any]:
    """A secret the API returns once (an integration key, a feed URL) on its own page with a copy button; a refusal
    as the error page."""
    if not answer.ok:
        return failed(ctx, answer)
    return ctx.render("secret.html", title=title, what=what, secret=answer.body[field], back=back)
