"""Alert routing (``oncall.services.routing``): a service's event rules, urgency rule and maintenance windows, a
team's silences, the dry run, and the alerts routing kept from opening anything.

Members of a service's team read its routing; its managers change it. Bodies are validated whole by the domain, so a
422 names the exact field (``rules[2].actions.route_to``, ``matchers[0].value``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from oncall import wiring
from oncall.api.auth import current_user
from oncall.api.lists import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, list_response
from oncall.domain.alerts import Alert, AlertAction, bound_raw, flat_labels
from oncall.domain.errors import InvalidInput
from oncall.domain.incidents import Severity, Source
from oncall.domain.routing import MATCHERS_MAX, RULES_MAX, TEXT_MAX, Decision, Routing

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _now() -> datetime:
    return wiring.clock()()


class RoutingOut(BaseModel):
    service_id: str
    rules: list[dict[str, Any]]
    urgency: dict[str, Any]
    maintenance_windows: list[dict[str, Any]]
    version: int

    @classmethod
    def of(cls, routing: Routing) -> RoutingOut:
        now = _now()
        return cls(
            service_id=routing.service_id,
            rules=[r.to_dict() for r in routing.rules],
            urgency=routing.urgency.to_dict(),
            maintenance_windows=[w.to_dict(now) for w in routing.windows],
            version=routing.version,
        )


class WindowOut(BaseModel):
    id: str
    start: str
    end: str
    reason: str
    created_by: str
    created_at: str
    state: Literal["scheduled", "in_progress", "ended"]


class SilenceOut(BaseModel):
    id: str
    team_id: str
    matchers: list[dict[str, str]]
    starts_at: str
    ends_at: str
    created_by: str
    comment: str
    created_at: str
    updated_at: str
    state: Literal["pending", "active", "expired"]


class SuppressedAlertOut(BaseModel):
    id: str
    at: str
    service_id: str
    source: str
    action: str
    summary: str
    severity: str
    dedup_key: str | None
    labels: dict[str, str]
    decision: dict[str, Any] = Field(description="urgency, the rules that matched, and suppressed: {kind, id, reason}")
    raw: str = Field(description="the source's payload, first 8 KB")
    raw_truncated: bool


def _routing() -> Any:
    return wiring.alerts.routing_service()


@router.get("/services/<service_id>/routing", tags=["routing"], summary="A service's event rules, urgency, windows")
def get_routing(service_id: str) -> RoutingOut:
    return RoutingOut.of(_routing().view(current_user(), service_id))


# -- event rules -----------------------------------------------------------------------------------------------------
class RulesIn(_In):
    rules: list[dict[str, Any]] = Field(
        max_length=RULES_MAX,
        description=(
            "ordered; each {name?, conditions: [{field: summary|source|severity|dedup_key|labels.<name>, op: equals|"
            "not_equals|contains|not_contains|matches|not_matches|exists|not_exists, value}], time?: {time_zone, "
            "days, from, to}, actions: {severity?, urgency?, route_to?, suppress?, note?, tags?, dedup_key_from?}, "
            "continue?, disabled?}"
        ),
    )


@router.get("/services/<service_id>/event-rules", tags=["routing"], summary="A service's event rules, in order")
def get_rules(service_id: str) -> dict[str, Any]:
    routing = _routing().view(current_user(), service_id)
    return {"rules": [r.to_dict() for r in routing.rules], "version": routing.version}


@router.put("/services/<service_id>/event-rules", tags=["routing"], summary="Replace the event rules (team manager)")
def put_rules(service_id: str, body: Annotated[RulesIn, Body()]) -> dict[str, Any]:
    routing = _routing().set_rules(current_user(), service_id, body.rules)
    return {"rules": [r.to_dict() for r in routing.rules], "version": routing.version}


class AlertIn(_In):
    summary: str = Field(min_length=1, max_length=1024)
    severity: Literal["critical", "high", "medium", "low"] = "high"
    source: Literal["alertmanager", "grafana", "pagerduty-events", "eventbridge", "api"] = "api"
    dedup_key: str | None = Field(default=None, max_length=255)
    labels: dict[str, str] = Field(default_factory=dict, max_length=100)


class DryRunIn(_In):
    alert: AlertIn | None = Field(default=None, description="an alert as intake sees it")
    source: Literal["pagerduty", "alertmanager", "grafana", "cloudwatch", "custom"] | None = Field(
        default=None, description="with payload: a source's own payload, read exactly as intake reads it"
    )
    payload: Any = None


def _decision_out(d: Decision) -> dict[str, Any]:
    a = d.alert
    return {
        "matched_rules": list(d.matched),
        "suppressed": d.suppressed.to_dict() if d.suppressed else None,
        "outcome": "suppressed" if d.suppressed else "pages" if d.urgency.value == "high" else "notifies",
        "urgency": d.urgency.value,
        "routed_to": a.service_id if a.service_id != d.received_by else None,
        "notes": list(d.notes),
        "tags": list(d.tags),
        "raise_at": d.raise_at.isoformat().replace("+00:00", "Z") if d.raise_at else None,
        "alert": {
            "service_id": a.service_id,
            "summary": a.summary,
            "severity": a.severity.value,
            "source": a.source.value,
            "dedup_key": a.dedup_key,
            "labels": dict(a.labels),
        },
    }


def _dry_alerts(service_id: str, body: DryRunIn) -> list[Alert]:
    if body.alert is not None:
        a = body.alert
        return [
            Alert(
                source=Source(a.source),
                action=AlertAction.TRIGGER,
                service_id=service_id,
                summary=a.summary,
                severity=Severity(a.severity),
                raw=bound_raw(a.model_dump()),
                dedup_key=a.dedup_key,
                labels=flat_labels(a.labels),
            )
        ]
    if body.source is None or body.payload is None:
        raise InvalidInput("alert", "give an alert, or a source and its payload")
    from oncall.adapters.alert_sources import alertmanager, cloudwatch, custom, grafana
    from oncall.services.alert_ports import Delivery

    payload = body.payload
    if body.source in (alertmanager.NAME, grafana.NAME):
        payload = Delivery(body=json.dumps(payload), headers={})
    # CloudWatch alarms and custom events are read as the EventBridge events they arrive as, under the bus source
    registered = {"cloudwatch": cloudwatch.SOURCE, "custom": custom.SOURCE}.get(body.source, body.source)
    alerts = wiring.alerts.alert_service().normalise(registered, payload, service_id) or []
    return [a for a in alerts if a.action is AlertAction.TRIGGER]


@router.post(
    "/services/<service_id>/event-rules:test",
    tags=["routing"],
    summary="Dry run: what routing decides for an alert or a source payload, writing nothing",
)
def dry_run_rules(service_id: str, body: Annotated[DryRunIn, Body()]) -> dict[str, Any]:
    from oncall.domain.alerts import InvalidAlert

    user = current_user()
    _routing().view(user, service_id)  # 404 before anything is parsed for someone who may not see it
    try:
        alerts = _dry_alerts(service_id, body)
    except InvalidAlert as exc:
        raise InvalidInput("payload", "; ".join(exc.errors)[:500]) from None
    return {"results": [_decision_out(_routing().dry_run(user, service_id, a)) for a in alerts]}


# -- urgency ---------------------------------------------------------------------------------------------------------
class HoursIn(_In):
    time_zone: str = Field(min_length=1, max_length=64)
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(min_length=1, max_length=7)
    from_: str = Field(alias="from", min_length=5, max_length=5, description="HH:MM, local")
    to: str = Field(min_length=5, max_length=5, description="HH:MM, local; before 'from': runs past midnight")


class UrgencyIn(_In):
    mode: Literal["always_high", "always_low", "by_severity", "support_hours"]
    high_severities: list[Literal["critical", "high", "medium", "low"]] | None = None
    support_hours: HoursIn | None = None
    raise_at_support_hours_start: bool = False


@router.put("/services/<service_id>/urgency", tags=["routing"], summary="Set the urgency rule (team manager)")
def put_urgency(service_id: str, body: Annotated[UrgencyIn, Body()]) -> dict[str, Any]:
    raw = body.model_dump(by_alias=True, exclude_none=True)
    routing = _routing().set_urgency(current_user(), service_id, raw)
    return {**routing.urgency.to_dict(), "version": routing.version}


# -- maintenance windows ---------------------------------------------------------------------------------------------
class WindowIn(_In):
    start: datetime = Field(description="RFC 3339 with an offset")
    end: datetime = Field(description="RFC 3339 with an offset; in the future")
    reason: str = Field(min_length=1, max_length=TEXT_MAX)


class WindowsIn(WindowIn):
    service_ids: list[Id] = Field(min_length=1, max_length=20)


def _window_out(window: Any, services: list[str]) -> dict[str, Any]:
    return {**window.to_dict(_now()), "service_ids": services}


@router.post(
    "/services/<service_id>/maintenance-windows",
    tags=["routing"],
    summary="Start or schedule a maintenance window: its alerts are stored, open nothing, page nobody",
)
def create_window(service_id: str, body: Annotated[WindowIn, Body()]) -> tuple[dict[str, Any], int]:
    user = current_user()
    _routing().view(user, service_id)  # the service in the path: 404 for who may not see it, as every such route
    window, services = _routing().add_window(user, [service_id], body.start, body.end, body.reason)
    return _window_out(window, services), 201


@router.post(
    "/maintenance-windows", tags=["routing"], summary="One maintenance window over several services (all or none)"
)
def create_windows(body: Annotated[WindowsIn, Body()]) -> tuple[dict[str, Any], int]:
    window, services = _routing().add_window(current_user(), body.service_ids, body.start, body.end, body.reason)
    return _window_out(window, services), 201


@router.get(
    "/services/<service_id>/maintenance-windows",
    tags=["routing"],
    summary="A service's maintenance windows: scheduled, in progress, and ended in the last 7 days",
)
def list_windows(service_id: str) -> Response[Any]:
    now = _now()
    found = _routing().windows(current_user(), service_id)
    return list_response(router.current_event.headers, [w.to_dict(now) for w in found], None)


@router.delete(
    "/services/<service_id>/maintenance-windows/<window_id>",
    tags=["routing"],
    summary="End a window early (one in progress ends now; a scheduled one is removed)",
)
def end_window(service_id: str, window_id: str) -> Response[None]:
    _routing().end_window(current_user(), service_id, window_id)
    return Response(status_code=204, content_type=None, body=None)


# -- silences --------------------------------------------------------------------------------------------------------
class MatcherIn(_In):
    name: str = Field(min_length=1, max_length=128)
    op: Literal["=", "!=", "=~", "!~"] = "="
    value: str = Field(max_length=1024)


class SilenceIn(_In):
    team_id: Id | None = Field(default=None, description="whose services it silences (default: your one team)")
    matchers: list[MatcherIn] = Field(min_length=1, max_length=MATCHERS_MAX)
    starts_at: datetime | None = Field(default=None, description="default: now")
    ends_at: datetime
    comment: str = Field(min_length=1, max_length=TEXT_MAX)


@router.post("/silences", tags=["routing"], summary="Silence matching alerts of a team's services (team manager)")
def create_silence(body: Annotated[SilenceIn, Body()]) -> tuple[dict[str, Any], int]:
    raw = body.model_dump()
    silence = _routing().create_silence(current_user(), raw)
    return silence.to_dict(_now()), 201


@router.get("/silences", tags=["routing"], summary="Silences of your teams, newest end first")
def list_silences(
    team_id: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[Literal["pending", "active", "expired"] | None, Query()] = None,
) -> Response[Any]:
    now = _now()
    found = _routing().silences(current_user(), team_id, state)
    return list_response(router.current_event.headers, [x.to_dict(now) for x in found], None)


@router.get("/silences/<silence_id>", tags=["routing"], summary="Read a silence")
def get_silence(silence_id: str) -> dict[str, Any]:
    silence: Any = _routing().silence(current_user(), silence_id)
    return dict(silence.to_dict(_now()))


@router.delete("/silences/<silence_id>", tags=["routing"], summary="Expire a silence now (team manager)")
def expire_silence(silence_id: str) -> Response[None]:
    _routing().expire_silence(current_user(), silence_id)
    return Response(status_code=204, content_type=None, body=None)


# -- suppressed alerts -----------------------------------------------------------------------------------------------
@router.get(
    "/alerts",
    tags=["routing"],
    summary="Alerts routing kept from opening anything (last 30 days), newest first, with the reason",
)
def list_alerts(
    service_id: Annotated[str, Query(min_length=1, max_length=64)],
    outcome: Annotated[
        Literal["suppressed"],
        Query(description="alerts that opened or joined an incident are on its timeline"),
    ] = "suppressed",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> Response[Any]:
    from oncall.domain.errors import NotFound

    try:
        found, last = _routing().suppressed(current_user(), service_id, limit, decode_cursor(cursor))
    except NotFound:
        # a query naming a service the caller cannot see, as a body naming one: by field
        raise InvalidInput("service_id", f"no service {service_id!r}") from None
    return list_response(router.current_event.headers, found, encode_cursor(last))


def register(app: APIGatewayHttpResolver) -> None:
    app.include_router(router)
