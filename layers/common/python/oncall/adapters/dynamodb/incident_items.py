"""The ``incidents`` table's keys and item shapes, both ways: an incident (``INC#<id>`` / ``META``) and a timeline
entry (``INC#<id>`` / ``TL#<ulid>``). The layout and access patterns are in ``oncall.adapters.dynamodb.incidents``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.incidents import Incident, Severity, Source, Status, TimelineEntry
from oncall.domain.page_content import AlertSummary

LIST_PK = "INC"
#: a transaction holds at most 100 items; an incident move writes 1 + entries + 1 outbox item
MAX_ENTRIES = 20


def incident_pk(incident_id: str) -> str:
    return f"INC#{incident_id}"


def created_sk(incident: Incident) -> str:
    return f"{stamp(incident.created_at)}#{incident.id}"


def stamp(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order whatever offset a client sent."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_OPTIONAL_TEXT = (
    "description",
    "assignee_id",
    "created_by",
    "dedup_key",
    "acknowledged_by",
    "resolved_by",
    "trigger_reason",
    "task_token",
)
_OPTIONAL_TIME = ("acknowledged_at", "resolved_at", "closed_at", "last_alert_at")


def incident_item(incident: Incident) -> dict[str, Attr]:
    item: dict[str, Attr] = {
        "pk": s(incident_pk(incident.id)),
        "sk": s("META"),
        "id": s(incident.id),
        "title": s(incident.title),
        "service_id": s(incident.service_id),
        "severity": s(incident.severity.value),
        "source": s(incident.source.value),
        "status": s(incident.status.value),
        "created_at": s(incident.created_at.isoformat()),
        "updated_at": s(incident.updated_at.isoformat()),
        "alert_count": n(incident.alert_count),
        "version": n(incident.version),
        "generation": n(incident.generation),
        "escalation_step": n(incident.escalation_step),
        "escalation_level": n(incident.escalation_level),
        "exhausted": {"BOOL": incident.exhausted},
        "cycle": n(incident.cycle),
        "list_pk": s(LIST_PK),
        "created_sk": s(created_sk(incident)),
    }
    for name in _OPTIONAL_TEXT:
        value = getattr(incident, name)
        if value is not None:
            item[name] = s(value)
    for name in _OPTIONAL_TIME:
        value = getattr(incident, name)
        if value is not None:
            item[name] = s(value.isoformat())
    if incident.last_alert is not None:
        item["last_alert"] = s(summary_json(incident.last_alert))
    return item


def summary_json(summary: AlertSummary) -> str:
    return json.dumps(summary.to_dict(), separators=(",", ":"), ensure_ascii=False)


def summary_of(raw: str | None) -> AlertSummary | None:
    if not raw:
        return None
    try:
        return AlertSummary.from_dict(json.loads(raw))
    except ValueError:
        return None


def newest_alert_summary(entries: Sequence[TimelineEntry]) -> AlertSummary | None:
    """The page summary the newest alert entry carries (``oncall.services.alerts.alert_entry``), if any."""
    for e in reversed(entries):
        if e.kind == "alert":
            page = e.data.get("page")
            return AlertSummary.from_dict(page) if isinstance(page, dict) else None
    return None


def incident_of(item: Mapping[str, Attr]) -> Incident:
    def text(name: str) -> str | None:
        v = item.get(name)
        return str(v["S"]) if v is not None else None

    def when(name: str) -> datetime | None:
        v = text(name)
        return datetime.fromisoformat(v) if v else None

    def num(name: str, default: int = 0) -> int:
        v = item.get(name)
        return int(v["N"]) if v is not None else default

    created = when("created_at")
    updated = when("updated_at")
    assert created is not None and updated is not None
    return Incident(
        id=str(item["id"]["S"]),
        title=str(item["title"]["S"]),
        service_id=str(item["service_id"]["S"]),
        severity=Severity(item["severity"]["S"]),
        source=Source(item["source"]["S"]),
        status=Status(item["status"]["S"]),
        created_at=created,
        updated_at=updated,
        description=text("description"),
        assignee_id=text("assignee_id"),
        created_by=text("created_by"),
        dedup_key=text("dedup_key"),
        alert_count=num("alert_count"),
        last_alert_at=when("last_alert_at"),
        last_alert=summary_of(text("last_alert")),
        acknowledged_at=when("acknowledged_at"),
        acknowledged_by=text("acknowledged_by"),
        resolved_at=when("resolved_at"),
        resolved_by=text("resolved_by"),
        closed_at=when("closed_at"),
        version=num("version", 1),
        generation=num("generation", 1),
        escalation_step=num("escalation_step", -1),
        escalation_level=num("escalation_level"),
        exhausted=bool(item.get("exhausted", {}).get("BOOL", False)),
        cycle=num("cycle"),
        trigger_reason=text("trigger_reason"),
        task_token=text("task_token"),
    )


def entry_item(entry: TimelineEntry) -> dict[str, Attr]:
    item: dict[str, Attr] = {
        "pk": s(incident_pk(entry.incident_id)),
        "sk": s(f"TL#{entry.id}"),
        "id": s(entry.id),
        "at": s(entry.at.isoformat()),
        "kind": s(entry.kind),
        "text": s(entry.text),
        "data": s(json.dumps(entry.data, separators=(",", ":"), sort_keys=True, default=str)),
    }
    if entry.actor_id:
        item["actor_id"] = s(entry.actor_id)
    return item


def entry_of(item: Mapping[str, Attr]) -> TimelineEntry:
    pk = str(item["pk"]["S"])
    return TimelineEntry(
        incident_id=pk.split("#", 1)[1],
        id=str(item["id"]["S"]),
        at=datetime.fromisoformat(str(item["at"]["S"])),
        kind=str(item["kind"]["S"]),
        text=str(item["text"]["S"]),
        actor_id=str(item["actor_id"]["S"]) if "actor_id" in item else None,
        data=json.loads(str(item["data"]["S"])) if "data" in item else {},
    )
