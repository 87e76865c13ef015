"""Alert ingestion: one use case for every source (``receive``), rate limit, dedup, correlation, and the incident
moves alerts cause.

Receive: find the source's normaliser, ask it who sent the payload (an integration key, or a configured service
reference), find that service, turn the payload into alerts, admit them against the service's rate, then apply each
one. A payload that cannot be used raises ``InvalidAlert`` (a sender to answer: HTTP gives a 4xx and writes nothing)
or, for a bus event, is parked with the reason: nobody can be answered and a retry would fail the same way.

Incidents are created, counted, acknowledged and resolved THROUGH ``IncidentService`` (``open_from_alert``,
``attach_alert``, ``alert_act``): this service owns only its claims (which incident a group of alerts feeds and which
of its keys are still open), never incident state.

Trigger: read the group's claim; if it is live and its incident still open, attach (count + 1, last seen, timeline
line; no event, so no page). Otherwise open a new incident whose transaction also takes the claim (``AlertClaim``) on
condition *absent, or expired at now, or still naming the incident seen closed*, so two identical alerts racing both
try and exactly one wins; the loser re-reads and attaches. The read is only a shortcut: correctness rests on the
conditional write.

Acknowledge / resolve: the key's record names its incident; an unknown key is accepted and dropped (as PagerDuty
does). A resolve removes the key from the claim's open set (conditionally, so two resolves of one key count once)
and resolves the incident when the set is empty (``ResolvePolicy.LAST``) or at once (``FIRST``).

Storm protection: every alert counts against its service's fixed one-minute window (shared by all Lambdas through a
conditional counter); beyond ``rate_per_minute`` the request is refused (``RateLimited``: HTTP 429) or, for bus
events, dropped and logged. Pages themselves are capped per incident by the notification service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from oncall.domain.alerts import (
    CORRELATION_WINDOW,
    Alert,
    AlertAction,
    InvalidAlert,
    Outcome,
    ResolvePolicy,
    claim_live,
    grouping,
    rate_window,
    should_resolve,
)
from oncall.domain.errors import ConcurrentUpdate, NotFound, RateLimited
from oncall.domain.incidents import Action
from oncall.domain.page_content import summarise_alert
from oncall.domain.services_catalog import Service
from oncall.services.alert_ports import AlertIncidents, AlertSource, AlertStore, KeyResolver, Sender
from oncall.services.incident_ports import AlertClaim, GuardFailed

log = logging.getLogger("oncall.alerts")

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class AlertRules:
    rate_per_minute: int = 120
    correlation_window: timedelta = CORRELATION_WINDOW
    resolve_policy: ResolvePolicy = ResolvePolicy.LAST


@dataclass(frozen=True)
class Receipt:
    """What one delivery came to: ``processed`` (each alert's outcome), ``ignored`` (the source says there is nothing
    to do), or, for a bus event, ``parked`` (unusable; ``errors`` say why) or ``rate_limited`` (dropped; ``details``
    are the limit's)."""

    status: str
    outcomes: tuple[Outcome, ...] = ()
    errors: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


def alert_entry(alert: Alert) -> dict[str, Any]:
    """The timeline line of one alert: what it said, and its raw payload bounded (flagged when cut). ``page`` is what
    pages show of it (``summarise_alert``); the incident keeps the newest one, so paging never parses payloads."""
    return {
        "source": alert.source.value,
        "action": alert.action.value,
        "dedup_key": alert.dedup_key,
        "severity": alert.severity.value,
        "occurred_at": alert.occurred_at.isoformat() if alert.occurred_at else None,
        "details": alert.details,
        "raw": alert.raw.text,
        "raw_bytes": alert.raw.size,
        "raw_truncated": alert.raw.truncated,
        "page": summarise_alert(alert.source.value, alert.details).to_dict(),
    }


class AlertService:
    def __init__(
        self,
        store: AlertStore,
        incidents: AlertIncidents,
        catalog: KeyResolver,
        rules: AlertRules,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
        sources: Mapping[str, AlertSource] | None = None,
    ) -> None:
        self.store = store
        self.incidents = incidents
        self.catalog = catalog
        self.rules = rules
        self.clock = clock
        self.new_id = new_id
        #: normalisers by source name (the HTTP route's, or a bus event's ``source``)
        self.sources = dict(sources or {})

    # -- the use case ---------------------------------------------------------------------------------------------
    def receive(self, source: str | None, payload: Any, key: str | None = None, event_id: str | None = None) -> Receipt:
        """One delivery from ``source``: find the service, normalise, admit, apply each alert. ``key`` is an
        integration key sent beside the payload. A bus event (``event_id`` given, possibly empty) that cannot be
        used is parked and one over the rate is dropped, both answered in the receipt; otherwise those raise
        (InvalidAlert, Unauthenticated, RateLimited) for the caller's 4xx."""
        try:
            alerts = self._admitted(source, payload, key)
        except InvalidAlert as exc:
            if event_id is None:
                raise
            self.store.park(event_id, "; ".join(exc.errors), payload, self.clock())
            return Receipt("parked", errors=tuple(exc.errors))
        except RateLimited as exc:
            if event_id is None:
                raise
            # storm protection: the source keeps alarming; a flood must not become writes, pages or parked rows
            return Receipt("rate_limited", details=exc.details)
        if alerts is None:
            return Receipt("ignored")
        return Receipt("processed", tuple(self.apply(alert) for alert in alerts))

    def _admitted(self, source: str | None, payload: Any, key: str | None) -> list[Alert] | None:
        normaliser = self.sources.get(source or "")
        if normaliser is None:
            raise InvalidAlert([f"unexpected source {source!r}"])
        sender = normaliser.sender(payload, key)
        service = self._service_of(sender)
        if service is None:
            raise sender.unknown
        alerts = normaliser.alerts(payload, service.id)
        if alerts is None:
            return None
        self.admit(service.id, max(1, len(alerts)))
        return alerts

    # -- who is sending -------------------------------------------------------------------------------------------
    def _service_of(self, sender: Sender) -> Service | None:
        if sender.key is not None:
            return self.catalog.service_for_key(sender.key)
        if sender.service_ref:
            return self._service_by_ref(sender.service_ref)
        return None

    def _service_by_ref(self, ref: str) -> Service | None:
        """A configured service reference: its id, or its name (case-insensitive, must be unique)."""
        try:
            return self.catalog.get_service(ref)
        except NotFound:
            pass
        found: list[Service] = []
        cursor: dict[str, Any] | None = None
        for _ in range(20):
            batch, cursor = self.catalog.list_services(100, cursor)
            found += [s for s in batch if s.name.lower() == ref.lower()]
            if cursor is None:
                break
        return found[0] if len(found) == 1 else None

    # -- alerts ---------------------------------------------------------------------------------------------------
    def admit(self, service_id: str, count: int) -> None:
        """Storm protection: RateLimited when ``count`` more alerts would pass the service's per-minute rate."""
        now = self.clock()
        if not self.store.take(service_id, count, self.rules.rate_per_minute, now):
            _, ends = rate_window(now)
            retry = max(1, int((ends - timedelta(seconds=60) - now).total_seconds()))
            raise RateLimited(
                f"more than {self.rules.rate_per_minute} alerts per minute for this service",
                retry_after=retry,
                limit_per_minute=self.rules.rate_per_minute,
            )

    def apply(self, alert: Alert) -> Outcome:
        """Apply one admitted alert to its incident: open one, attach to the open one, acknowledge or resolve it,
        or drop the alert (the outcome says which)."""
        if alert.action is AlertAction.TRIGGER:
            return self._trigger(alert)
        return self._follow_up(alert)

    def _trigger(self, alert: Alert) -> Outcome:
        entry = alert_entry(alert)
        for _ in range(MAX_ATTEMPTS):
            now = self.clock()
            g = grouping(alert, now, self.rules.correlation_window)
            held = self.store.claim(alert.service_id, g.group)
            stale: str | None = None
            if held is not None and claim_live(held.expires_at, now):
                joining = g.key is not None and g.key not in held.open_keys
                join = AlertClaim(alert.service_id, g.group, g.key, g.expires_at, now) if joining else None
                try:
                    attached = self.incidents.attach_alert(
                        held.incident_id, text=alert.title, alert_entry=entry, claim=join
                    )
                except GuardFailed:
                    continue  # the claim moved on between the read and the write: decide again
                if attached:
                    return Outcome("attached", alert.dedup_key, held.incident_id)
                stale = held.incident_id
            elif held is not None:
                stale = held.incident_id
            incident_id = self.new_id()
            try:
                self.incidents.open_from_alert(
                    title=alert.title,
                    service_id=alert.service_id,
                    severity=alert.severity,
                    source=alert.source,
                    dedup_key=alert.dedup_key,
                    alert_entry=entry,
                    claim=AlertClaim(alert.service_id, g.group, g.key, g.expires_at, now, stale=stale),
                    incident_id=incident_id,
                )
            except GuardFailed:
                continue  # an identical alert opened it first: attach to that one
            return Outcome("created", alert.dedup_key, incident_id)
        raise ConcurrentUpdate("the alert's incident kept changing; retry", dedup_key=alert.dedup_key)

    def _follow_up(self, alert: Alert) -> Outcome:
        if alert.dedup_key is None:
            return Outcome("dropped", None, reason="no dedup key")
        ref = self.store.key(alert.service_id, alert.dedup_key)
        if ref is None:
            return Outcome("dropped", alert.dedup_key, reason="unknown dedup key")
        source = f"{alert.source.value} alert"
        if alert.action is AlertAction.ACKNOWLEDGE:
            moved = self.incidents.alert_act(ref.incident_id, Action.ACKNOWLEDGE, source=source)
            if moved is None:
                return Outcome("dropped", alert.dedup_key, ref.incident_id, reason="not triggered")
            return Outcome("acknowledged", alert.dedup_key, ref.incident_id)
        left = self.store.release(alert.service_id, ref.group, ref.incident_id, alert.dedup_key)
        if left is None:
            return Outcome("dropped", alert.dedup_key, ref.incident_id, reason="already resolved")
        if not should_resolve(self.rules.resolve_policy, left):
            return Outcome("released", alert.dedup_key, ref.incident_id, reason=f"{left} alerts still open")
        moved = self.incidents.alert_act(ref.incident_id, Action.RESOLVE, source=source)
        if moved is None:
            return Outcome("dropped", alert.dedup_key, ref.incident_id, reason="incident not open")
        return Outcome("resolved", alert.dedup_key, ref.incident_id)
