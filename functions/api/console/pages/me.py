"""*Me*: profile, how each kind of notification reaches me (every channel the API accepts, in order, plus copies),
which channels can reach me now and how to make the others work, my SMS number with its code, Telegram link,
calendar feed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from console.client import Answer
from console.dispatch import Context, page
from console.pages.common import Failed, collect, done, failed, field_message, field_of, guarded, items, shown_once
from console.web import redirect

LABELS = {"telegram": "Telegram", "slack": "Slack", "email": "Email", "sms": "SMS"}
#: kinds the API refuses to leave without a channel (and pages by its defaults when none of the chosen ones works)
NEVER_MUTED = ("page", "low_urgency", "escalation")


@dataclass
class Shown:
    """What the page shows beyond what is stored: a refusal, which section it belongs to, and, when a form was
    refused, what the person had entered (so nothing they typed is lost)."""

    status: int = 200
    error: str | None = None
    #: the section the error is shown in (``profile``, ``rules``, ``phone``)
    section: str = "profile"
    #: the API's field the error names (``rules.page[1]``, ``number``), to mark the control
    field: str = ""
    link: dict[str, Any] | None = None
    rules: dict[str, list[str]] | None = None
    also: dict[str, list[str]] | None = None
    number: str = ""


def _me(ctx: Context, shown: Shown | None = None) -> dict[str, Any]:
    shown = shown or Shown()
    me = ctx.api.get("/me")
    rules = ctx.api.get("/me/notification-rules")
    for answer in (me, rules):
        if not answer.ok:
            raise Failed(answer)
    states = {c["name"]: c for c in rules.body.get("channels", [])}
    channels = list(states) or list(LABELS)
    stored = {kind: rules.body["rules"].get(kind, default) for kind, default in rules.body["defaults"].items()}
    stored_also = {kind: rules.body.get("also", {}).get(kind, []) for kind in rules.body["defaults"]}
    chosen = shown.rules if shown.rules is not None else stored
    copies = shown.also if shown.also is not None else stored_also
    phone: dict[str, Any] = {"number": None, "pending": None, "code_expired": False}
    if states.get("sms", {}).get("state") not in (None, "off"):
        answer = ctx.api.get("/me/phone")
        if answer.ok:
            phone = answer.body
    return ctx.render(
        "me.html",
        status=shown.status,
        profile=me.body,
        error=shown.error,
        error_section=shown.section,
        error_field=shown.field,
        link=shown.link,
        qr=_qr(shown.link["deep_link"]) if shown.link and shown.link.get("deep_link") else None,
        rules=chosen,
        also=copies,
        reaches={kind: _reaches(kind, chosen[kind], rules.body["defaults"], states) for kind in chosen},
        never_muted=NEVER_MUTED,
        channels=channels,
        labels=LABELS,
        states=states,
        phone=phone,
        number=shown.number,
        done=done(ctx),
        shifts=items(ctx.api.get("/me/shifts", limit=10)),
        schedule_names={s["id"]: s["name"] for s in collect(ctx, "/schedules")},
    )


def _reaches(
    kind: str, chosen: list[str], defaults: dict[str, list[str]], states: dict[str, dict[str, Any]]
) -> tuple[str | None, bool]:
    """Where a message of ``kind`` would go now, and whether only by the default route: the first chosen channel
    that works; for kinds that cannot be muted, when none does, the first working channel of the kind's default
    route (as the notification service falls back, docs/architecture.md "How a page flows")."""
    ready = [c for c, s in states.items() if s.get("state") == "ready"]
    first = next((c for c in chosen if c in ready), None)
    if first is None and kind in NEVER_MUTED:
        fallback = next((c for c in defaults.get(kind, []) if c in ready), None)
        return fallback, fallback is not None
    return first, False


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
        message = "reminder_offsets_minutes: minutes before a shift, separated by commas"
        return _me(ctx, Shown(status=422, error=message, field="reminder_offsets_minutes"))
    answer = ctx.api.patch("/me", body)
    if answer.ok:
        return redirect("/console/me?done=profile")
    if answer.status in (400, 409, 422):
        return _me(ctx, Shown(status=answer.status, error=field_message(answer), field=field_of(answer)))
    return failed(ctx, answer)


def rules_of_form(
    form: dict[str, str], kinds: list[str], channels: list[str]
) -> tuple[dict[str, list[str]], dict[str, list[str]], str | None]:
    """The form's choices as the API's body: per kind, the channels in the order chosen (``rule-<kind>-<n>``) and the
    copies ticked (``also-<kind>-<channel>``); and the field of a choice made twice, which the page refuses itself
    (the API would quietly keep the first, and the person meant something else)."""
    rules: dict[str, list[str]] = {}
    also: dict[str, list[str]] = {}
    twice = None
    for kind in kinds:
        rules[kind] = []
        for i in range(len(channels)):
            value = form.get(f"rule-{kind}-{i}", "").strip()
            if not value:
                continue
            if value in rules[kind] and twice is None:
                twice = f"rules.{kind}[{i}]"
            rules[kind].append(value)
        also[kind] = [c for c in channels if form.get(f"also-{kind}-{c}")]
    return rules, also, twice


@page("POST", "/console/me/notification-rules")
@guarded
def save_rules(ctx: Context) -> dict[str, Any]:
    current = ctx.api.get("/me/notification-rules")
    if not current.ok:
        return failed(ctx, current)
    channels = [c["name"] for c in current.body.get("channels", [])] or list(LABELS)
    rules, also, twice = rules_of_form(ctx.request.form, list(current.body["defaults"]), channels)
    if twice is not None:
        kind = twice.split(".", 1)[1].split("[", 1)[0]
        message = f"{twice}: a channel is chosen twice for {kind.replace('_', ' ')}; choose each channel once"
        return _me(ctx, Shown(422, message, "rules", twice, rules=rules, also=also))
    answer = ctx.api.call("PUT", "/me/notification-rules", body={"rules": rules, "also": also})
    if answer.ok:
        return redirect("/console/me?done=rules")
    if answer.status in (400, 409, 422):
        error = field_message(answer)
        return _me(ctx, Shown(answer.status, error, "rules", field_of(answer), rules=rules, also=also))
    return failed(ctx, answer)


def _phone_refused(ctx: Context, answer: Answer, number: str = "") -> dict[str, Any]:
    """A refusal of the phone forms in the phone section: a wrong number or code names its field; the hourly SMS cap
    says when to try again."""
    if answer.status == 429:
        wait = answer.headers.get("retry-after", "")
        minutes = -(-int(wait) // 60) if wait.isdigit() else None
        message = "Too many SMS to this number (or from this deployment) this hour" + (
            f": try again in {minutes} minute{'s' if minutes != 1 else ''}." if minutes else ": try again later."
        )
        return _me(ctx, Shown(429, message, "phone", "number", number=number))
    if answer.status in (400, 404, 409, 422):
        return _me(ctx, Shown(answer.status, field_message(answer), "phone", field_of(answer), number=number))
    return failed(ctx, answer)


@page("POST", "/console/me/phone")
@guarded
def set_phone(ctx: Context) -> dict[str, Any]:
    """``PUT /me/phone``: the number is texted a code; it reaches the person once the code comes back."""
    number = ctx.request.form.get("number", "").strip()
    answer = ctx.api.call("PUT", "/me/phone", body={"number": number})
    if answer.ok:
        return redirect("/console/me?done=phone-code#phone")
    return _phone_refused(ctx, answer, number)


@page("POST", "/console/me/phone/verify")
@guarded
def verify_phone(ctx: Context) -> dict[str, Any]:
    code = ctx.request.form.get("code", "").replace(" ", "")
    answer = ctx.api.post("/me/phone/verify", {"code": code})
    if answer.ok:
        return redirect("/console/me?done=phone#phone")
    return _phone_refused(ctx, answer)


@page("POST", "/console/me/phone/remove")
@guarded
def remove_phone(ctx: Context) -> dict[str, Any]:
    answer = ctx.api.delete("/me/phone")
    if answer.ok:
        return redirect("/console/me?done=phone-removed#phone")
    return _phone_refused(ctx, answer)


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
    return _me(ctx, Shown(link=answer.body))
