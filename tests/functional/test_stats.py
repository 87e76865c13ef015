"""Statistics rollups against the exact computation: random incident histories, every version's event delivered twice
and in random order; the cells then answer what the incidents themselves answer (``tests/support/analytics_oracle.py``,
the exact computation the API made before), for whole windows and for windows whose edges fall inside a day."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncall.domain.incidents import Incident, Severity, Source, Status
from oncall.domain.users import Role
from tests.support.analytics_oracle import IncidentAnalytics, mttr_distribution, summarise, trends
from tests.support.identity import FakeClock, login_as, make_user
from tests.support.incidents import ok
from tests.support.lambdas import call_as

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
#: service → team (A and B are made in the test; default is the team of what was stored before teams)
SERVICES = {"svc-a": "A", "svc-b": "A", "svc-c": "B", "svc-d": "default"}


@pytest.fixture
def clock_start() -> datetime:
    return START + timedelta(days=4)


def history(rng: random.Random, n: int, teams: dict[str, str]) -> list[Incident]:
    """Every version of incident ``n``: opened, perhaps re-graded, acknowledged (and un-acknowledged), escalated,
    resolved, closed; each change one version later."""
    service = rng.choice(sorted(SERVICES))
    created = START + timedelta(seconds=rng.randrange(3 * 86400))
    incident = Incident(
        id=f"inc-{n:05d}",
        title="t",
        service_id=service,
        severity=rng.choice(list(Severity)),
        source=Source.API,
        status=Status.TRIGGERED,
        created_at=created,
        updated_at=created,
        team_id=None if SERVICES[service] == "default" else teams[SERVICES[service]],
    )
    versions = [incident]
    at = created

    def step(**changes: Any) -> None:
        nonlocal incident
        incident = replace(incident, version=incident.version + 1, **changes)
        versions.append(incident)

    if rng.random() < 0.2:
        step(severity=rng.choice(list(Severity)))
    if rng.random() < 0.3:
        step(escalation_level=2)
    if rng.random() < 0.75:
        at += timedelta(seconds=rng.choice([5, 30, 60, 61, 300, 899, 3600, rng.randrange(1, 7200)]))
        step(status=Status.ACKNOWLEDGED, acknowledged_at=at)
        if rng.random() < 0.15:
            step(status=Status.TRIGGERED)
    if rng.random() < 0.7:
        at += timedelta(seconds=rng.randrange(1, 30 * 3600))
        step(status=Status.RESOLVED, resolved_at=at)
        if rng.random() < 0.5:
            step(status=Status.CLOSED, closed_at=at + timedelta(hours=1))
    return versions


def test_rollups_equal_the_exact_computation_after_duplicated_out_of_order_events(clock: FakeClock) -> None:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    maker = login_as(Role.ADMIN)
    teams = {name: ok(call_as(maker, "POST", "/teams", {"name": f"Team {name}"}), 201)["id"] for name in "AB"}
    rng = random.Random(2026)
    histories = [history(rng, n, teams) for n in range(300)]
    events = [v.snapshot() for h in histories for v in h]
    assert len(events) >= 1000
    deliveries = events * 2
    rng.shuffle(deliveries)
    stats = wiring.incidents.stats_service()
    outcomes = [stats.record(snapshot) for snapshot in deliveries]
    assert outcomes.count("applied") >= len(histories)  # each incident's newest version at least

    final = [h[-1] for h in histories]
    for start, end in [
        (START, START + timedelta(days=4)),  # whole days: day cells
        (START + timedelta(hours=5), START + timedelta(days=2, hours=17)),  # hour cells at both edges
        (START + timedelta(days=1, hours=3), START + timedelta(days=1, hours=9)),  # within one day
    ]:
        inside = [i for i in final if start <= i.created_at < end]
        got = stats.summary(admin, start, end)
        expected = summarise(inside)
        assert {k: got[k] for k in expected} == expected, (start, end)
        assert got["escalated"] == sum(1 for i in inside if i.escalation_level > 1)
        assert stats.mttr_distribution(admin, start, end)["items"] == mttr_distribution(inside)

        by_service = {g["service"]: g for g in stats.summary(admin, start, end, by="service")["groups"]}
        for service in SERVICES:
            mine = [i for i in inside if i.service_id == service]
            if mine:
                assert {k: by_service[service][k] for k in expected} == summarise(mine)

    # a member of team A sees team A's incidents only
    member = make_user(Role.RESPONDER, teams={teams["A"]: "responder"})
    window = (START, START + timedelta(days=4))
    theirs = [i for i in final if i.team_id == teams["A"]]
    got = stats.summary(member, *window)
    assert {k: got[k] for k in ("count", "by_status", "mtta", "mttr")} == {
        k: summarise(theirs)[k] for k in ("count", "by_status", "mtta", "mttr")
    }

    # trends: per day and per six hours, counts and means as computed from the incidents
    now = START + timedelta(days=3, hours=23, minutes=30)
    for span, width in ((timedelta(days=4), timedelta(days=1)), (timedelta(days=2), timedelta(hours=6))):
        got_trends = stats.trends(admin, now, span, width)
        first = datetime.fromisoformat(got_trends["from"].replace("Z", "+00:00"))
        last = datetime.fromisoformat(got_trends["to"].replace("Z", "+00:00"))
        exact = trends(final, first, last, int(width.total_seconds()))
        assert [
            {k: item[k] for k in ("start", "count", "mtta_mean_seconds", "mttr_mean_seconds")}
            for item in got_trends["items"]
        ] == exact


def test_a_malformed_or_foreign_event_is_skipped_not_retried(clock: FakeClock) -> None:
    from oncall import wiring

    stats = wiring.incidents.stats_service()
    assert stats.on_event({"detail-type": "shift.created", "detail": {}}) == "ignored"
    assert stats.on_event({"detail-type": "incident.triggered", "detail": {"id": "x"}}) == "skipped"


def test_the_backfill_counts_what_was_stored_before_and_a_rerun_counts_nothing_twice(clock: FakeClock) -> None:
    import boto3

    from infra.stats_backfill import backfill
    from oncall import wiring
    from oncall.settings import get_settings
    from tests.support.incidents import make_policy, make_service, user_level

    admin = login_as(Role.ADMIN)
    policy = make_policy(admin.headers, [user_level(admin.user.id, 60)])
    service = make_service(admin.headers, policy["id"])
    for n in range(6):
        body = {"title": f"Incident number {n}", "service_id": service["id"], "severity": "high"}
        made = ok(call_as(admin, "POST", "/incidents", body), 201)
        clock.advance(30 + n)
        if n % 2:
            ok(call_as(admin, "POST", f"/incidents/{made['id']}/acknowledge"))
        if n % 3 == 0:
            ok(call_as(admin, "POST", f"/incidents/{made['id']}/resolve"))
    settings = get_settings()
    client = boto3.client("dynamodb", region_name="us-east-1")
    since, until = clock.now - timedelta(days=1), clock.now + timedelta(minutes=1)
    first = backfill(settings.table("incidents"), settings.table("stats"), since, until, client)
    again = backfill(settings.table("incidents"), settings.table("stats"), since, until, client)
    assert first == {"applied": 6, "stale": 0} and again == {"applied": 0, "stale": 6}

    stats = wiring.incidents.stats_service()
    window = (clock.now - timedelta(hours=2), clock.now + timedelta(hours=1))
    got = stats.summary(admin.user, *window)
    expected = IncidentAnalytics(wiring.incidents.incident_service()).summary(admin.user, *window)
    assert {k: got[k] for k in expected} == expected and got["count"] == 6
