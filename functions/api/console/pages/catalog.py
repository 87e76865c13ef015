"""*Services*: services with their escalation policies, Slack channels, integration URLs and key rotation; a service's
own form edits it."""

from __future__ import annotations

from typing import Any

from console.client import Answer
from console.dispatch import Context, page
from console.pages.common import (
    Failed,
    FormError,
    collect,
    done,
    failed,
    field_message,
    field_of,
    guarded,
    names,
    shown_once,
)
from console.web import redirect


@page("GET", "/console/services")
@guarded
def services_page(ctx: Context) -> dict[str, Any]:
    return _services(ctx)


def _services(
    ctx: Context, *, status: int = 200, refused: Answer | None = None, form: dict[str, str] | None = None
) -> dict[str, Any]:
    from oncall.settings import get_settings

    base = (get_settings().public_url or _origin(ctx)).rstrip("/")
    policies = collect(ctx, "/escalation-policies")
    services, teams = collect(ctx, "/services"), _teams(ctx)
    return ctx.render(
        "services.html",
        status=status,
        error=field_message(refused) if refused else None,
        error_field=field_of(refused) if refused else None,
        form=form or {},
        done=done(ctx),
        services=services,
        slack={s["id"]: _applies(s, teams) for s in services},
        policies=policies,
        policy_names={p["id"]: p["name"] for p in policies},
        people=names(ctx),
        schedules={s["id"]: s["name"] for s in collect(ctx, "/schedules")},
        base=base,
    )


def _origin(ctx: Context) -> str:
    headers = {str(k).lower(): str(v) for k, v in (ctx.request.event.get("headers") or {}).items()}
    scheme = headers.get("x-forwarded-proto", "https")
    return f"{scheme}://{headers.get('host', 'localhost')}"


@page("POST", "/console/services/{service_id}/rotate-key")
@guarded
def rotate_key(ctx: Context) -> dict[str, Any]:
    answer = ctx.api.post(f"/services/{ctx.request.params['service_id']}/rotate-key")
    return _key_page(ctx, answer, "New integration key")


#: level rows a policy form offers beyond the policy's own (the last ones empty, to add levels without script)
SPARE_LEVELS = 2
TARGETS_PER_LEVEL = 3


def _targets(ctx: Context) -> dict[str, list[tuple[str, str]]]:
    """Options for a level's target selects, grouped: schedules, people, teams (value ``<type>:<id>``)."""
    return {
        "Schedules (whoever is on call)": [(f"schedule:{s['id']}", s["name"]) for s in collect(ctx, "/schedules")],
        "People": sorted(((f"user:{i}", n) for i, n in names(ctx).items()), key=lambda o: o[1]),
        "Teams (whoever is on call on any of their schedules)": [
            (f"team:{t['id']}", t["name"]) for t in collect(ctx, "/teams")
        ],
    }


def _policy_form(
    ctx: Context, policy: dict[str, Any] | None, *, status: int = 200, error: str | None = None, form: Any = None
) -> dict[str, Any]:
    levels = [
        {
            "minutes": max(1, round(level["timeout_seconds"] / 60)),
            "targets": [f"{t['type']}:{t['id']}" for t in level["targets"]],
        }
        for level in (policy or {}).get("levels", [])
    ]
    if form is not None:  # a refused form comes back as it was typed
        levels = _levels_typed(form)
    levels += [{"minutes": 5, "targets": []}] * SPARE_LEVELS
    return ctx.render(
        "policy.html",
        status=status,
        policy=policy,
        name=form.get("name", "") if form is not None else (policy or {}).get("name", ""),
        description=form.get("description", "") if form is not None else (policy or {}).get("description") or "",
        repeat=form.get("repeat", "0") if form is not None else str((policy or {}).get("repeat", 0)),
        levels=levels,
        per_level=TARGETS_PER_LEVEL,
        options=_targets(ctx),
        error=error,
    )


def _levels_typed(form: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for i in range(40):
        if f"level-{i}-minutes" not in form:
            break
        targets = [form.get(f"level-{i}-target-{k}", "") for k in range(TARGETS_PER_LEVEL)]
        out.append({"minutes": form[f"level-{i}-minutes"], "targets": [t for t in targets if t]})
    return out


def _policy_body(form: dict[str, str]) -> dict[str, Any]:
    levels = []
    for n, level in enumerate(lvl for lvl in _levels_typed(form) if lvl["targets"]):
        try:
            minutes = float(str(level["minutes"]).strip())
        except ValueError:
            raise FormError(f"level {n + 1}", "the timeout is a number of minutes") from None
        targets = [dict(zip(("type", "id"), t.split(":", 1), strict=True)) for t in level["targets"] if ":" in t]
        levels.append({"timeout_seconds": max(1, round(minutes * 60)), "targets": targets})
    if not levels:
        raise FormError("levels", "give at least one level someone is paged on")
    try:
        repeat = int(form.get("repeat") or 0)
    except ValueError:
        raise FormError("repeat", "a whole number of extra passes") from None
    body: dict[str, Any] = {"name": form.get("name", "").strip(), "levels": levels, "repeat": repeat}
    body["description"] = form.get("description", "").strip() or None
    return body


@page("GET", "/console/policies/new")
@guarded
def new_policy(ctx: Context) -> dict[str, Any]:
    return _policy_form(ctx, None)


def _key_page(ctx: Context, answer: Answer, title: str) -> dict[str, Any]:
    name = answer.body.get("name", "") if answer.ok else ""
    return shown_once(
        ctx,
        answer,
        title=f"{title} for {name}",
        what="integration key",
        field="integration_key",
        back="/console/services",
    )


def _one(ctx: Context, path: str) -> dict[str, Any]:
    """The object the API answers at ``path``; its refusal (404, 403) becomes the console's error page."""
    answer = ctx.api.get(path)
    if not answer.ok:
        raise Failed(answer)
    return dict(answer.body)


def _policy(ctx: Context) -> dict[str, Any]:
    return _one(ctx, f"/escalation-policies/{ctx.request.params['policy_id']}")


@page("GET", "/console/policies/{policy_id}")
@guarded
def edit_policy(ctx: Context) -> dict[str, Any]:
    return _policy_form(ctx, _policy(ctx))


def _save_policy(ctx: Context, policy: dict[str, Any] | None) -> dict[str, Any]:
    try:
        body = _policy_body(ctx.request.form)
    except FormError as exc:
        return _policy_form(ctx, policy, status=422, error=f"{exc.field}: {exc.message}", form=ctx.request.form)
    if policy is None:
        answer = ctx.api.post("/escalation-policies", body)
    else:
        answer = ctx.api.patch(f"/escalation-policies/{policy['id']}", body)
    if answer.ok:
        return redirect("/console/services?done=policy")
    if answer.status in (400, 409, 422):
        return _policy_form(ctx, policy, status=answer.status, error=field_message(answer), form=ctx.request.form)
    return failed(ctx, answer)


@page("POST", "/console/policies/new")
@guarded
def create_policy(ctx: Context) -> dict[str, Any]:
    return _save_policy(ctx, None)


@page("POST", "/console/policies/{policy_id}")
@guarded
def update_policy(ctx: Context) -> dict[str, Any]:
    return _save_policy(ctx, _policy(ctx))


@page("POST", "/console/services/new")
@guarded
def create_service(ctx: Context) -> dict[str, Any]:
    form = ctx.request.form
    body: dict[str, Any] = {"name": form.get("name", "").strip(), "escalation_policy_id": form.get("policy_id", "")}
    for key in ("description", "runbook_url", "slack_channel"):
        if form.get(key, "").strip():
            body[key] = form[key].strip()
    answer = ctx.api.post("/services", body)
    if answer.ok:
        return _key_page(ctx, answer, "Integration key")
    if answer.status in (400, 409, 422):
        return _services(ctx, status=answer.status, refused=answer, form=form)
    return failed(ctx, answer)


def _applies(service: dict[str, Any], teams: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """Where the service's incidents are posted in Slack: its own channel, else its team's (as the lifecycle picks,
    docs/architecture.md "Slack"). ``channel`` is the one that applies (None: none) and ``source`` whose it is
    (``service``, ``team`` or None); a team the reader cannot read counts as naming none."""
    team = teams.get(str(service.get("team_id") or ""))
    team_channel = team.get("slack_channel") if team else None
    own = service.get("slack_channel")
    return {"channel": own or team_channel, "source": "service" if own else ("team" if team_channel else None)}


def _teams(ctx: Context) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in collect(ctx, "/teams")}


def _service_form(
    ctx: Context, service: dict[str, Any], *, status: int = 200, refused: Answer | None = None, form: Any = None
) -> dict[str, Any]:
    teams = _teams(ctx)
    typed = form is not None
    values = {
        key: (form.get(key, "") if typed else (service.get(key) or ""))
        for key in ("name", "description", "runbook_url", "slack_channel")
    }
    values["policy_id"] = form.get("policy_id", "") if typed else service["escalation_policy_id"]
    return ctx.render(
        "service.html",
        status=status,
        service=service,
        team=teams.get(service["team_id"]),
        applies=_applies(service, teams),
        values=values,
        policies=collect(ctx, "/escalation-policies"),
        error=field_message(refused) if refused else None,
        error_field=field_of(refused) if refused else None,
    )


def _service(ctx: Context) -> dict[str, Any]:
    return _one(ctx, f"/services/{ctx.request.params['service_id']}")


@page("GET", "/console/services/{service_id}")
@guarded
def edit_service(ctx: Context) -> dict[str, Any]:
    return _service_form(ctx, _service(ctx))


@page("POST", "/console/services/{service_id}")
@guarded
def update_service(ctx: Context) -> dict[str, Any]:
    service, form = _service(ctx), ctx.request.form
    body: dict[str, Any] = {"name": form.get("name", "").strip()}
    if form.get("policy_id"):
        body["escalation_policy_id"] = form["policy_id"]
    # an emptied field removes the value (for the Slack channel: the team's channel applies again)
    for key in ("description", "runbook_url", "slack_channel"):
        body[key] = form.get(key, "").strip() or None
    answer = ctx.api.patch(f"/services/{service['id']}", body)
    if answer.ok:
        return redirect("/console/services?done=service")
    if answer.status in (400, 409, 422):
        return _service_form(ctx, service, status=answer.status, refused=answer, form=form)
    return failed(ctx, answer)
