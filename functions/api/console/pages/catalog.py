"""*Services*: services with their escalation policies, integration URLs and key rotation."""

from __future__ import annotations

from typing import Any

from console.dispatch import Context, page
from console.pages.common import collect, failed, guarded, names


@page("GET", "/console/services")
@guarded
def services_page(ctx: Context) -> dict[str, Any]:
    from oncall.settings import get_settings

    base = (get_settings().public_url or _origin(ctx)).rstrip("/")
    policies = collect(ctx, "/escalation-policies")
    return ctx.render(
        "services.html",
        services=collect(ctx, "/services"),
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
    if not answer.ok:
        return failed(ctx, answer)
    return ctx.render(
        "secret.html",
        title=f"New integration key for {answer.body['name']}",
        what="integration key",
        secret=answer.body["integration_key"],
        back="/console/services",
    )
