"""Alert ingestion over fakes of its ports, with the real incident and catalog services behind it: dedup onto the
open incident, correlation of keyless alerts inside the window, group claims released key by key under each resolve
policy, a claim of a closed incident taken over, two identical alerts racing, the per-service minute window, and the
one intake use case from a source's payload to an incident (or a refusal, or a parked event), judged on the stored
incidents, their timelines, the claims and what was parked."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oncall.adapters.alert_sources import custom, pagerduty
from oncall.domain.alerts import Alert, AlertAction, InvalidAlert, ResolvePolicy, bound_raw
from oncall.domain.errors import RateLimited
from oncall.domain.escalation import Level, Target, TargetType
from oncall.domain.incidents import Incident, Severity, Source, Status
from oncall.domain.users import Role
from oncall.services.alert_ports import AlertSource
from oncall.services.alerts import AlertRules, AlertService
from oncall.services.catalog import CatalogService
from oncall.services.incidents import IncidentService
from tests.support.fakes import (
    Clock,
    FakeAlertStore,
    FakeCatalogStore,
    FakeIncidentStore,
    FakeLifecycle,
    FakePeople,
    user,
)


@dataclass
class World:
    clock: Clock
    store: FakeAlertStore
    incidents: FakeIncidentStore
    service_id: str
    #: the service's integration key
    key: str
    make: Any

    def alerts(self, **rules: Any) -> AlertService:
        result: AlertService = self.make(AlertRules(**rules))
        return result

    def alert(self, key: str | None, action: AlertAction = AlertAction.TRIGGER, **more: Any) -> Alert:
        fields: dict[str, Any] = {"severity": Severity.HIGH, "summary": f"{key or 'keyless'} firing", **more}
        return Alert(
            source=Source.ALERTMANAGER,
            action=action,
            service_id=self.service_id,
            raw=bound_raw({"key": key, "action": action.value}),
            dedup_key=key,
            details={"labels": {"alertname": "HighErrorRate"}},
            **fields,
        )

    def incident(self, incident_id: str | None) -> Incident:
        assert incident_id is not None
        return self.incidents.incidents[incident_id]


@pytest.fixture
def w(clock: Clock) -> World:
    store = FakeAlertStore()
    incident_store, catalog_store, lifecycle = FakeIncidentStore(alerts=store), FakeCatalogStore(), FakeLifecycle()
    admin = user("admin", role=Role.ADMIN)
    people = FakePeople(admin)
    catalog = CatalogService(catalog_store, people, clock)
    policy = catalog.create_policy(admin, name="primary", levels=[Level((Target(TargetType.USER, "admin"),), 300)])
    service, key = catalog.create_service(admin, name="payments", escalation_policy_id=policy.id)
    incidents = IncidentService(incident_store, catalog_store, people, lifecycle, clock)
    ids = itertools.count(1)

    def make(rules: AlertRules) -> AlertService:
        # the real normalisers: pure, so the use case is tested from the payloads the sources send
        sources: dict[str, AlertSource] = {
            pagerduty.NAME: pagerduty.PagerDutySource(),
            custom.SOURCE: custom.CustomEventSource(),
        }
        return AlertService(store, incidents, catalog, rules, clock, lambda: f"inc{next(ids)}", sources)

    return World(clock, store, incident_store, service.id, key, make)


def test_the_same_key_again_joins_the_open_incident_without_a_new_page(w: World) -> None:
    alerts = w.alerts()

    first = alerts.apply(w.alert("k1"))
    w.clock.advance(30)
    again = alerts.apply(w.alert("k1", summary="k1 still firing"))

    assert (first.result, again.result, again.incident_id) == ("created", "attached", first.incident_id)
    incident = w.incident(first.incident_id)
    assert (incident.alert_count, incident.last_alert_at) == (2, w.clock())
    assert [e.detail_type for e in w.incidents.events] == ["incident.triggered"]
    assert [e.text for e in w.incidents.all_entries(incident.id, "alert")] == ["k1 firing", "k1 still firing"]


def test_a_group_resolves_with_its_last_open_key(w: World) -> None:
    alerts = w.alerts()
    a = alerts.apply(w.alert("a", group_key="g"))
    b = alerts.apply(w.alert("b", group_key="g"))

    released = alerts.apply(w.alert("a", AlertAction.RESOLVE))
    assert w.incident(a.incident_id).status is Status.TRIGGERED
    resolved = alerts.apply(w.alert("b", AlertAction.RESOLVE))
    twice = alerts.apply(w.alert("b", AlertAction.RESOLVE))

    assert b.incident_id == a.incident_id
    assert (released.result, released.reason) == ("released", "1 alerts still open")
    assert resolved.result == "resolved"
    assert (twice.result, twice.reason) == ("dropped", "already resolved")
    assert w.incident(a.incident_id).status is Status.RESOLVED
    assert w.store.claims[(w.service_id, "k:g")].open_keys == set()


def test_under_resolve_first_one_resolve_ends_the_incident(w: World) -> None:
    alerts = w.alerts(resolve_policy=ResolvePolicy.FIRST)
    a = alerts.apply(w.alert("a", group_key="g"))
    alerts.apply(w.alert("b", group_key="g"))

    assert alerts.apply(w.alert("a", AlertAction.RESOLVE)).result == "resolved"

    assert w.incident(a.incident_id).status is Status.RESOLVED


def test_keyless_alerts_of_one_severity_correlate_inside_the_window_only(w: World) -> None:
    alerts = w.alerts()
    first = alerts.apply(w.alert(None))
    w.clock.advance(299)
    inside = alerts.apply(w.alert(None))
    other = alerts.apply(w.alert(None, severity=Severity.LOW))
    w.clock.advance(1)
    after = alerts.apply(w.alert(None))

    assert inside.incident_id == first.incident_id
    assert len({first.incident_id, other.incident_id, after.incident_id}) == 3
    assert w.incident(first.incident_id).alert_count == 2


def test_a_key_whose_incident_was_resolved_opens_a_new_incident_and_moves_the_key(w: World) -> None:
    alerts = w.alerts()
    old = alerts.apply(w.alert("k1"))
    alerts.apply(w.alert("k1", AlertAction.RESOLVE))

    new = alerts.apply(w.alert("k1"))

    assert new.result == "created" and new.incident_id != old.incident_id
    assert w.incident(old.incident_id).alert_count == 1
    ref = w.store.key(w.service_id, "k1")
    assert ref is not None and ref.incident_id == new.incident_id
    assert alerts.apply(w.alert("k1", AlertAction.ACKNOWLEDGE)).incident_id == new.incident_id


def test_acknowledge_by_key_and_what_is_dropped(w: World) -> None:
    alerts = w.alerts()
    opened = alerts.apply(w.alert("k1"))

    acked = alerts.apply(w.alert("k1", AlertAction.ACKNOWLEDGE))
    again = alerts.apply(w.alert("k1", AlertAction.ACKNOWLEDGE))
    joined = alerts.apply(w.alert("k1"))  # an acknowledged incident is still open

    assert acked.result == "acknowledged"
    assert (again.result, again.reason) == ("dropped", "not triggered")
    assert joined.incident_id == opened.incident_id
    assert w.incident(opened.incident_id).status is Status.ACKNOWLEDGED
    assert alerts.apply(w.alert("nope", AlertAction.RESOLVE)).reason == "unknown dedup key"
    assert alerts.apply(w.alert(None, AlertAction.RESOLVE)).reason == "no dedup key"


def test_two_identical_alerts_racing_open_one_incident(w: World) -> None:
    """Both read no claim; the second's conditional claim loses, and it reads again and joins the first's."""
    alerts, rival = w.alerts(), w.alerts()
    read = w.store.claim
    raced: list[Any] = []

    def stale_read(service_id: str, group: str) -> Any:
        seen = read(service_id, group)
        if not raced:
            raced.append(None)
            raced[0] = rival.apply(w.alert("k1"))  # writes between this read and this write
        return seen

    w.store.claim = stale_read  # type: ignore[method-assign]

    mine = alerts.apply(w.alert("k1"))

    assert (raced[0].result, mine.result) == ("created", "attached")
    assert mine.incident_id == raced[0].incident_id
    assert len(w.incidents.incidents) == 1
    assert w.incident(mine.incident_id).alert_count == 2


def test_a_service_past_its_minute_rate_is_refused_until_the_next_minute(w: World) -> None:
    alerts = w.alerts(rate_per_minute=3)
    w.clock.now = w.clock.now.replace(second=50)

    alerts.admit(w.service_id, 2)
    with pytest.raises(RateLimited) as refused:
        alerts.admit(w.service_id, 2)
    alerts.admit(w.service_id, 1)

    assert refused.value.retry_after == 10
    w.clock.advance(10)
    alerts.admit(w.service_id, 3)
    assert sorted(w.store.windows.values()) == [3, 3]


EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def pd_trigger(key: str) -> dict[str, Any]:
    body: dict[str, Any] = sample("pagerduty-client-7.2-trigger.json")["body"]
    return {**body, "routing_key": key}


def custom_event(key: str, **detail: Any) -> dict[str, Any]:
    event: dict[str, Any] = sample("oncall-alerts-custom-event.json")
    event["detail"] = {**event["detail"], "integration_key": key, **detail}
    return event


def test_a_payload_becomes_an_incident_through_the_one_intake_use_case(w: World) -> None:
    alerts = w.alerts()

    receipt = alerts.receive(pagerduty.NAME, pd_trigger(w.key))
    again = alerts.receive(pagerduty.NAME, pd_trigger(w.key))

    [created] = receipt.outcomes
    assert (receipt.status, created.result, created.dedup_key) == ("processed", "created", "payments-5xx")
    assert again.outcomes[0].result == "attached"
    incident = w.incident(created.incident_id)
    assert (incident.title, incident.source, incident.alert_count) == (
        "Payment API 5xx above 5%",
        Source.PAGERDUTY_EVENTS,
        2,
    )


def test_an_http_delivery_that_cannot_be_used_is_refused_and_writes_nothing(w: World) -> None:
    alerts = w.alerts(rate_per_minute=1)

    with pytest.raises(InvalidAlert) as unknown:
        alerts.receive(pagerduty.NAME, pd_trigger("0" * 32))
    with pytest.raises(InvalidAlert):
        alerts.receive("nagios", {})
    alerts.receive(pagerduty.NAME, pd_trigger(w.key))
    with pytest.raises(RateLimited):
        alerts.receive(pagerduty.NAME, pd_trigger(w.key))

    assert unknown.value.errors == ["Invalid routing key"]
    assert len(w.incidents.incidents) == 1
    assert w.incident("inc1").alert_count == 1
    assert w.store.parked == []


def test_a_bus_event_that_cannot_be_used_is_parked_and_one_over_the_rate_dropped(w: World) -> None:
    alerts = w.alerts(rate_per_minute=1)

    unknown = alerts.receive(custom.SOURCE, custom_event("0" * 32), event_id="e1")
    first = alerts.receive(custom.SOURCE, custom_event(w.key), event_id="e2")
    flood = alerts.receive(custom.SOURCE, custom_event(w.key, dedup_key="other"), event_id="e3")

    assert unknown.status == "parked"
    [(event_id, reason, event)] = w.store.parked
    assert (event_id, event["detail"]["summary"]) == ("e1", "Disk 95% full on db-1")
    assert reason == "; ".join(unknown.errors)
    assert first.outcomes[0].result == "created"
    assert (flood.status, flood.details["limit_per_minute"]) == ("rate_limited", 1)
    assert len(w.incidents.incidents) == 1
