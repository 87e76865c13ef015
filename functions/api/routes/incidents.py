"""``/incidents``: create, list (filters + cursor), read, edit, the lifecycle moves, notes, timeline; ``/analytics``.

Roles: admin and responder create and act; viewers read (the auth middleware refuses their writes). An illegal move is
409 ``illegal_transition`` with ``details.current_status``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.api.times import Instant
from oncall.domain.incidents import Action, Incident, Severity, Source, Status, TimelineEntry
from oncall.services.incident_ports import IncidentFilter

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IncidentIn(_In):
    # the domain enforces 5-1,000 characters and no placeholder; the bound here keeps absurd bodies out early
    title: str = Field(max_length=2000)
    description: str | None = Field(default=None, max_length=10_000)
    service_id: Id
    severity: Severity
    source: Source = Source.OPERATOR


class IncidentPatchIn(_In):
    title: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=10_000)
    severity: Severity | None = None
    assignee_id: Id | None = None


class NoteIn(_In):
    text: str = Field(min_length=1, max_length=4000)


class IncidentOut(BaseModel):
    id: str
    title: str
    description: str | None
    service_id: str
    severity: str
    #: high: paged through the escalation policy; low: the on-call told once, never escalated (alert routing)
    urgency: str = "high"
    source: str
    status: str
    team_id: str
    assignee_id: str | None
    created_by: str | None
    dedup_key: str | None
    alert_count: int
    last_alert_at: str | None = None
    created_at: str | None
    updated_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    resolved_by: str | None
    closed_at: str | None
    generation: int
    escalation_level: int
    exhausted: bool
    trigger_reason: str | None
    mtta_seconds: int | None
    mttr_seconds: int | None
    version: int

    @classmethod
    def of(cls, incident: Incident) -> IncidentOut:
        return cls(**incident.snapshot())


class TimelineOut(BaseModel):
    id: str
    incident_id: str
    at: str | None
    kind: str
    text: str
    actor_id: str | None
    data: dict[str, Any]

    @classmethod
    def of(cls, entry: TimelineEntry) -> TimelineOut:
        return cls(**entry.to_dict())


@router.post("/incidents", tags=["incidents"], summary="Open an incident by hand (source operator); Idempotency-Key")
def create_incident(body: Annotated[IncidentIn, Body()]) -> tuple[IncidentOut, int]:
    incident = wiring.incidents.incident_service().create(
        current_user(),
        title=body.title,
        description=body.description,
        service_id=body.service_id,
        severity=body.severity,
        source=body.source,
    )
    return IncidentOut.of(incident), 201


@router.get("/incidents", tags=["incidents"], summary="List incidents, newest first, with filters")
def list_incidents(
    status: Annotated[Status | None, Query()] = None,
    source: Annotated[Source | None, Query()] = None,
    service_id: Annotated[Id | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    created_from: Annotated[Instant | None, Query()] = None,
    created_to: Annotated[Instant | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
    team_id: Annotated[Id | None, Query(description="only this team's (default: all of yours)")] = None,
) -> Response[Any]:
    incidents = wiring.incidents.incident_service()
    filters = IncidentFilter(
        status=status,
        source=source.value if source else None,
        service_id=service_id,
        severity=severity.value if severity else None,
        created_from=created_from,
        created_to=created_to,
    )
    asked = incidents.scoped(current_user(), filters, team_id)
    found, last = incidents.search(asked, limit, decode_cursor(cursor))
    items = [IncidentOut.of(i).model_dump(mode="json") for i in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get("/incidents/<incident_id>", tags=["incidents"], summary="Read an incident")
def get_incident(incident_id: str) -> IncidentOut:
    return IncidentOut.of(wiring.incidents.incident_service().get(incident_id, current_user()))


@router.patch("/incidents/<incident_id>", tags=["incidents"], summary="Edit title, description, severity, assignee")
def patch_incident(incident_id: str, body: Annotated[IncidentPatchIn, Body()]) -> IncidentOut:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("severity") is not None:
        changes["severity"] = Severity(changes["severity"])
    for required in ("title", "severity"):
        if required in changes and changes[required] is None:
            from oncall.domain.errors import InvalidInput

            raise InvalidInput(required, "cannot be removed")
    return IncidentOut.of(wiring.incidents.incident_service().patch(current_user(), incident_id, changes))


def _move(incident_id: str, action: Action) -> IncidentOut:
    return IncidentOut.of(wiring.incidents.incident_service().act(current_user(), incident_id, action))


@router.post("/incidents/<incident_id>/acknowledge", tags=["incidents"], summary="triggered → acknowledged")
def acknowledge(incident_id: str) -> IncidentOut:
    return _move(incident_id, Action.ACKNOWLEDGE)


@router.post("/incidents/<incident_id>/unacknowledge", tags=["incidents"], summary="acknowledged → triggered")
def unacknowledge(incident_id: str) -> IncidentOut:
    return _move(incident_id, Action.UNACKNOWLEDGE)


@router.post("/incidents/<incident_id>/resolve", tags=["incidents"], summary="triggered|acknowledged → resolved")
def resolve(incident_id: str) -> IncidentOut:
    return _move(incident_id, Action.RESOLVE)


@router.post("/incidents/<incident_id>/close", tags=["incidents"], summary="resolved → closed")
def close(incident_id: str) -> IncidentOut:
    return _move(incident_id, Action.CLOSE)


@router.post("/incidents/<incident_id>/reopen", tags=["incidents"], summary="resolved → triggered (new generation)")
def reopen(incident_id: str) -> IncidentOut:
    return _move(incident_id, Action.REOPEN)


@router.post("/incidents/<incident_id>/notes", tags=["incidents"], summary="Add a note to the timeline")
def add_note(incident_id: str, body: Annotated[NoteIn, Body()]) -> tuple[TimelineOut, int]:
    note = wiring.incidents.incident_service().add_note(current_user(), incident_id, body.text)
    return TimelineOut.of(note), 201


@router.get(
    "/incidents/<incident_id>/timeline", tags=["incidents"], summary="Every transition, page and note, in order"
)
def timeline(
    incident_id: str,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = MAX_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    found, last = wiring.incidents.incident_service().timeline(
        incident_id, limit, decode_cursor(cursor), current_user()
    )
    items = [TimelineOut.of(e).model_dump(mode="json") for e in found]
    return list_response(router.current_event.headers, items, encode_cursor(last))


@router.get(
    "/analytics/summary",
    tags=["analytics"],
    summary="Counts and MTTA/MTTR (mean, p50, p90) of incidents created in a window of whole hours; ?by= breaks down",
)
def analytics_summary(
    from_: Annotated[Instant | None, Query(alias="from", description="rounded down to the hour")] = None,
    to: Annotated[Instant | None, Query(description="rounded up to the hour; at most 366 days after from")] = None,
    team_id: Annotated[Id | None, Query(description="only this team's (default: all of yours)")] = None,
    service_id: Annotated[Id | None, Query(description="only this service's")] = None,
    by: Annotated[Literal["service", "severity", "team"] | None, Query(description="one group per value")] = None,
) -> dict[str, Any]:
    end = to or wiring.clock()()
    start = from_ or end - timedelta(days=30)
    user = current_user()
    summary = wiring.incidents.stats_service().summary(user, start, end, team_id, by, service_id)
    suppressed = _suppressed(user, start, end, team_id)
    return {**summary, "alerts_suppressed": suppressed}


def _suppressed(user: Any, start: Any, end: Any, team_id: str | None) -> dict[str, int]:
    """Alerts routing kept from opening anything in the window, by why (maintenance, silence, rule), over the
    services the caller sees: one small Query per service (a day's counter per day)."""
    catalog = wiring.incidents.catalog_service()
    router_ = wiring.alerts.routing_service()
    totals: dict[str, int] = {"suppressed": 0}
    cursor: dict[str, Any] | None = None
    for _ in range(10):
        services, cursor = catalog.list_services(user, 100, cursor, team_id)
        for service in services:
            for name, count in router_.suppressed_counts(service.id, start, end).items():
                totals[name] = totals.get(name, 0) + count
        if cursor is None:
            break
    return totals


@router.get(
    "/analytics/trends",
    tags=["analytics"],
    summary="Incidents and MTTA/MTTR (mean, p90) per bucket of whole hours, over a period ending this hour",
)
def analytics_trends(
    period: Annotated[str, Query(max_length=8, description="how far back from now, e.g. 7d")] = "7d",
    bucket: Annotated[str, Query(max_length=8, description="bucket width, e.g. 1h")] = "1h",
    team_id: Annotated[Id | None, Query(description="only this team's (default: all of yours)")] = None,
) -> dict[str, Any]:
    from oncall.domain.incidents import parse_span

    span = parse_span(period, "period", maximum_seconds=366 * 86400)
    width = parse_span(bucket, "bucket", maximum_seconds=span)
    stats = wiring.incidents.stats_service()
    return stats.trends(current_user(), wiring.clock()(), timedelta(seconds=span), timedelta(seconds=width), team_id)


@router.get("/analytics/mttr-distribution", tags=["analytics"], summary="Resolved incidents per MTTR band")
def analytics_mttr_distribution(
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Annotated[Instant | None, Query()] = None,
    team_id: Annotated[Id | None, Query(description="only this team's (default: all of yours)")] = None,
) -> dict[str, Any]:
    end = to or wiring.clock()()
    start = from_ or end - timedelta(days=30)
    return wiring.incidents.stats_service().mttr_distribution(current_user(), start, end, team_id)


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
