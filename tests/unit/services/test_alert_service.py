"""Alert ingestion over fakes of its ports, with the real incident and catalog services behind it: dedup onto the
open incident, correlation of keyless alerts inside the window, group claims released key by key under each resolve
policy, a claim of a closed incident taken over, two identical alerts racing, the per-service rate of new incidents
(over it: the storm incident), a big group joining at once, contention answered "retry", and the one intake use
case from a source's payload to an incident (or a refusal, or a parked event), judged on the stored incidents, their
timelines, the claims and what was parked."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from oncall.adapters.alert_sources import alertmanager, custom, pagerduty
from oncall.domain.alerts import Alert, AlertAction, InvalidAlert, ResolvePolicy, bound_raw
from oncall.domain.errors import RateLimited
from oncall.domain.escalation import Level, Target, TargetType
from oncall.domain.incidents import Incident, Severity, Source, Status
from oncall.domain.users import Role
from oncall.services.alert_ports import AlertSource, Delivery
from oncall.services.alerts import AlertRules, AlertService
from oncall.services.catalog import CatalogService
from oncall.services.incident_ports import GuardFailed
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
            alertmanager.NAME: alertmanager.AlertmanagerSource(),
            pagerduty.NAME: pagerduty.PagerDutySource(),
            custom.SOURCE: custom.CustomEventSource(),
        }
        return AlertService(
            store, incidents, catalog, rules, clock, lambda: f"inc{next(ids)}", sources, pause=lambda _: None
        )

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
    # a repeat is counted; its timeline line is sampled (one in ALERT_LINE_EVERY repeats), as the adapter does
    assert [e.text for e in w.incidents.all_entries(incident.id, "alert")] == ["k1 firing"]


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


class CapacityRefused(Exception):
    """What the store raises when DynamoDB still refuses a write for capacity: the API answers 503."""


@pytest.mark.parametrize("size", [1, 3])
def test_a_resolve_whose_incident_move_failed_after_its_key_left_resolves_when_sent_again(w: World, size: int) -> None:
    """The key leaves the claim, then the incident's move is refused (a hot key under a storm): the sender hears a
    503 and sends the same resolve again, which must still resolve the incident, not drop it as "already resolved"."""
    alerts = w.alerts()
    opened = [alerts.apply(w.alert(f"k{i}", group_key="g")) for i in range(size)]
    incident_id = opened[0].incident_id
    commit = w.incidents.commit
    refused = []

    def refuse_once(*args: Any) -> None:
        if not refused:
            refused.append(True)
            raise CapacityRefused
        commit(*args)

    w.incidents.commit = refuse_once  # type: ignore[method-assign]
    resolves = [w.alert(f"k{i}", AlertAction.RESOLVE) for i in range(size)]
    assert [alerts.apply(a).result for a in resolves[:-1]] == ["released"] * (size - 1)
    with pytest.raises(CapacityRefused):
        alerts.apply(resolves[-1])
    assert w.incident(incident_id).status is Status.TRIGGERED
    assert w.store.claims[(w.service_id, "k:g")].open_keys == set(), "the keys had left the claim"

    again = [alerts.apply(a) for a in resolves]  # the sender's retry of the whole delivery

    assert [o.result for o in again] == ["resolved"] + ["dropped"] * (size - 1)
    assert w.incident(incident_id).status is Status.RESOLVED
    assert alerts.apply(resolves[-1]).reason == "already resolved", "a later duplicate is still only dropped"
    assert [e.detail_type for e in w.incidents.events].count("incident.resolved") == 1


def test_a_group_delivery_whose_resolve_was_refused_resolves_when_alertmanager_sends_it_again(w: World) -> None:
    alerts = w.alerts()
    alerts.receive(alertmanager.NAME, am_delivery(5), w.key)
    [incident] = w.incidents.incidents.values()
    commit = w.incidents.commit
    refused = []

    def refuse_once(*args: Any) -> None:
        if not refused:
            refused.append(True)
            raise CapacityRefused
        commit(*args)

    w.incidents.commit = refuse_once  # type: ignore[method-assign]
    ending = am_delivery(5, status="resolved")
    with pytest.raises(CapacityRefused):
        alerts.receive(alertmanager.NAME, ending, w.key)
    assert w.incident(incident.id).status is Status.TRIGGERED

    again = alerts.receive(alertmanager.NAME, ending, w.key)

    assert [o.result for o in again.outcomes] == ["dropped"] * 4 + ["resolved"]
    assert w.incident(incident.id).status is Status.RESOLVED


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


def test_past_its_new_incident_rate_a_service_coalesces_into_one_storm_incident_until_the_next_minute(
    w: World,
) -> None:
    alerts = w.alerts(rate_per_minute=2)
    w.clock.now = w.clock.now.replace(second=50)

    opened = [alerts.apply(w.alert(k)) for k in ("k1", "k2")]
    repeats = [alerts.apply(w.alert("k1")) for _ in range(5)]
    over = [alerts.apply(w.alert(k)) for k in ("k3", "k4")]

    assert [o.result for o in opened + repeats] == ["created"] * 2 + ["attached"] * 5, "repeats never count"
    assert [o.result for o in over] == ["coalesced"] * 2
    [storm] = {o.incident_id for o in over}
    assert w.incident(storm).title.startswith("Alert storm") and w.incident(storm).title.endswith("k3 firing")
    assert w.incident(storm).alert_count == 2 and w.store.claims[(w.service_id, "~storm")].open_keys == {"k3", "k4"}
    assert sorted(w.store.windows.values()) == [2]
    w.clock.advance(10)  # the next minute: new keys open their own incidents again, k3 stays in the storm
    assert alerts.apply(w.alert("k5")).result == "created"
    again = alerts.apply(w.alert("k3"))
    assert (again.result, again.incident_id) == ("coalesced", storm)
    assert len(w.incidents.incidents) == 4
    # the storm incident resolves with the last of its alerts, as a group does
    assert [alerts.apply(w.alert(k, AlertAction.RESOLVE)).result for k in ("k3", "k4")] == ["released", "resolved"]
    assert w.incident(storm).status is Status.RESOLVED


def am_delivery(size: int | None = None, first: int = 0, status: str = "firing") -> Delivery:
    """Alertmanager's captured delivery: its two alerts (``first`` of them), or ``size`` alerts of its group."""
    body: dict[str, Any] = sample("alertmanager-0.25-firing.json")["body"]
    if size is not None:
        body["alerts"] = [
            {**body["alerts"][0], "status": status, "fingerprint": f"n{i:04d}", "labels": {"instance": f"n{i}"}}
            for i in range(size)
        ]
    elif first:
        body["alerts"] = body["alerts"][:first]
    return Delivery(body=json.dumps(body), headers={})


def test_a_big_group_in_one_delivery_joins_its_claim_in_one_write_and_counts_once(w: World) -> None:
    alerts = w.alerts(rate_per_minute=1)
    joins: list[int] = []
    join = w.store.join

    def counted(service_id: str, group: str, incident_id: str, keys: Any, live_until: Any) -> bool:
        joins.append(len(keys))
        return join(service_id, group, incident_id, keys, live_until)

    w.store.join = counted  # type: ignore[method-assign]

    receipt = alerts.receive(alertmanager.NAME, am_delivery(150), w.key)
    again = alerts.receive(alertmanager.NAME, am_delivery(150), w.key)

    assert [o.result for o in receipt.outcomes] == ["created"] + ["attached"] * 149
    assert [o.result for o in again.outcomes] == ["attached"] * 150
    assert joins == [149], "the 149 new keys joined the claim in one write; the retry joined nothing"
    [incident] = w.incidents.incidents.values()
    assert incident.alert_count == 300 and sorted(w.store.windows.values()) == [1]
    [claim] = w.store.claims.values()
    assert len(claim.open_keys) == 150


def test_a_group_resolving_in_one_delivery_leaves_its_claim_in_one_write_and_resolves_once(w: World) -> None:
    alerts = w.alerts()
    alerts.receive(alertmanager.NAME, am_delivery(150), w.key)
    writes: list[int] = []
    release_many = w.store.release_many

    def counted(service_id: str, group: str, incident_id: str, keys: Any) -> Any:
        writes.append(len(keys))
        return release_many(service_id, group, incident_id, keys)

    w.store.release_many = counted  # type: ignore[method-assign]
    ending = am_delivery(150, status="resolved")
    body = json.loads(ending.body)
    body["alerts"] = [*body["alerts"][:140], {**body["alerts"][0], "fingerprint": "never-seen"}]
    first = alerts.receive(alertmanager.NAME, Delivery(json.dumps(body), {}), w.key)

    assert writes == [140], "the 140 known keys left the claim in one write"
    assert [o.result for o in first.outcomes] == ["released"] * 140 + ["dropped"]
    assert first.outcomes[-1].reason == "unknown dedup key" and first.outcomes[0].reason == "10 alerts still open"
    [incident] = w.incidents.incidents.values()
    assert incident.status is Status.TRIGGERED
    # the rest resolve (one of them twice in the delivery, as a redelivery may): released once, the incident once
    rest = json.loads(ending.body)["alerts"][140:]
    body["alerts"] = [*body["alerts"][:2], *rest, rest[-1]]
    last = alerts.receive(alertmanager.NAME, Delivery(json.dumps(body), {}), w.key)
    assert [o.result for o in last.outcomes] == ["dropped"] * 2 + ["released"] * 9 + ["resolved", "dropped"]
    assert w.incident(last.outcomes[-2].incident_id).status is Status.RESOLVED
    assert [e.detail_type for e in w.incidents.events].count("incident.resolved") == 1


def test_an_alert_still_contended_after_its_retries_leaves_the_others_applied_and_asks_for_a_retry(
    w: World,
) -> None:
    alerts = w.alerts()
    [opened] = alerts.receive(alertmanager.NAME, am_delivery(first=1), w.key).outcomes
    attach = w.incidents.attach_alert

    def contended(incident_id: str, at: Any, entries: Any, claim: Any = None) -> bool:
        if claim is None:  # the open alert's repeat keeps meeting a concurrent write
            raise GuardFailed("a concurrent write won")
        return attach(incident_id, at, entries, claim)

    w.incidents.attach_alert = contended  # type: ignore[method-assign]
    with pytest.raises(RateLimited) as busy:
        alerts.receive(alertmanager.NAME, am_delivery(), w.key)

    assert (busy.value.retry_after, busy.value.details["contended"], busy.value.details["applied"]) == (1, 1, 1)
    assert w.incident(opened.incident_id).alert_count == 2, "the other alert of the delivery was applied"
    w.incidents.attach_alert = attach  # type: ignore[method-assign]
    retried = alerts.receive(alertmanager.NAME, am_delivery(), w.key)
    assert [o.result for o in retried.outcomes] == ["attached", "attached"]
    assert len(w.incidents.incidents) == 1


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

    assert unknown.value.errors == ["Invalid routing key"]
    assert len(w.incidents.incidents) == 1
    assert w.incident("inc1").alert_count == 1
    assert w.store.parked == [] and sorted(w.store.windows.values()) == [1]


def test_a_bus_event_that_cannot_be_used_is_parked_and_one_over_the_rate_coalesced(w: World) -> None:
    alerts = w.alerts(rate_per_minute=1)

    unknown = alerts.receive(custom.SOURCE, custom_event("0" * 32), event_id="e1")
    first = alerts.receive(custom.SOURCE, custom_event(w.key), event_id="e2")
    flood = alerts.receive(custom.SOURCE, custom_event(w.key, dedup_key="other"), event_id="e3")

    assert unknown.status == "parked"
    [(event_id, reason, event)] = w.store.parked
    assert (event_id, event["detail"]["summary"]) == ("e1", "Disk 95% full on db-1")
    assert reason == "; ".join(unknown.errors)
    assert first.outcomes[0].result == "created"
    [coalesced] = flood.outcomes
    assert (flood.status, coalesced.result) == ("processed", "coalesced")
    assert len(w.incidents.incidents) == 2 and w.store.keys[(w.service_id, "other")].group == "~storm"
