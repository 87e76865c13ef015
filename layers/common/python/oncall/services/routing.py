"""Alert routing as people configure it (event rules, urgency, maintenance windows, silences, the dry run) and as
alert intake asks it (``decide``, ``follow_up``, ``record``). The rules themselves are ``oncall.domain.routing``.

Access follows the service's team: its members read its routing, its managers change it; a silence belongs to a
team and silences only that team's services' alerts (Alertmanager's silences are global because Alertmanager serves
one team; here one team's silence must not hide another team's pages).

Cost per alert: the service is read anyway to authenticate the sender, and carries ``routing_version``; the routing
cached in this warm function is used while its version matches, so an alert costs no routing read until someone
changes it. Silences are cached for ``silence_ttl`` seconds (a new silence applies within that time everywhere;
this function's own changes at once).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from oncall.domain.alerts import Alert, AlertAction
from oncall.domain.errors import InvalidInput, NotFound
from oncall.domain.routing import (
    SILENCES_MAX,
    WINDOWS_MAX,
    Decision,
    MaintenanceWindow,
    Routed,
    Routing,
    Silence,
    apply_rules,
    check_matchers,
    check_period,
    check_rules,
    check_text,
    check_urgency,
    decide,
    kept_windows,
)
from oncall.domain.services_catalog import Service
from oncall.domain.teams import DEFAULT_TEAM_ID, Access, Power, team_of
from oncall.domain.users import User
from oncall.services.audit_ports import NO_AUDIT, Recorder

#: how far back suppressed alerts are listed by default, and at most
SUPPRESSED_WINDOW = timedelta(days=30)


class RoutingStore(Protocol):
    def routing(self, service_id: str) -> Routing: ...

    def save(self, changes: list[tuple[Routing, Routing]]) -> None: ...

    def silences(self) -> list[Silence]: ...

    def silence(self, silence_id: str) -> Silence | None: ...

    def put_silence(self, silence: Silence, before: Silence | None = None) -> None: ...

    def record_suppressed(self, alert_id: str, alert: Alert, decision: dict[str, Any], now: datetime) -> None: ...

    def suppressed(
        self, service_id: str, since: datetime, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]: ...

    def suppressed_counts(self, service_id: str, start: datetime, end: datetime) -> dict[str, int]: ...


class ServiceReader(Protocol):
    """The catalog as intake and this service read it."""

    def get_service(self, service_id: str) -> Service | None: ...


@dataclass(frozen=True)
class FollowUp:
    """An acknowledge or resolve after routing: the alert as rules rewrote it (service, dedup key), and every other
    service its key may have gone to (the receiving one, and its rules' targets), to look in when it is not found."""

    alert: Alert
    elsewhere: tuple[str, ...]


class RoutingService:
    def __init__(
        self,
        store: RoutingStore,
        services: ServiceReader,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
        *,
        silence_ttl: float = 5.0,
        audit: Recorder = NO_AUDIT,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.services = services
        self.clock = clock
        self.new_id = new_id
        self.silence_ttl = silence_ttl
        self.audit = audit
        self.monotonic = monotonic
        self._routing: dict[str, Routing] = {}
        self._silences: tuple[float, list[Silence]] | None = None

    # -- reads with the warm cache ----------------------------------------------------------------------------------
    def routing_of(self, service: Service) -> Routing:
        cached = self._routing.get(service.id)
        if cached is not None and cached.version == service.routing_version:
            return cached
        if service.routing_version == 0 and cached is None:
            return Routing(service.id)  # never configured: nothing to read
        fresh = self.store.routing(service.id)
        self._routing[service.id] = fresh
        return fresh

    def _all_silences(self) -> list[Silence]:
        now = self.monotonic()
        if self._silences is not None and now < self._silences[0]:
            return self._silences[1]
        loaded = self.store.silences()
        self._silences = (now + self.silence_ttl, loaded)
        return loaded

    def silences_for(self, team_id: str | None, now: datetime) -> list[Silence]:
        team = team_of(team_id)
        return [s for s in self._all_silences() if s.team_id == team and s.ends_at > now]

    # -- intake -------------------------------------------------------------------------------------------------------
    def decide(self, alert: Alert, service: Service, now: datetime) -> Decision:
        """The routing decision for a trigger received by ``service``. A rule routing to a service that is gone
        leaves the alert where it was received (recorded as such): an alert is never lost to a stale rule."""
        received = self.routing_of(service)
        target_service = service
        routed: Routed | None = apply_rules(alert, received.rules, now)
        assert routed is not None
        if routed.alert.service_id != service.id:
            found = self.services.get_service(routed.alert.service_id)
            if found is None:
                alert = replace(alert, details={**alert.details, "routing_target_missing": routed.alert.service_id})
                received = replace(received, rules=tuple(r for r in received.rules if not r.actions.route_to))
                routed = None
            else:
                target_service = found
        target = self.routing_of(target_service) if target_service is not service else received
        silences = self.silences_for(target_service.team_id, now)
        return decide(alert, received, target, silences, now, routed)

    def follow_up(self, alert: Alert, service: Service, now: datetime) -> FollowUp:
        """Acknowledge / resolve: the rules' routing and dedup-key actions apply as they did to the trigger (a
        resolve carries the same labels); severity, urgency and suppression do not concern it."""
        received = self.routing_of(service)
        if not received.rules:
            return FollowUp(alert, ())
        routed = apply_rules(alert, received.rules, now).alert
        others = tuple(dict.fromkeys(x for x in (service.id, *received.route_targets()) if x != routed.service_id))
        return FollowUp(routed, others)

    def record(self, decision: Decision, now: datetime) -> str:
        """Keep a suppressed alert (listed on its service, counted for analytics); its id."""
        alert_id = self.new_id()
        self.store.record_suppressed(alert_id, decision.alert, decision.to_dict(), now)
        return alert_id

    # -- configuration -----------------------------------------------------------------------------------------------
    def _service(self, actor: User, service_id: str, power: Power) -> Service:
        service = self.services.get_service(service_id)
        if service is None:
            raise NotFound("service", service_id)
        Access.of(actor).require(service.team_id, power, "service", service_id)
        return service

    def view(self, actor: User, service_id: str) -> Routing:
        service = self._service(actor, service_id, Power.READ)
        return self.store.routing(service.id) if service.routing_version else Routing(service.id)

    def _change(self, actor: User, service_id: str, what: str, change: Callable[[Routing], Routing]) -> Routing:
        self._service(actor, service_id, Power.MANAGE)
        before = self.store.routing(service_id)
        after = replace(change(before), version=before.version + 1)
        with self.audit(actor.id, f"service.{what}", service_id, _audited(before), _audited(after)):
            self.store.save([(before, after)])
        self._routing[service_id] = after
        return after

    def set_rules(self, actor: User, service_id: str, raw: object) -> Routing:
        rules = check_rules(raw, service_id, self.new_id)
        for i, rule in enumerate(rules):
            target = rule.actions.route_to
            if target is None:
                continue
            found = self.services.get_service(target)
            if found is None or not Access.of(actor).can(found.team_id, Power.READ):
                raise InvalidInput(f"rules[{i}].actions.route_to", f"no service {target!r}")
        return self._change(actor, service_id, "event_rules_changed", lambda r: replace(r, rules=rules))

    def set_urgency(self, actor: User, service_id: str, raw: object) -> Routing:
        rule = check_urgency(raw)
        return self._change(actor, service_id, "urgency_changed", lambda r: replace(r, urgency=rule))

    def dry_run(self, actor: User, service_id: str, alert: Alert) -> Decision:
        """What intake would decide for ``alert`` now, writing nothing."""
        service = self._service(actor, service_id, Power.READ)
        return self.decide(replace(alert, service_id=service.id), service, self.clock())

    # -- maintenance windows -------------------------------------------------------------------------------------------
    def add_window(
        self, actor: User, service_ids: list[str], start: datetime, end: datetime, reason: object
    ) -> tuple[MaintenanceWindow, list[str]]:
        """One window over several services at once (all or none), each a manager of the caller's."""
        if not service_ids or len(service_ids) > 20:
            raise InvalidInput("service_ids", "must name 1 to 20 services")
        now = self.clock()
        s, e = check_period(start, end, now, ("start", "end"))
        window = MaintenanceWindow(
            id=self.new_id(),
            start=s,
            end=e,
            reason=check_text(reason, "reason", required=True),
            created_by=actor.id,
            created_at=now,
        )
        unique = list(dict.fromkeys(service_ids))
        for i, sid in enumerate(unique):
            try:
                self._service(actor, sid, Power.MANAGE)
            except NotFound:
                raise InvalidInput(f"service_ids[{i}]", f"no service {sid!r}") from None
        changes: list[tuple[Routing, Routing]] = []
        for sid in unique:
            before = self.store.routing(sid)
            windows = kept_windows([*before.windows, window], now)
            if len(windows) > WINDOWS_MAX:
                raise InvalidInput("service_ids", f"service {sid!r} already has {WINDOWS_MAX} maintenance windows")
            changes.append((before, replace(before, windows=windows, version=before.version + 1)))
        recorded = {**window.to_dict(now), "services": unique}
        with self.audit(actor.id, "maintenance_window.created", window.id, None, recorded):
            self.store.save(changes)
        for _, after in changes:
            self._routing[after.service_id] = after
        return window, unique

    def windows(self, actor: User, service_id: str) -> list[MaintenanceWindow]:
        return list(kept_windows(self.view(actor, service_id).windows, self.clock()))

    def end_window(self, actor: User, service_id: str, window_id: str) -> MaintenanceWindow | None:
        """End a window early: one in progress ends now (and stays listed as ended), a future one is removed
        (None)."""
        now = self.clock()
        current = self.store.routing(service_id)
        found = next((w for w in current.windows if w.id == window_id), None)
        if found is None or found.end <= now:
            self._service(actor, service_id, Power.READ)
            raise NotFound("maintenance window", window_id)
        ended = replace(found, end=now) if found.start <= now else None

        def change(r: Routing) -> Routing:
            rest = [w for w in r.windows if w.id != window_id]
            return replace(r, windows=kept_windows([*rest, *([ended] if ended else [])], now))

        self._change(actor, service_id, "maintenance_window_ended", change)
        return ended

    # -- silences ---------------------------------------------------------------------------------------------------
    def create_silence(self, actor: User, body: Mapping[str, Any]) -> Silence:
        now = self.clock()
        team_id = body.get("team_id") or _only_team(actor)
        if not isinstance(team_id, str):
            raise InvalidInput("team_id", "must be a team id")
        Access.of(actor).require_team(team_id, Power.MANAGE)
        matchers = check_matchers(body.get("matchers"))
        starts = body.get("starts_at") or now
        ends = body.get("ends_at")
        if not isinstance(ends, datetime):
            raise InvalidInput("ends_at", "must be an RFC 3339 time with an offset")
        if not isinstance(starts, datetime):
            raise InvalidInput("starts_at", "must be an RFC 3339 time with an offset")
        s, e = check_period(starts, ends, now, ("starts_at", "ends_at"))
        live = [x for x in self.store.silences() if x.team_id == team_id and x.ends_at > now]
        if len(live) >= SILENCES_MAX:
            raise InvalidInput("team_id", f"the team already has {SILENCES_MAX} silences that have not ended")
        silence = Silence(
            id=self.new_id(),
            team_id=team_id,
            matchers=matchers,
            starts_at=s,
            ends_at=e,
            created_by=actor.id,
            comment=check_text(body.get("comment"), "comment", required=True),
            created_at=now,
            updated_at=now,
        )
        with self.audit(actor.id, "silence.created", silence.id, None, silence.to_dict(now)):
            self.store.put_silence(silence)
        self._silences = None
        return silence

    def silence(self, actor: User, silence_id: str) -> Silence:
        found = self.store.silence(silence_id)
        if found is None or not Access.of(actor).can(found.team_id, Power.READ):
            raise NotFound("silence", silence_id)
        return found

    def silences(self, actor: User, team_id: str | None = None, state: str | None = None) -> list[Silence]:
        now = self.clock()
        access = Access.of(actor)
        found = [
            x
            for x in self.store.silences()
            if access.can(x.team_id, Power.READ)
            and (team_id is None or x.team_id == team_id)
            and (state is None or x.state(now) == state)
        ]
        return sorted(found, key=lambda x: (x.ends_at, x.id), reverse=True)

    def expire_silence(self, actor: User, silence_id: str) -> Silence:
        """Alertmanager's "expire": it ends now (a pending one ends before it starts) and stays listed a week."""
        before = self.silence(actor, silence_id)
        Access.of(actor).require(before.team_id, Power.MANAGE, "silence", silence_id)
        now = self.clock()
        if before.ends_at <= now:
            return before
        after = replace(before, ends_at=max(now, before.starts_at), updated_at=now)
        if after.starts_at >= after.ends_at:
            after = replace(after, starts_at=now, ends_at=now)
        with self.audit(actor.id, "silence.expired", silence_id, before.to_dict(now), after.to_dict(now)):
            self.store.put_silence(after, before)
        self._silences = None
        return after

    # -- suppressed alerts ------------------------------------------------------------------------------------------
    def suppressed(
        self, actor: User, service_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        self._service(actor, service_id, Power.READ)
        return self.store.suppressed(service_id, self.clock() - SUPPRESSED_WINDOW, limit, cursor)

    def suppressed_counts(self, service_id: str, start: datetime, end: datetime) -> dict[str, int]:
        return self.store.suppressed_counts(service_id, start, end)


def _only_team(actor: User) -> str:
    """The team a silence goes to when none is named: the caller's one team (the default team for admins)."""
    teams = list(actor.teams)
    if len(teams) == 1:
        return teams[0]
    if not teams:
        return DEFAULT_TEAM_ID
    raise InvalidInput("team_id", "you are in several teams: name the silence's team")


def _audited(r: Routing) -> dict[str, Any]:
    return {
        "version": r.version,
        "rules": [x.to_dict() for x in r.rules],
        "urgency": r.urgency.to_dict(),
        "windows": [w.id for w in r.windows],
    }


def is_trigger(alert: Alert) -> bool:
    return alert.action is AlertAction.TRIGGER
