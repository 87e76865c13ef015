"""The ``incidents`` table's keys and item shapes, both ways: an incident (``INC#<id>`` / ``META``), its alert counter
(``INC#<id>`` / ``ALERTS``), a timeline entry (``INC#<id>`` / ``TL#<ulid>``) and a page's copy (``PG#<ulid>``). The
layout and access patterns are in ``oncall.adapters.dynamodb.incidents``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from oncall.adapters.dynamodb.kit import Attr, n, s
from oncall.domain.incidents import Incident, Severity, Source, Status, TimelineEntry
from oncall.domain.page_content import AlertSummary

#: the list index's partition key before it was sharded: items written then still carry it (read as one more shard)
LEGACY_LIST_PK = "INC"
#: the list (``by-created``) and status (``by-status``) index keys are spread over this many partition keys, chosen by
#: the incident id: a storm of new incidents writes them all evenly, and a list merges the shards newest first
LIST_SHARDS = 8
#: a transaction holds at most 100 items; an incident move writes 1 + entries + 1 outbox item
MAX_ENTRIES = 20
#: the alert counter's sort key: alert_count, last_alert_at, last_alert and ``closed``, apart from the indexed META
ALERTS_SK = "ALERTS"
#: alert timeline lines (which carry the bounded raw payload) expire after this; the incident's other lines stay
ALERT_LINE_TTL = timedelta(days=90)
#: a repeated alert writes a timeline line (with its raw payload) when the incident's count is a multiple of this;
#: the first alert's line is written with the incident, every joining alert key's line with its join
ALERT_LINE_EVERY = 50
#: META's status attribute. Not ``status``: that name is the key of the unsharded status index that preceded the
#: sharded one (still declared so an existing stack upgrades in one deploy), and an item carrying it is written there
#: on every move, one key per status for the whole deployment. An item written before keeps ``status`` until its
#: next move rewrites it (readers accept either; ``LEGACY_STATUS``)
STATUS = "incident_status"
LEGACY_STATUS = "status"
#: attributes the sharded status index carries besides its keys: what the list filters read (the task token and the
#: counters stay off it, so arming a token or counting an alert writes nothing there)
INDEX_ATTRIBUTES = ("id", STATUS, "service_id", "severity", "source")


def shard(incident_id: str) -> int:
    return zlib.crc32(incident_id.encode()) % LIST_SHARDS


def list_pk(incident_id: str) -> str:
    return f"INC#{shard(incident_id)}"


def status_pk(status: str, incident_id: str) -> str:
    return f"{status}#{shard(incident_id)}"


def incident_pk(incident_id: str) -> str:
    return f"INC#{incident_id}"


def created_sk(incident: Incident) -> str:
    return f"{stamp(incident.created_at)}#{incident.id}"


def stamp(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order whatever offset a client sent."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_OPTIONAL_TEXT = (
    "team_id",
    "description",
    "assignee_id",
    "created_by",
    "dedup_key",
    "acknowledged_by",
    "resolved_by",
    "trigger_reason",
    "task_token",
)
_OPTIONAL_TIME = ("acknowledged_at", "resolved_at", "closed_at", "last_alert_at", "raise_at")


def incident_item(incident: Incident) -> dict[str, Attr]:
    item: dict[str, Attr] = {
        "pk": s(incident_pk(incident.id)),
        "sk": s("META"),
        "id": s(incident.id),
        "title": s(incident.title),
        "service_id": s(incident.service_id),
        "severity": s(incident.severity.value),
        "source": s(incident.source.value),
        STATUS: s(incident.status.value),
        "created_at": s(incident.created_at.isoformat()),
        "updated_at": s(incident.updated_at.isoformat()),
        "alert_count": n(incident.alert_count),
        "version": n(incident.version),
        "generation": n(incident.generation),
        "escalation_step": n(incident.escalation_step),
        "escalation_level": n(incident.escalation_level),
        "exhausted": {"BOOL": incident.exhausted},
        "cycle": n(incident.cycle),
        "list_pk": s(list_pk(incident.id)),
        "status_pk": s(status_pk(incident.status.value, incident.id)),
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
    if incident.urgency != "high":
        item["urgency"] = s(incident.urgency)
    return item


def alerts_item(incident: Incident) -> dict[str, Attr]:
    """The incident's alert counter as it is created with the incident."""
    item: dict[str, Attr] = {
        "pk": s(incident_pk(incident.id)),
        "sk": s(ALERTS_SK),
        "alert_count": n(incident.alert_count),
    }
    if incident.last_alert_at is not None:
        item["last_alert_at"] = s(incident.last_alert_at.isoformat())
    if incident.last_alert is not None:
        item["last_alert"] = s(summary_json(incident.last_alert))
    return item


def is_open(status: Status) -> bool:
    return status in (Status.TRIGGERED, Status.ACKNOWLEDGED)


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


def incident_of(item: Mapping[str, Attr], alerts: Mapping[str, Attr] | None = None) -> Incident:
    """The incident from its META item and, when it has one, its alert counter (``alerts``), which then holds
    alert_count, last_alert_at and last_alert (an incident written before the counter existed keeps them on META)."""
    if alerts is not None and "alert_count" in alerts:
        item = {
            **{k: v for k, v in item.items() if k not in ("alert_count", "last_alert_at", "last_alert")},
            **{k: v for k, v in alerts.items() if k in ("alert_count", "last_alert_at", "last_alert")},
        }

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
        status=Status(item[STATUS if STATUS in item else LEGACY_STATUS]["S"]),
        created_at=created,
        updated_at=updated,
        description=text("description"),
        team_id=text("team_id"),
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
        urgency=text("urgency") or "high",
        raise_at=when("raise_at"),
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
    if entry.kind == "alert":
        item["expires_at"] = n(int((entry.at + ALERT_LINE_TTL).timestamp()))
    return item


def page_sk(entry_id: str) -> str:
    return f"PG#{entry_id}"


def entry_items(entry: TimelineEntry) -> list[dict[str, Attr]]:
    """The timeline line and, for a page with a message reference, its copy under ``PG#<ulid>``: an acknowledgement
    finds the messages to edit with one small Query, however long the timeline has grown."""
    line = entry_item(entry)
    if entry.kind != "page" or not entry.data.get("ref"):
        return [line]
    return [line, {**line, "sk": s(page_sk(entry.id))}]


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
