"""What a run prints: the plan (or what was done) as a table, the integration URLs to paste, the verification."""

from __future__ import annotations

from collections.abc import Sequence

from infra.migrate.outcome import Outcome
from infra.migrate.verify import ScheduleCheck

#: where each kind of sender is pointed (README, "Alert sources")
SENDERS = (
    ("PagerDuty Events API v2 clients", "POST {url}/v2/enqueue", 'JSON body "routing_key": <key>'),
    ("Prometheus Alertmanager", "{url}/integrations/alertmanager", "Authorization: Bearer <key>"),
    ("Grafana contact point (Webhook)", "{url}/integrations/grafana", "Authorization: Bearer <key>"),
)


def _cell(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def table(outcome: Outcome) -> str:
    head = "DONE" if outcome.applied else "DRY RUN (nothing written; --apply performs it)"
    lines = [f"{outcome.source}: {head}", ""]
    lines.append(f"{'op':<8} {'kind':<10} {'name':<34} {'source id':<22} {'ours':<28} reason / changes")
    for a in outcome.actions:
        detail = a.reason
        if a.changes:
            detail = (detail + "; " if detail else "") + "changes " + ", ".join(sorted(a.changes))
        lines.append(
            f"{a.op:<8} {a.kind:<10} {_cell(a.name, 34):<34} {_cell(a.source_id, 22):<22} "
            f"{_cell(a.ours or '-', 28):<28} {detail}"
        )
    lines.append("")
    lines.append("summary: " + ", ".join(f"{n} {op}" for op, n in outcome.summary().items()))
    return "\n".join(lines)


def keys_table(outcome: Outcome, public_url: str) -> str:
    if not outcome.keys:
        return ""
    url = public_url.rstrip("/")
    lines = ["", "New integration keys (shown this once; store them now):", ""]
    for k in outcome.keys:
        was = ", ".join(f"{name} ({kind})" for name, kind in k.source_integrations) or "no integration"
        lines.append(f"{k.service} (id {k.service_id}): key {k.key}; in the source: {was}")
        for who, where, how in SENDERS:
            lines.append(f"    {who:<34} {where.format(url=url):<52} {how}")
    return "\n".join(lines)


def verification_table(checks: Sequence[ScheduleCheck]) -> str:
    lines = ["", "Who is on call, source vs OnCall Hub, hour by hour:", ""]
    lines.append(f"{'schedule':<34} {'hours':>5} {'mismatches':>10}  verdict")
    for c in checks:
        if not c.mismatches:
            verdict = "identical"
        elif c.exact:
            verdict = "MISMATCH (the model maps this schedule exactly: please report it)"
        else:
            verdict = "differs where the source has what we cannot express:"
        lines.append(f"{_cell(c.name, 34):<34} {c.hours:>5} {len(c.mismatches):>10}  {verdict}")
        for note in c.unexpressed:
            lines.append(f"{'':<52}- {note}")
        for m in c.mismatches[:5]:
            lines.append(f"{'':<52}  {m.at.isoformat()}: source {m.source_user}, ours {m.our_user}")
    return "\n".join(lines)
