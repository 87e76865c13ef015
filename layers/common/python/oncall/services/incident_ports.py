"""Ports the incident, escalation and catalog services depend on. Adapters: ``oncall.adapters.dynamodb.incidents``,
``oncall.adapters.dynamodb.catalog``, ``oncall.adapters.lifecycle``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from oncall.domain.escalation import Policy
from oncall.domain.events import DomainEvent
from oncall.domain.incidents import Incident, Status, TimelineEntry
from oncall.domain.page_content import PageContent
from oncall.domain.services_catalog import Service


class StaleWrite(Exception):
    """The conditional write lost: the stored incident is no longer the one read. Re-read and decide again."""


class GuardFailed(Exception):
    """The ``AlertClaim`` written with an incident lost its condition: nothing was written. Another writer opened
    (or moved on from) the incident for that group of alerts first."""


@dataclass(frozen=True)
class AlertClaim:
    """Alert ingestion's dedup claim: the group of alerts ``group`` of service ``service_id`` feeds one incident, and
    ``key`` is one of its alerts still open (None: a keyless alert, correlated by the group alone).

    The incident store writes it in the incident's own transaction, so the claim exists exactly when the incident,
    or the alert that joins it, does. ``create`` takes the group for the new incident if nobody holds it, or the
    holder's window ended at ``at`` (whatever TTL has removed yet), or it still names ``stale`` (the incident the
    writer saw closed); ``attach_alert`` records ``key`` as open on the claim if it still names that incident. A lost
    condition is ``GuardFailed``."""

    service_id: str
    group: str
    key: str | None
    #: when the claim stops deciding the group (the correlation window's end, or the keyed claim's life)
    live_until: datetime
    #: when the alert arrived
    at: datetime
    stale: str | None = None


@dataclass(frozen=True)
class IncidentFilter:
    status: Status | None = None
    source: str | None = None
    service_id: str | None = None
    severity: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    #: only these teams' incidents (None: every team's), read service by service from ``team_services`` (the
    #: teams' services), so a team's list never reads another team's incidents
    teams: frozenset[str] | None = None
    team_services: tuple[str, ...] = ()


class IncidentStore(Protocol):
    def create(
        self,
        incident: Incident,
        entries: Sequence[TimelineEntry],
        event: DomainEvent,
        claim: AlertClaim | None = None,
    ) -> None:
        """Write the incident, its entries and event, and take ``claim`` for it, all or nothing; GuardFailed when
        the claim is held."""
        ...

    def attach_alert(
        self, incident_id: str, at: datetime, entries: Sequence[TimelineEntry], claim: AlertClaim | None = None
    ) -> bool:
        """Count one more alert (alert_count + 1, last_alert_at, version + 1) if the incident is still open, with
        its timeline entries and ``claim``'s key recorded as open, atomically and without reading it first. False
        if it is not open; GuardFailed when the claim no longer names the incident."""
        ...

    def get(self, incident_id: str) -> Incident | None: ...

    def commit(
        self, before: Incident, after: Incident, entries: Sequence[TimelineEntry], event: DomainEvent | None
    ) -> None:
        """Write ``after`` if the stored incident is still ``before`` (version and waiting token); else StaleWrite."""
        ...

    def arm(self, incident_id: str, *, generation: int, status: Status, step: int | None, token: str) -> bool:
        """Record the token the lifecycle now waits on, if the incident is still in ``status`` of ``generation``
        (and, when paging, at ``step``). False when it moved on."""
        ...

    def add_entries(self, entries: Sequence[TimelineEntry]) -> None: ...

    def timeline(
        self, incident_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[TimelineEntry], dict[str, Any] | None]: ...

    def page_entries(self, incident_id: str) -> list[TimelineEntry]:
        """The incident's page lines that carry a message reference (what an acknowledgement edits), oldest first,
        without reading the rest of its timeline."""
        ...

    def paginate(
        self, filters: IncidentFilter, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Incident], dict[str, Any] | None]: ...

    def created_between(
        self, start: datetime, end: datetime, within: IncidentFilter | None = None
    ) -> list[Incident]: ...


class CatalogStore(Protocol):
    def put_service(self, service: Service) -> None: ...

    def get_service(self, service_id: str) -> Service | None: ...

    def update_service(self, before: Service, after: Service) -> None: ...

    def rotate_key(self, before: Service, after: Service) -> None: ...

    def delete_service(self, service: Service) -> None: ...

    def service_id_for_key(self, key_hash: str) -> str | None: ...

    def list_services(
        self, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None = None
    ) -> tuple[list[Service], dict[str, Any] | None]: ...

    def team_owns_anything(self, team_id: str) -> bool: ...

    def services_using(self, policy_id: str) -> list[Service]: ...

    def put_policy(self, policy: Policy) -> None: ...

    def get_policy(self, policy_id: str) -> Policy | None: ...

    def update_policy(self, before: Policy, after: Policy) -> None: ...

    def delete_policy(self, policy: Policy) -> None: ...

    def list_policies(
        self, limit: int, cursor: dict[str, Any] | None, teams: frozenset[str] | None = None
    ) -> tuple[list[Policy], dict[str, Any] | None]: ...


class Lifecycle(Protocol):
    """The incident-lifecycle state machine, as our code talks to it."""

    def start(self, name: str, payload: dict[str, Any]) -> str: ...

    def answer(self, token: str, outcome: dict[str, Any]) -> bool:
        """Complete the wait ``token`` belongs to; False if it no longer waits (late, stale: a no-op)."""
        ...

    def fail(self, token: str, error: str, cause: str) -> bool:
        """End the wait ``token`` belongs to with ``error`` (what the state machine catches); False if it no longer
        waits."""
        ...


class OnCall(Protocol):
    def who(self, schedule_id: str, at: datetime) -> str | None:
        """The user on call on ``schedule_id`` at ``at`` (None: nobody, or no such schedule)."""
        ...

    def team(self, team_id: str, at: datetime) -> list[str]:
        """Everyone on call at ``at`` on one of the team's schedules (schedule by schedule, each person once)."""
        ...


@dataclass(frozen=True)
class PageButton:
    text: str
    callback_data: str


@dataclass(frozen=True)
class Page:
    """A message to one person about one incident (kind: page | escalation | resolution | info)."""

    kind: str
    key: str
    text: str
    incident_id: str
    buttons: tuple[tuple[PageButton, ...], ...] = field(default=())
    #: what the page says as data (``text`` is its plain-text rendering), for channels that format it
    content: PageContent | None = None


@dataclass(frozen=True)
class PageResult:
    """What became of one page: ``sent``; ``duplicate`` (an earlier attempt sent it); ``queued`` (a channel's rate
    window was full: it goes out, maybe in a digest, when the window opens, and the lifecycle hears how it ended);
    ``capped``; ``failed`` / ``no_channel`` (``detail`` names each channel's reason); ``cancelled``."""

    status: str
    channel: str | None = None
    ref: str | None = None
    detail: str | None = None

    @property
    def reached(self) -> bool:
        # duplicate: the same page went out before (a retried task); capped: the person has been paged about this
        # incident many times already and will see it
        return self.status in {"sent", "duplicate", "capped"}

    @property
    def pending(self) -> bool:
        """Not out yet, but on its way: the level is not "unreachable" until it fails."""
        return self.status in {"queued", "sending"}


class Pager(Protocol):
    """The notification service as the lifecycle uses it: one message to one person."""

    def send(self, user_id: str, page: Page, now: datetime, context: Mapping[str, Any] | None = None) -> PageResult:
        """``context`` comes back to ``EscalationService.page_settled`` when a queued page finally goes out or
        fails."""
        ...

    def status(self, user_id: str, key: str) -> str | None:
        """The delivery status of the page ``key`` to the person (None: never tried)."""
        ...

    def edit(self, ref: str, text: str, buttons: tuple[tuple[PageButton, ...], ...] = ()) -> None:
        """Best effort: rewrite a sent page (``ref`` from its ``PageResult``); never raises for a message that is
        gone or unchanged."""
        ...
