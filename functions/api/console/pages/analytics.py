"""*Analytics*: MTTA/MTTR p50/p90 and counts per day or week, and the MTTR distribution, as SVG charts."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from console import charts, render
from console.dispatch import Context, page
from console.pages.common import Failed, guarded, iso, now


@page("GET", "/console/analytics")
@guarded
def analytics_page(ctx: Context) -> dict[str, Any]:
    """Percentiles per bucket come from the API's own summary of each bucket (one call per day or week), so the
    console never computes a statistic the API would compute differently."""
    period = "30d" if ctx.request.query.get("period") == "30d" else "7d"
    end = now()
    zone = render.zone(ctx.user.timezone)
    today = datetime.combine(end.astimezone(zone).date(), time(), zone)
    count, width = (5, 7) if period == "30d" else (7, 1)
    buckets = []
    for k in range(count - 1, -1, -1):
        b_start = today - timedelta(days=k * width + width - 1)
        b_end = min(b_start + timedelta(days=width), end)
        answer = ctx.api.get("/analytics/summary", **{"from": iso(b_start), "to": iso(b_end)})
        if not answer.ok:
            raise Failed(answer)
        buckets.append({"label": b_start.strftime("%d %b"), **answer.body})
    window = {"from": iso(today - timedelta(days=count * width - 1)), "to": iso(end)}
    summary = ctx.api.get("/analytics/summary", **window)
    distribution = ctx.api.get("/analytics/mttr-distribution", **window)
    for answer in (summary, distribution):
        if not answer.ok:
            raise Failed(answer)
    labels = [b["label"] for b in buckets]
    bands = distribution.body["items"]
    band_labels = [
        f"< {render.short(b['upper_seconds'])}"
        if not b["lower_seconds"]
        else f"≥ {render.short(b['lower_seconds'])}"
        if b["upper_seconds"] is None
        else f"{render.short(b['lower_seconds'])}–{render.short(b['upper_seconds'])}"
        for b in bands
    ]

    def series(metric: str) -> dict[str, list[float | None]]:
        name = metric.upper()
        return {
            f"{name} p50": [b[metric]["p50_seconds"] for b in buckets],
            f"{name} p90": [b[metric]["p90_seconds"] for b in buckets],
        }

    return ctx.render(
        "analytics.html",
        period=period,
        summary=summary.body,
        buckets=buckets,
        bands=list(zip(band_labels, bands, strict=True)),
        count_chart=charts.bars("Incidents created", labels, [b["count"] for b in buckets]),
        mtta_chart=charts.durations("Time to acknowledge (p50, p90)", labels, series("mtta")),
        mttr_chart=charts.durations("Time to resolve (p50, p90)", labels, series("mttr")),
        distribution_chart=charts.bars(
            "Resolved incidents by time to resolve", band_labels, [b["count"] for b in bands]
        ),
    )
