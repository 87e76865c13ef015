"""Ports alert ingestion depends on: its own store (group claims as read, alert keys, rate windows, parked events),
the incident moves it asks for, the catalog it finds services in, and the monitoring sources whose payloads it
reads. Adapters: ``oncall.adapters.dynamodb.alerts``, ``oncall.adapters.alert_sources``; the incident moves are
``IncidentService``'s."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from oncall.domain.alerts import Alert
from oncall.domain.errors import DomainError
from oncall.domain.incidents import Action, Incident, Severity, Source
from oncall.domain.services_catalog import Service
from oncall.services.incident_ports import AlertClaim


@dataclass(frozen=True)
class GroupClaim:
    """A group's claim as read: the incident it feeds, until when it decides the group, the keys still open."""

    incident_id: str
    expires_at: datetime | None
    open_keys: frozenset[str]


@dataclass(frozen=True)
class KeyRef:
    """Where an alert key went: its incident and the group it joined."""

    incident_id: str
    group: str


class AlertStore(Protocol):
    def claim(self, service_id: str, group: str) -> GroupClaim | None: ...

    def key(self, service_id: str, key: str) -> KeyRef | None: ...

    def join(self, service_id: str, group: str, incident_id: str, keys: Sequence[str], live_until: datetime) -> bool:
        """Record ``keys`` as alerts of ``incident_id`` (their key records, kept 30 days from ``live_until``) and add
        them to the open keys of the group's claim, if it still names that incident (False: it moved on). For many
        keys of one delivery at once; idempotent."""
        ...

    def refs(self, service_id: str, keys: Sequence[str]) -> dict[str, KeyRef]:
        """Where each of ``keys`` went, for those known (a delivery's many resolves read at once)."""
        ...

    def release_many(
        self, service_id: str, group: str, incident_id: str, keys: Sequence[str]
    ) -> tuple[frozenset[str], int] | None:
        """Remove ``keys`` from the open keys of the claim naming ``incident_id``, in one write: the ones that were
        open there (each released once, however many resolve it at once) and the number left open; None if the
        claim names another incident."""
        ...

    def release(self, service_id: str, group: str, incident_id: str, key: str) -> int | None:
        """Remove ``key`` from the open keys of the claim naming ``incident_id``; the number left open, or None if
        the key was not open there (already resolved, or the claim moved on)."""
        ...

    def take(self, service_id: str, count: int, limit: int, now: datetime) -> bool:
        """Count ``count`` alerts in the service's current window if that stays within ``limit``."""
        ...

    def park(self, event_id: str, reason: str, event: Any, now: datetime) -> None:
        """Keep an event that could not be processed (inspect / redrive later); expires after two weeks."""
        ...


class AlertIncidents(Protocol):
    """The part of ``IncidentService`` alert ingestion uses; claims (``AlertClaim``) are written with the incident."""

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
    ) -> Incident: ...

    def attach_alert(
        self, incident_id: str, *, text: str, alert_entry: dict[str, Any], claim: AlertClaim | None = None
    ) -> bool: ...

    def alert_act(self, incident_id: str, action: Action, *, source: str) -> Incident | None: ...


class KeyResolver(Protocol):
    def service_for_key(self, key: str) -> Service | None: ...

    def get_service(self, service_id: str) -> Service: ...

    def all_services(
        self, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Service], dict[str, Any] | None]: ...


@dataclass(frozen=True)
class Delivery:
    """A webhook delivery as received: the body as text and the request headers (a source may check a signature
    over the body before reading it)."""

    body: str
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Sender:
    """Who a payload says sent it: an integration ``key``, or a ``service_ref`` (a service id or name from
    configuration). ``unknown`` is the error when no service answers to it, in the source's own words."""

    unknown: DomainError
    key: str | None = None
    service_ref: str | None = None


class AlertSource(Protocol):
    """One monitoring source's payloads (an EventBridge event, a parsed body or a ``Delivery``)."""

    def sender(self, payload: Any, key: str | None) -> Sender:
        """Who sent ``payload``; ``key`` is an integration key that came beside it (a Bearer header). InvalidAlert
        (or Unauthenticated) when the payload cannot even say that."""
        ...

    def alerts(self, payload: Any, service_id: str) -> list[Alert] | None:
        """Every alert ``payload`` means for the service (None: the source says to ignore it); InvalidAlert naming
        each problem, or Unauthenticated for a signature that does not hold."""
        ...
