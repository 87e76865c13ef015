"""Alert ingestion: one use case for every source (``receive``), rate limit, dedup, correlation, and the incident
moves alerts cause.

Long because one use case takes a delivery end to end, and its parts share the delivery's state: admission per
alert, dedup and correlation, the storm incident past the rate, and a big group's keys joining and resolving together.

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

Storm protection, per alert (docs/architecture.md, "How an alert flows"): only an alert that would open a new
incident counts against its service's fixed one-minute window (shared by all Lambdas through a conditional counter).
Repeats of an open alert, acknowledgements and resolves never count and always pass, so a 1,000-alert Alertmanager
group costs one unit and a noisy known alert cannot use up the budget of new ones. Past ``rate_per_minute`` new
incidents, an alert is *coalesced* into the service's storm incident (``STORM_GROUP``: opened by the first such
alert, paged once, each later one joining it with its key tracked, so its resolve is still applied): nothing is
refused for a whole batch and nothing is dropped. Writes that lose a race (a claim taken meanwhile, a transaction
conflict) are decided again after a short jittered pause; an alert still contended after ``MAX_ATTEMPTS`` leaves the
rest of its delivery applied and the delivery answered "retry later" (``RateLimited``: HTTP 429, a bus event raises
so Lambda retries it), which a retry applies idempotently. Pages themselves are capped per incident by the
notification service.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from oncall import observability
from oncall.domain.alerts import (
    CORRELATION_WINDOW,
    STORM_GROUP,
    Alert,
    AlertAction,
    Grouping,
    InvalidAlert,
    Outcome,
    ResolvePolicy,
    claim_live,
    grouping,
    should_resolve,
    storm_grouping,
)
from oncall.domain.errors import ConcurrentUpdate, NotFound, RateLimited
from oncall.domain.incidents import TITLE_MAX, Action
from oncall.domain.page_content import summarise_alert
from oncall.domain.services_catalog import Service
from oncall.domain.texts import alert_storm_title
from oncall.observability import log
from oncall.services.alert_ports import AlertIncidents, AlertSource, AlertStore, GroupClaim, KeyResolver, Sender
from oncall.services.incident_ports import AlertClaim, GuardFailed

if TYPE_CHECKING:
    from oncall.domain.routing import Decision
    from oncall.services.routing import RoutingService


MAX_ATTEMPTS = 8
#: the longest pause between two attempts of one alert (seconds); each is jittered below a doubling bound
PAUSE_MAX = 0.2


@dataclass(frozen=True)
class AlertRules:
    #: new incidents per service per minute; what is over joins the service's storm incident
    rate_per_minute: int = 120
    correlation_window: timedelta = CORRELATION_WINDOW
    resolve_policy: ResolvePolicy = ResolvePolicy.LAST


@dataclass(frozen=True)
class Receipt:
    """What one delivery came to: ``processed`` (each alert's outcome), ``ignored`` (the source says there is nothing
    to do), or, for a bus event, ``parked`` (unusable; ``errors`` say why)."""

    status: str
    outcomes: tuple[Outcome, ...] = ()
    errors: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


def alert_entry(alert: Alert, decision: Decision | None = None) -> dict[str, Any]:
    """The timeline line of one alert: what it said, and its raw payload bounded (flagged when cut). ``page`` is what
    pages show of it (``summarise_alert``); the incident keeps the newest one, so paging never parses payloads.
    ``routing`` is what routing decided for it (urgency, the rules that matched, notes and tags)."""
    return {
        **({"routing": decision.to_dict()} if decision is not None else {}),
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


def _count(service: Service, alerts: Sequence[Alert], outcomes: Sequence[Outcome]) -> None:
    """``AlertsReceived`` and ``AlertsDeduplicated`` per source (a fixed set: the dimension stays cheap)."""
    received: dict[str, int] = {}
    joined: dict[str, int] = {}
    for alert, outcome in zip(alerts, outcomes, strict=False):
        source = alert.source.value
        received[source] = received.get(source, 0) + 1
        if outcome.result in ("attached", "coalesced"):
            joined[source] = joined.get(source, 0) + 1
    for source, n in received.items():
        observability.count("AlertsReceived", n, properties={"service_id": service.id}, source=source)
    for source, n in joined.items():
        observability.count("AlertsDeduplicated", n, properties={"service_id": service.id}, source=source)


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
        pause: Callable[[float], None] = time.sleep,
        router: RoutingService | None = None,
    ) -> None:
        self.store = store
        self.incidents = incidents
        self.catalog = catalog
        self.rules = rules
        self.clock = clock
        self.new_id = new_id
        #: normalisers by source name (the HTTP route's, or a bus event's ``source``)
        self.sources = dict(sources or {})
        #: waits between two attempts of a contended write (tests pass a no-op)
        self.pause = pause
        #: maintenance windows, silences, event rules and urgency (None: every alert pages with high urgency)
        self.router = router

    # -- the use case ---------------------------------------------------------------------------------------------
    def receive(self, source: str | None, payload: Any, key: str | None = None, event_id: str | None = None) -> Receipt:
        """One delivery from ``source``: find the service, normalise, apply each alert (admitted one by one). ``key``
        is an integration key sent beside the payload. A bus event (``event_id`` given, possibly empty) that cannot
        be used is parked and answered in the receipt; otherwise that raises (InvalidAlert, Unauthenticated) for the
        caller's 4xx. RateLimited: some alert kept losing races; the others are applied, a retry is safe."""
        try:
            service, alerts = self._normalised(source, payload, key)
        except InvalidAlert as exc:
            if event_id is None:
                raise
            self.store.park(event_id, "; ".join(exc.errors), payload, self.clock())
            return Receipt("parked", errors=tuple(exc.errors))
        if alerts is None:
            return Receipt("ignored")
        observability.annotate(service_id=service.id)
        routed = self._route(service, alerts)
        alerts = routed.alerts
        settled = dict(routed.settled)
        active = [a for i, a in enumerate(alerts) if i not in settled]
        delivery = _Delivery.of(active, self.clock(), self.rules.correlation_window)
        delivery.services[service.id] = service
        if not any(routed.elsewhere.values()):
            settled.update(self._resolve_together(alerts))
        outcomes: list[Outcome] = []
        contended: list[str | None] = []
        for index, alert in enumerate(alerts):
            if index in settled:
                outcomes.append(settled[index])
                continue
            try:
                outcomes.append(
                    self._apply(alert, delivery, routed.decisions.get(index), routed.elsewhere.get(index, ()))
                )
            except ConcurrentUpdate:
                contended.append(alert.dedup_key)
        if contended:
            log.warning("alerts still contended after retries", extra={"count": len(contended)})
            raise RateLimited(
                "some alerts of this delivery kept meeting concurrent writes; retry it",
                retry_after=1,
                contended=len(contended),
                applied=len(outcomes),
            )
        _count(service, alerts, outcomes)
        return Receipt("processed", tuple(outcomes))

    def _normalised(self, source: str | None, payload: Any, key: str | None) -> tuple[Service, list[Alert] | None]:
        normaliser = self.sources.get(source or "")
        if normaliser is None:
            raise InvalidAlert([f"unexpected source {source!r}"])
        sender = normaliser.sender(payload, key)
        service = self._service_of(sender)
        if service is None:
            raise sender.unknown
        return service, normaliser.alerts(payload, service.id)

    def normalise(self, source: str, payload: Any, service_id: str) -> list[Alert] | None:
        """A source's payload as alerts for ``service_id``, nothing applied (the routing dry run reads payloads
        exactly as intake does)."""
        normaliser = self.sources.get(source)
        if normaliser is None:
            raise InvalidAlert([f"unexpected source {source!r}"])
        return normaliser.alerts(payload, service_id)

    # -- routing --------------------------------------------------------------------------------------------------
    def _route(self, service: Service, alerts: list[Alert]) -> _Routed:
        """Each alert through the service's routing before any dedup or correlation write: a trigger's decision
        (a suppressed one is recorded and settled here), an acknowledge's or resolve's rewrite and where else its
        key may be."""
        if self.router is None:
            return _Routed(alerts)
        now = self.clock()
        out = _Routed([])
        for index, alert in enumerate(alerts):
            if alert.action is AlertAction.TRIGGER:
                decision = self.router.decide(alert, service, now)
                out.alerts.append(decision.alert)
                out.decisions[index] = decision
                if decision.suppressed is not None:
                    self.router.record(decision, now)
                    observability.count(
                        "AlertsSuppressed", properties={"service_id": service.id}, reason=decision.suppressed.kind
                    )
                    out.settled[index] = Outcome(
                        "suppressed", decision.alert.dedup_key, reason=decision.suppressed.reason
                    )
            else:
                follow = self.router.follow_up(alert, service, now)
                out.alerts.append(follow.alert)
                if follow.elsewhere:
                    out.elsewhere[index] = follow.elsewhere
        return out

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
            batch, cursor = self.catalog.all_services(100, cursor)
            found += [s for s in batch if s.name.lower() == ref.lower()]
            if cursor is None:
                break
        return found[0] if len(found) == 1 else None

    # -- alerts ---------------------------------------------------------------------------------------------------
    def apply(self, alert: Alert) -> Outcome:
        """Apply one alert to its incident: open one (within the service's rate), attach to the open one, coalesce
        it into the storm incident, acknowledge or resolve it, or drop it (the outcome says which)."""
        return self._apply(alert, _Delivery())

    def _apply(
        self, alert: Alert, delivery: _Delivery, decision: Decision | None = None, elsewhere: tuple[str, ...] = ()
    ) -> Outcome:
        if alert.action is AlertAction.TRIGGER:
            return self._trigger(alert, delivery, decision)
        return self._follow_up(alert, elsewhere)

    def _pause(self, attempt: int) -> None:
        self.pause(random.uniform(0, min(PAUSE_MAX, 0.005 * 2**attempt)))  # noqa: S311 (jitter, not a secret)

    def _trigger(self, alert: Alert, delivery: _Delivery, decision: Decision | None = None) -> Outcome:
        entry = alert_entry(alert, decision)
        admitted = False
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self._pause(attempt)
            now = self.clock()
            g = grouping(alert, now, self.rules.correlation_window)
            try:
                joined, stale = self._join(alert, entry, g, delivery, now)
            except _Retry:
                continue
            if joined is not None:
                return Outcome("attached", alert.dedup_key, joined)
            if not admitted:
                # only an alert that would open an incident counts, and only once however often it retries
                stormed = self._stormed(alert, entry, delivery)
                if stormed is not None:
                    return stormed
                if not self.store.take(alert.service_id, 1, self.rules.rate_per_minute, now):
                    return self._coalesce(alert, entry, delivery, decision)
                admitted = True
            incident_id = self._open(alert, alert.title, entry, g, now, stale, delivery, decision)
            if incident_id is not None:
                return Outcome("created", alert.dedup_key, incident_id)
        raise ConcurrentUpdate("the alert's incident kept changing; retry", dedup_key=alert.dedup_key)

    def _join(
        self, alert: Alert, entry: dict[str, Any], g: Grouping, delivery: _Delivery, now: datetime
    ) -> tuple[str | None, str | None]:
        """Attach to the incident the group's live claim names: (its id, None); or (None, the incident the claim
        names but that is closed, or None when there is no live claim). A lost race forgets the claim seen and
        raises ``_Retry`` (decide again after a pause)."""
        seen = delivery.seen
        held = seen.get(g.group) or self.store.claim(alert.service_id, g.group)
        if held is None:
            return None, None
        if not claim_live(held.expires_at, now):
            seen.pop(g.group, None)
            return None, held.incident_id
        joining = g.key is not None and g.key not in held.open_keys
        batch = [k for k in delivery.keys.get(g.group, ()) if k not in held.open_keys] if joining else []
        if len(batch) > 1:
            # the delivery's other new keys of this group join with this one: one claim write for them all
            if not self.store.join(alert.service_id, g.group, held.incident_id, batch, g.expires_at):
                seen.pop(g.group, None)
                raise _Retry()
            held = GroupClaim(held.incident_id, held.expires_at, held.open_keys | set(batch))
            seen[g.group] = held
            joining = False
        join = AlertClaim(alert.service_id, g.group, g.key, g.expires_at, now) if joining else None
        try:
            attached = self.incidents.attach_alert(held.incident_id, text=alert.title, alert_entry=entry, claim=join)
        except GuardFailed:
            # the claim moved on (or the write met a concurrent one): read it again on the next attempt
            seen.pop(g.group, None)
            raise _Retry() from None
        if not attached:
            seen.pop(g.group, None)
            return None, held.incident_id
        if joining and g.key is not None:
            held = GroupClaim(held.incident_id, held.expires_at, held.open_keys | {g.key})
        seen[g.group] = held
        return held.incident_id, None

    def _open(
        self,
        alert: Alert,
        title: str,
        entry: dict[str, Any],
        g: Grouping,
        now: datetime,
        stale: str | None,
        delivery: _Delivery,
        decision: Decision | None = None,
    ) -> str | None:
        """Open an incident taking the group's claim; None when another alert took it first (decide again)."""
        seen = delivery.seen
        incident_id = self.new_id()
        try:
            self.incidents.open_from_alert(
                urgency=decision.urgency.value if decision else "high",
                raise_at=decision.raise_at if decision else None,
                title=title,
                service_id=alert.service_id,
                severity=alert.severity,
                source=alert.source,
                dedup_key=alert.dedup_key,
                alert_entry=entry,
                claim=AlertClaim(alert.service_id, g.group, g.key, g.expires_at, now, stale=stale),
                incident_id=incident_id,
                service=delivery.services.get(alert.service_id),
            )
        except GuardFailed:
            seen.pop(g.group, None)
            return None
        seen[g.group] = GroupClaim(incident_id, g.expires_at, frozenset({g.key} if g.key else ()))
        return incident_id

    def _stormed(self, alert: Alert, entry: dict[str, Any], delivery: _Delivery) -> Outcome | None:
        """An alert already coalesced into the open storm incident stays there (its repeats neither open their own
        incident nor count) until it resolves."""
        if alert.dedup_key is None or alert.key_generated:
            return None  # a keyless alert, or one whose key was made up for it, was never coalesced before
        ref = self.store.key(alert.service_id, alert.dedup_key)
        if ref is None or ref.group != STORM_GROUP:
            return None
        now = self.clock()
        try:
            joined, _ = self._join(alert, entry, storm_grouping(alert, now), delivery, now)
        except _Retry:
            return None
        if joined is None:
            return None
        return Outcome("coalesced", alert.dedup_key, joined, reason="joins the storm incident it is open in")

    def _coalesce(
        self, alert: Alert, entry: dict[str, Any], delivery: _Delivery, decision: Decision | None = None
    ) -> Outcome:
        """Past the service's new-incident rate: join the service's storm incident, or open it (paged once)."""
        reason = f"over {self.rules.rate_per_minute} new incidents per minute for this service"
        title = alert_storm_title(alert.title)
        if len(title) > TITLE_MAX:
            title = title[: TITLE_MAX - 1] + "…"
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                self._pause(attempt)
            now = self.clock()
            g = storm_grouping(alert, now)
            try:
                joined, stale = self._join(alert, entry, g, delivery, now)
            except _Retry:
                continue
            if joined is not None:
                return Outcome("coalesced", alert.dedup_key, joined, reason=reason)
            incident_id = self._open(alert, title, entry, g, now, stale, delivery, decision)
            if incident_id is not None:
                return Outcome("coalesced", alert.dedup_key, incident_id, reason=reason + "; opened the storm incident")
        raise ConcurrentUpdate("the service's storm incident kept changing; retry", dedup_key=alert.dedup_key)

    def _resolve_together(self, alerts: list[Alert]) -> dict[int, Outcome]:
        """A delivery's resolves, when it holds several (a group ending): their key records read at once and each
        claim left in ONE write, so a 1,000-alert group resolving costs a dozen calls, not 2,000, and its claim is
        written once, not a thousand times. The outcomes, by the alert's position, are those one by one would give."""
        resolving = [(i, a) for i, a in enumerate(alerts) if a.action is AlertAction.RESOLVE and a.dedup_key]
        if len(resolving) < 2 or len({a.service_id for _, a in resolving}) > 1:
            return {}  # rules sent them to several services: one by one
        service_id = resolving[0][1].service_id
        refs = self.store.refs(service_id, [str(a.dedup_key) for _, a in resolving])
        out: dict[int, Outcome] = {}
        claims: dict[tuple[str, str], list[tuple[int, Alert]]] = {}
        for i, a in resolving:
            ref = refs.get(str(a.dedup_key))
            if ref is None:
                out[i] = Outcome("dropped", a.dedup_key, reason="unknown dedup key")
            else:
                claims.setdefault((ref.incident_id, ref.group), []).append((i, a))
        for (incident_id, group), members in claims.items():
            done = self.store.release_many(service_id, group, incident_id, [str(a.dedup_key) for _, a in members])
            released, left = done if done is not None else (frozenset(), 0)
            first: list[tuple[int, Alert]] = []
            for i, a in members:
                if a.dedup_key in released and all(a.dedup_key != b.dedup_key for _, b in first):
                    first.append((i, a))
                else:
                    out[i] = Outcome("dropped", a.dedup_key, incident_id, reason="already resolved")
            if not first:
                i, a = members[-1]
                out[i] = self._finish_resolve(a, group, incident_id, f"{a.source.value} alert")
                continue
            resolves = should_resolve(self.rules.resolve_policy, left)
            still = None if resolves else f"{left} alerts still open"
            for i, a in first[:-1] if resolves else first:
                out[i] = Outcome("released", a.dedup_key, incident_id, reason=still)
            if resolves:
                i, a = first[-1]
                moved = self.incidents.alert_act(incident_id, Action.RESOLVE, source=f"{a.source.value} alert")
                out[i] = (
                    Outcome("resolved", a.dedup_key, incident_id)
                    if moved is not None
                    else Outcome("dropped", a.dedup_key, incident_id, reason="incident not open")
                )
        return out

    def _follow_up(self, alert: Alert, elsewhere: tuple[str, ...] = ()) -> Outcome:
        key = alert.dedup_key
        if key is None:
            return Outcome("dropped", None, reason="no dedup key")
        ref = self.store.key(alert.service_id, key)
        for other in elsewhere:
            if ref is not None:
                break
            # a rule routed the trigger on something this follow-up does not carry (a PagerDuty resolve has no
            # payload): its key is with the service the trigger went to
            ref = self.store.key(other, key)
            if ref is not None:
                alert = replace(alert, service_id=other)
        if ref is None:
            return Outcome("dropped", alert.dedup_key, reason="unknown dedup key")
        source = f"{alert.source.value} alert"
        if alert.action is AlertAction.ACKNOWLEDGE:
            moved = self.incidents.alert_act(ref.incident_id, Action.ACKNOWLEDGE, source=source)
            if moved is None:
                return Outcome("dropped", alert.dedup_key, ref.incident_id, reason="not triggered")
            return Outcome("acknowledged", alert.dedup_key, ref.incident_id)
        left = self.store.release(alert.service_id, ref.group, ref.incident_id, key)
        if left is None:
            return self._finish_resolve(alert, ref.group, ref.incident_id, source)
        if not should_resolve(self.rules.resolve_policy, left):
            return Outcome("released", alert.dedup_key, ref.incident_id, reason=f"{left} alerts still open")
        moved = self.incidents.alert_act(ref.incident_id, Action.RESOLVE, source=source)
        if moved is None:
            return Outcome("dropped", alert.dedup_key, ref.incident_id, reason="incident not open")
        return Outcome("resolved", alert.dedup_key, ref.incident_id)

    def _finish_resolve(self, alert: Alert, group: str, incident_id: str, source: str) -> Outcome:
        """The key had already left its claim. Usually a duplicate resolve; but a resolve whose incident move failed
        after the key was released (DynamoDB still refusing for capacity: the sender heard a 503 and sends it again)
        must still resolve the incident, or it stays open after the outage ends. So the move is decided again from
        the claim as stored: nothing left open of this incident's group → resolve (a no-op if it already is)."""
        claim = self.store.claim(alert.service_id, group)
        if claim is not None and claim.incident_id != incident_id:
            return Outcome("dropped", alert.dedup_key, incident_id, reason="already resolved")
        left = len(claim.open_keys) if claim is not None else 0
        if not should_resolve(self.rules.resolve_policy, left):
            return Outcome("dropped", alert.dedup_key, incident_id, reason="already resolved")
        moved = self.incidents.alert_act(incident_id, Action.RESOLVE, source=source)
        if moved is None:
            return Outcome("dropped", alert.dedup_key, incident_id, reason="already resolved")
        return Outcome("resolved", alert.dedup_key, incident_id)


@dataclass
class _Routed:
    """A delivery's alerts after routing, by position: as rewritten, triggers' decisions, the suppressed ones'
    outcomes, and where else a follow-up's key may be."""

    alerts: list[Alert]
    decisions: dict[int, Decision] = field(default_factory=dict)
    settled: dict[int, Outcome] = field(default_factory=dict)
    elsewhere: dict[int, tuple[str, ...]] = field(default_factory=dict)


class _Retry(Exception):
    """A write lost a race: decide again after a pause."""


@dataclass
class _Delivery:
    """What one delivery's alerts share: ``seen``, the claims already read or written, by group (the alerts of one
    big group read their claim once; every write stays conditional, so a stale entry costs a retry, never a wrong
    write), and ``keys``, each group's trigger keys in the delivery (its new ones join the claim at once)."""

    seen: dict[str, GroupClaim] = field(default_factory=dict)
    keys: dict[str, list[str]] = field(default_factory=dict)
    #: the receiving service as read for this delivery: an incident opened for it needs its team, not a second read
    services: dict[str, Service] = field(default_factory=dict)

    @classmethod
    def of(cls, alerts: list[Alert], now: datetime, window: timedelta) -> _Delivery:
        keys: dict[str, list[str]] = {}
        for alert in alerts:
            g = grouping(alert, now, window)
            if alert.action is AlertAction.TRIGGER and g.key is not None:
                keys.setdefault(g.group, []).append(g.key)
        return cls(keys=keys)
