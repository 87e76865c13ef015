"""``GET /metrics`` read back by Prometheus's own parser (``prometheus_client``), against what is stored: the all-time
counters equal the incidents' own counts after every version's event was delivered twice and out of order, the
histograms are cumulative and agree with the durations, the gauges with services, schedules and who is on call.
Who may scrape: the metrics token, or a signed-in admin; no token is a 401, a person who is not an admin a 403."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from oncall.domain.incidents import OPEN
from oncall.domain.metrics import DURATION_BUCKETS, PROMETHEUS
from oncall.domain.users import Role
from tests.functional.test_stats import START, history
from tests.support.identity import FakeClock, login_as
from tests.support.incidents import ok
from tests.support.lambdas import call_api, call_as

TOKEN = "scrape-token-for-tests-0123456789"


@pytest.fixture
def clock_start() -> datetime:
    return START + timedelta(days=4)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch, aws: dict[str, str]) -> str:
    # read at the first monitoring request (``wiring.core.metrics_token``), which comes after this
    monkeypatch.setenv("ONCALL_METRICS_TOKEN", TOKEN)
    return TOKEN


def scrape(who: str | None = TOKEN) -> dict[str, Any]:
    """Families by name, parsed by prometheus_client; each family's samples as {(name, labels...): value}."""
    headers = {"authorization": f"Bearer {who}"} if who else {}
    got = call_api("GET", "/metrics", headers=headers)
    assert got.status == 200, got.raw
    assert got.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    return {f.name: f for f in text_string_to_metric_families(got.raw.decode())}


def samples(family: Any, name: str | None = None) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if name is None or s.name == name}


def test_counters_and_histograms_equal_the_incidents_after_duplicated_out_of_order_events(
    clock: FakeClock, token: str
) -> None:
    from oncall import wiring

    maker = login_as(Role.ADMIN)
    teams = {name: ok(call_as(maker, "POST", "/teams", {"name": f"Team {name}"}), 201)["id"] for name in "AB"}
    rng = random.Random(7)
    histories = [history(rng, n, teams) for n in range(40)]
    for h in histories:  # alerts that joined: the newest version carries the count
        h[-1] = replace(h[-1], alert_count=rng.randrange(1, 5))
    deliveries = [v.snapshot() for h in histories for v in h] * 2
    rng.shuffle(deliveries)
    stats = wiring.incidents.stats_service()
    for snapshot in deliveries:
        stats.record(snapshot)
    final = [h[-1] for h in histories]

    families = scrape(token)
    # every declared family is there, typed as declared (prometheus_client strips _total from counter names)
    declared = {m.name.removesuffix("_total"): m for m in PROMETHEUS}
    assert set(declared) <= set(families)
    for name, spec in declared.items():
        assert families[name].type == ("gauge" if spec.kind == "info" else spec.kind), name

    def key(i: Any) -> tuple[tuple[str, str], ...]:
        return tuple(
            sorted(
                {"team_id": i.team_id or "default", "service_id": i.service_id, "severity": i.severity.value}.items()
            )
        )

    expect = {
        "oncall_incidents_opened": Counter(key(i) for i in final),
        "oncall_incidents_acknowledged": Counter(key(i) for i in final if i.acknowledged_at is not None),
        "oncall_incidents_resolved": Counter(key(i) for i in final if i.resolved_at is not None),
        "oncall_incidents_escalated": Counter(key(i) for i in final if i.escalation_level > 1),
        "oncall_incidents_open": Counter(key(i) for i in final if i.status in OPEN),
        "oncall_alerts_received": Counter(dict.fromkeys(map(key, final), 0)),
        "oncall_alerts_deduplicated": Counter(dict.fromkeys(map(key, final), 0)),
    }
    for i in final:
        expect["oncall_alerts_received"][key(i)] += i.alert_count
        expect["oncall_alerts_deduplicated"][key(i)] += max(0, i.alert_count - 1)
    for name, counts in expect.items():
        suffix = "" if name == "oncall_incidents_open" else "_total"
        got = {k: v for k, v in samples(families[name], name + suffix).items() if v}
        assert got == {k: float(v) for k, v in counts.items() if v}, name

    # MTTR histogram: cumulative buckets, +Inf = count, sum = the durations' sum, per series
    resolved = [i for i in final if i.resolved_at is not None]
    family = families["oncall_time_to_resolve_seconds"]
    buckets = samples(family, "oncall_time_to_resolve_seconds_bucket")
    sums = samples(family, "oncall_time_to_resolve_seconds_sum")
    for series in {key(i) for i in resolved}:
        mine = [int((i.resolved_at - i.created_at).total_seconds()) for i in resolved if key(i) == series]
        assert sums[series] == sum(mine)
        for bound in (*DURATION_BUCKETS, float("inf")):
            le = "+Inf" if bound == float("inf") else str(bound)
            got_count = buckets[tuple(sorted((*series, ("le", le))))]
            assert got_count == sum(1 for d in mine if d <= bound), (series, le)


def test_gauges_follow_services_schedules_and_who_is_on_call(clock: FakeClock, token: str) -> None:
    from tests.support.incidents import make_policy, make_service, user_level

    admin = login_as(Role.ADMIN)
    person = login_as(Role.RESPONDER).user
    policy = make_policy(admin.headers, [user_level(person.id, 60)])
    service = make_service(admin.headers, policy["id"], name="Checkout")
    covered = ok(call_as(admin, "POST", "/schedules", {"name": "Primary", "timezone": "UTC"}), 201)
    empty = ok(call_as(admin, "POST", "/schedules", {"name": "Nights", "timezone": "UTC"}), 201)
    now = clock()
    shift = {
        "user_id": person.id,
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=3)).isoformat(),
    }
    ok(call_as(admin, "POST", f"/schedules/{covered['id']}/shifts", shift), 201)

    families = scrape(token)
    on_call = samples(families["oncall_on_call_people"])
    assert on_call == {(("schedule_id", covered["id"]),): 1.0, (("schedule_id", empty["id"]),): 0.0}
    names = {dict(k)["schedule_id"]: dict(k)["name"] for k in samples(families["oncall_schedule_info"])}
    assert names == {covered["id"]: "Primary", empty["id"]: "Nights"}
    services = {dict(k)["service_id"]: dict(k) for k in samples(families["oncall_service_info"])}
    assert services[service["id"]]["name"] == "Checkout"

    clock.advance(4 * 3600)  # the shift is over: nobody on call on either
    assert set(samples(scrape(token)["oncall_on_call_people"]).values()) == {0.0}


def test_who_may_scrape(clock: FakeClock, token: str) -> None:
    assert call_api("GET", "/metrics").status == 401
    wrong = call_api("GET", "/metrics", headers={"authorization": "Bearer not-the-token"})
    assert wrong.status == 401 and "Traceback" not in wrong.raw.decode()
    admin = login_as(Role.ADMIN)
    assert call_as(admin, "GET", "/metrics").status == 200
    responder = login_as(Role.RESPONDER)
    assert call_as(responder, "GET", "/metrics").status == 403
    # the metrics token opens the monitoring routes only
    assert call_api("GET", "/incidents", headers={"authorization": f"Bearer {token}"}).status == 401


def test_suppressed_alerts_count_by_reason(clock: FakeClock, token: str) -> None:
    from tests.support.alerts import pd_body
    from tests.support.incidents import make_policy, make_service, user_level

    admin = login_as(Role.ADMIN)
    person = login_as(Role.RESPONDER).user
    service = make_service(admin.headers, make_policy(admin.headers, [user_level(person.id, 60)])["id"], name="db")
    now = clock()
    window = {
        "start": (now - timedelta(minutes=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "reason": "database upgrade",
    }
    ok(call_as(admin, "POST", f"/services/{service['id']}/maintenance-windows", window), 201)
    for n in range(3):
        sent = call_api(
            "POST", "/v2/enqueue", body=json.dumps(pd_body("trigger", service["integration_key"], dedup_key=f"m{n}"))
        )
        assert sent.status == 202, sent.raw
    got = samples(scrape(token)["oncall_alerts_suppressed"], "oncall_alerts_suppressed_total")
    assert got == {(("reason", "maintenance"), ("service_id", service["id"]), ("team_id", "default")): 3.0}
