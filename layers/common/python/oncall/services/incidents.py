"""Incidents: create, read, list, edit, move through the lifecycle, notes, timeline, MTTA/MTTR.

A move (acknowledge, resolve, ...) reads the incident, lets the domain decide (``transition``), and commits with one
conditional transaction on the version and waiting token read; losing the condition means someone else moved it
first, so it re-reads and decides again (now maybe a 409 ``illegal_transition``). After the commit, the token the
lifecycle was waiting on is answered with the new status: that is how an acknowledgement from any channel stops the
paging at once. A late or stale token is a no-op (``Lifecycle.answer`` returns False).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, Protocol

from ulid import ULID

from oncall.domain import texts
from oncall.domain.errors import ConcurrentUpdate, Forbidden, InvalidInput, NotFound
from oncall.domain.events import DomainEvent
from oncall.domain.incidents import (
    EVENT_OF,
    Action,
    Incident,
    Severity,
    Source,
    Status,
    TimelineEntry,
    check_description,
    check_note,
    check_title,
    transition,
)
from oncall.domain.page_content import AlertSummary
from oncall.domain.services_catalog import Service
from oncall.domain.teams import Access, Power, team_of
from oncall.domain.users import Role, User
from oncall.services.identity_ports import UserLookup
from oncall.services.incident_ports import (
    AlertClaim,
    CatalogStore,
    IncidentFilter,
    IncidentStore,
    Lifecycle,
    StaleWrite,
)

ENTITY = "incident"
MAX_ATTEMPTS = 12
ACTING_ROLES = frozenset({Role.ADMIN, Role.RESPONDER})


def new_id() -> str:
    return str(ULID()).lower()


def entry(
    incident_id: str, now: datetime, kind: str, text: str, actor_id: str | None = None, **data: Any
) -> TimelineEntry:
    return TimelineEntry(
        incident_id=incident_id,
        id=str(ULID.from_datetime(now)).lower(),
        at=now,
        kind=kind,
        text=text,
        actor_id=actor_id,
        data=data,
    )


def event_of(incident: Incident, detail_type: str, now: datetime, **extra: Any) -> DomainEvent:
    return DomainEvent(
        entity_type=ENTITY,
        entity_id=incident.id,
        version=incident.version,
        detail_type=detail_type,
        snapshot={**incident.snapshot(), **extra},
        occurred_at=now,
    )


def may_act(actor: User, incident: Incident | None = None) -> None:
    """``actor`` may act on incidents (their global role), and on ``incident`` (their role in its team: 404 for an
    incident of a team they are not in, 403 for one they may only read)."""
    if not actor.active or actor.role not in ACTING_ROLES:
        raise Forbidden(
            "requires role admin or responder", required=sorted(r.value for r in ACTING_ROLES), role=actor.role.value
        )
    if incident is not None:
        Access.of(actor).require(incident.team_id, Power.ACT, "incident", incident.id)


class TeamIds(Protocol):
    def ids(self) -> list[str]: ...


class IncidentService:
    def __init__(
        self,
        store: IncidentStore,
        catalog: CatalogStore,
        people: UserLookup,
        lifecycle: Lifecycle,
        clock: Callable[[], datetime],
        teams: TeamIds | None = None,
    ) -> None:
        self.teams = teams
        self.store = store
        self.catalog = catalog
        self.people = people
        self.lifecycle = lifecycle
        self.clock = clock

    # -- create / read ----------------------------------------------------------------------------------------------
    def create(
        self,
        actor: User,
        *,
        title: str,
        service_id: str,
        severity: Severity,
        description: str | None = None,
        source: Source = Source.OPERATOR,
    ) -> Incident:
        may_act(actor)
        clean_title = check_title(title)
        clean_description = check_description(description)
        service = self.catalog.get_service(service_id)
        access = Access.of(actor)
        if service is None or not access.can(service.team_id, Power.READ):
            raise InvalidInput("service_id", f"no service {service_id!r}")
        access.require(service.team_id, Power.ACT, "service", service_id)
        now = self.clock()
        incident = Incident(
            id=new_id(),
            title=clean_title,
            description=clean_description,
            service_id=service_id,
            severity=severity,
            source=source,
            status=Status.TRIGGERED,
            created_at=now,
            updated_at=now,
            created_by=actor.id,
            team_id=team_of(service.team_id),
        )
        self.store.create(
            incident,
            [
                entry(
                    incident.id, now, "triggered", texts.triggered_by(actor.display_name), actor.id, source=source.value
                )
            ],
            event_of(incident, "incident.triggered", now),
        )
        return incident

    # -- monitoring alerts (oncall.services.alerts) ------------------------------------------------------------------
    def open_from_alert(
        self,
        *,
        title: str,
        service_id: str,
        severity: Severity,
        source: Source,
        dedup_key: str | None,
        alert_entry: dict[str, Any],
        claim: AlertClaim | None = None,
        incident_id: str | None = None,
        urgency: str = "high",
        raise_at: datetime | None = None,
        service: Service | None = None,
    ) -> Incident:
        """An incident opened by a monitoring alert (no person acted): alert_count 1, a ``triggered`` and an
        ``alert`` timeline entry, the ``incident.triggered`` event, and the caller's ``claim`` taken in the same
        transaction (GuardFailed: another alert claimed it first and nothing was written). The title is the source's
        summary as sent (bounded by the caller), not held to the manual-title rules. The alert entry's ``page``
        summary is kept on the incident for pages (``attach_alert`` replaces it with the joining alert's)."""
        now = self.clock()
        if service is None or service.id != service_id:  # the caller's copy saves a read (its team is all we need)
            service = self.catalog.get_service(service_id)
        incident = Incident(
            id=incident_id or new_id(),
            team_id=team_of(service.team_id if service else None),
            title=title,
            service_id=service_id,
            severity=severity,
            source=source,
            status=Status.TRIGGERED,
            created_at=now,
            updated_at=now,
            dedup_key=dedup_key,
            alert_count=1,
            last_alert_at=now,
            last_alert=AlertSummary.from_dict(alert_entry.get("page")),
            urgency=urgency,
            raise_at=raise_at,
        )
        entries = [
            entry(incident.id, now, "triggered", texts.triggered_by_alert(source.value), None, source=source.value),
            entry(incident.id, now, "alert", title, None, **alert_entry),
        ]
        self.store.create(incident, entries, event_of(incident, "incident.triggered", now), claim)
        return incident

    def attach_alert(
        self, incident_id: str, *, text: str, alert_entry: dict[str, Any], claim: AlertClaim | None = None
    ) -> bool:
        """Count one more alert on an open incident (count + 1, last seen, an ``alert`` timeline entry whose ``page``
        summary becomes the incident's ``last_alert``; no event, so no new page). False when the incident is not
        open any more (the caller opens a new one)."""
        now = self.clock()
        return self.store.attach_alert(
            incident_id, now, [entry(incident_id, now, "alert", text, None, **alert_entry)], claim
        )

    def alert_act(self, incident_id: str, action: Action, *, source: str) -> Incident | None:
        """A monitoring source's acknowledge / resolve; None when the move no longer applies (already resolved,
        acknowledged, gone): PagerDuty accepts and drops such events too."""
        from oncall.domain.incidents import IllegalTransition

        try:
            return self._move(incident_id, action, actor_id=None, actor_name=source, channel=source, by_source=True)
        except (IllegalTransition, NotFound):
            return None

    def get(self, incident_id: str, actor: User | None = None) -> Incident:
        """The incident; with ``actor``, only one of a team they may read (404 otherwise, as for none)."""
        incident = self.store.get(incident_id)
        if incident is None:
            raise NotFound("incident", incident_id)
        if actor is not None:
            Access.of(actor).require(incident.team_id, Power.READ, "incident", incident_id)
        return incident

    def scoped(self, actor: User, filters: IncidentFilter, team_id: str | None = None) -> IncidentFilter:
        """``filters`` narrowed to the teams ``actor`` reads (``team_id`` alone when asked): nothing to narrow when
        those are every team there is (the common one-team deployment reads its list as before), else the teams'
        services, read one by one."""
        scope = Access.of(actor).scope(team_id)
        if scope is None:
            return filters
        if scope and self.teams is not None and scope.issuperset(self.teams.ids()):
            return filters
        services: list[str] = []
        cursor: dict[str, Any] | None = None
        while scope:
            batch, cursor = self.catalog.list_services(200, cursor, scope)
            services += [s.id for s in batch]
            if cursor is None:
                break
        return replace(filters, teams=scope, team_services=tuple(services))

    def search(
        self, filters: IncidentFilter, limit: int, cursor: dict[str, Any] | None, actor: User | None = None
    ) -> tuple[list[Incident], dict[str, Any] | None]:
        if filters.created_from and filters.created_to and filters.created_to < filters.created_from:
            raise InvalidInput("created_to", "must not be before created_from")
        return self.store.paginate(self.scoped(actor, filters) if actor else filters, limit, cursor)

    def timeline(
        self, incident_id: str, limit: int, cursor: dict[str, Any] | None, actor: User | None = None
    ) -> tuple[list[TimelineEntry], dict[str, Any] | None]:
        self.get(incident_id, actor)
        return self.store.timeline(incident_id, limit, cursor)

    # -- edits ------------------------------------------------------------------------------------------------------
    def patch(self, actor: User, incident_id: str, changes: dict[str, Any]) -> Incident:
        may_act(actor, self.get(incident_id, actor))
        if "title" in changes:
            changes["title"] = check_title(str(changes["title"]))
        if "description" in changes:
            changes["description"] = check_description(changes["description"])
        if changes.get("assignee_id") is not None:
            assignee = self.people.get(str(changes["assignee_id"]))
            if assignee is None or not assignee.active:
                raise InvalidInput("assignee_id", f"no active user {changes['assignee_id']!r}")
        for _ in range(MAX_ATTEMPTS):
            before = self.get(incident_id)
            real = {k: v for k, v in changes.items() if getattr(before, k) != v}
            if not real:
                return before
            now = self.clock()
            after = replace(before, **real, version=before.version + 1, updated_at=now)
            entries = [
                entry(
                    incident_id,
                    now,
                    "updated" if name != "assignee_id" else "reassigned",
                    texts.field_changed(name),
                    actor.id,
                    field=name,
                    old=_plain(getattr(before, name)),
                    new=_plain(value),
                )
                for name, value in real.items()
            ]
            event = event_of(after, "incident.reassigned", now) if "assignee_id" in real else None
            try:
                self.store.commit(before, after, entries, event)
            except StaleWrite:
                continue
            return after
        raise ConcurrentUpdate("the incident kept changing; retry", id=incident_id)

    def add_note(self, actor: User, incident_id: str, text: str) -> TimelineEntry:
        may_act(actor, self.get(incident_id, actor))
        body = check_note(text)
        note = entry(incident_id, self.clock(), "note", body, actor.id)
        self.store.add_entries([note])
        return note

    # -- moves ------------------------------------------------------------------------------------------------------
    def act(self, actor: User, incident_id: str, action: Action, *, channel: str = "api") -> Incident:
        """A person's move (API, Telegram button): role checked, then the conditional transition."""
        may_act(actor)
        return self._move(
            incident_id, action, actor_id=actor.id, actor_name=actor.display_name, channel=channel, actor=actor
        )

    def system_act(self, incident_id: str, action: Action, *, generation: int) -> Incident | None:
        """The lifecycle's own move (ack timeout, auto-close) for ``generation``; None when it no longer applies."""
        from oncall.domain.incidents import IllegalTransition

        try:
            return self._move(incident_id, action, actor_id=None, actor_name="OnCall Hub", generation=generation)
        except (IllegalTransition, NotFound):
            return None

    def _move(
        self,
        incident_id: str,
        action: Action,
        *,
        actor_id: str | None,
        actor_name: str,
        channel: str = "system",
        generation: int | None = None,
        by_source: bool = False,
        actor: User | None = None,
    ) -> Incident:
        for _ in range(MAX_ATTEMPTS):
            before = self.get(incident_id)
            if actor is not None:
                may_act(actor, before)
            if generation is not None and before.generation != generation:
                raise NotFound("incident generation", f"{incident_id}-{generation}")
            now = self.clock()
            after = transition(before, action, actor_id, now)
            text = texts.incident_moved(action.value, actor_name if actor_id or by_source else None)
            entries = [
                entry(
                    incident_id,
                    now,
                    action.value,
                    text,
                    actor_id,
                    status=after.status.value,
                    previous=before.status.value,
                    channel=channel,
                    version=after.version,
                )
            ]
            try:
                self.store.commit(before, after, entries, event_of(after, EVENT_OF[action], now))
            except StaleWrite:
                continue
            if before.task_token:
                # the lifecycle was waiting: let it go on at once (a stale token is a no-op)
                self.lifecycle.answer(
                    before.task_token, {"status": after.status.value, "action": action.value, "version": after.version}
                )
            return after
        raise ConcurrentUpdate("the incident kept changing; retry", id=incident_id)


def _plain(value: Any) -> Any:
    if hasattr(value, "value"):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value
