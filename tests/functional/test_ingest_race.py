"""Alerts racing: real threads against moto with the emulator's DynamoDB lock shim, calling the service the routes
and the alerts function call (handlers must not run concurrently in one process; the runner e2e covers HTTP).

100 identical alerts at once make ONE incident counting all 100 (the claim is a conditional put inside the
incident's transaction; losers attach); 100 distinct keys make 100 incidents; 20 keys of one group resolving at once
resolve their incident exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from oncall.adapters.dynamodb.incident_items import ALERT_LINE_EVERY
from oncall.domain.alerts import Alert, AlertAction, bound_raw
from oncall.domain.escalation import Level, Target, TargetType
from oncall.domain.incidents import Severity, Source
from oncall.domain.users import Role
from tests.support.alerts import incident_metas, items
from tests.support.identity import make_user

THREADS = 100


def alert_counters() -> list[dict[str, Any]]:
    return [i for i in items("incidents") if i["sk"]["S"] == "ALERTS"]


def service_id() -> str:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    responder = make_user(Role.RESPONDER)
    catalog = wiring.incidents.catalog_service()
    policy = catalog.create_policy(admin, name="p", levels=[Level((Target(TargetType.USER, responder.id),), 60)])
    service, _ = catalog.create_service(admin, name="svc", escalation_policy_id=policy.id)
    return service.id


def alert(service: str, key: str | None, action: AlertAction = AlertAction.TRIGGER, group: str | None = None) -> Alert:
    return Alert(
        source=Source.PAGERDUTY_EVENTS,
        action=action,
        service_id=service,
        summary=f"disk full ({key})",
        severity=Severity.CRITICAL,
        raw=bound_raw({"k": key}),
        dedup_key=key,
        group_key=group,
    )


def race(jobs: list[Callable[[], Any]]) -> Counter[str]:
    barrier = threading.Barrier(len(jobs))
    results: Counter[str] = Counter()
    lock = threading.Lock()

    def run(job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            outcome = job().result
        except Exception as exc:  # every failure is counted and asserted on
            outcome = f"error:{type(exc).__name__}"
        with lock:
            results[outcome] += 1

    threads = [threading.Thread(target=run, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(results.values()) == len(jobs)
    return results


def test_100_identical_alerts_at_once_make_one_incident_counting_every_accepted_one(locked_aws: dict[str, str]) -> None:
    from oncall.wiring.alerts import alert_service

    svc = service_id()
    service = alert_service()
    results = race([lambda: service.apply(alert(svc, "disk-db-1")) for _ in range(THREADS)])
    assert results == Counter({"created": 1, "attached": THREADS - 1}), results
    [meta] = incident_metas()
    [counter] = alert_counters()
    assert int(counter["alert_count"]["N"]) == THREADS
    assert int(meta["version"]["N"]) == 1, "a repeat counts on the counter item, never on the indexed incident"
    timeline = [i for i in items("incidents") if i["sk"]["S"].startswith("TL#")]
    # the first alert's line, then one line each time the count reaches a multiple of ALERT_LINE_EVERY
    assert sum(1 for i in timeline if i["kind"]["S"] == "alert") == 1 + THREADS // ALERT_LINE_EVERY
    events = [i["detail_type"]["S"] for i in items("outbox")]
    assert events == ["incident.triggered"], "one page-worthy event, not a hundred"
    [claim] = items("alerts", "GRP#")
    assert claim["incident_id"]["S"] == meta["id"]["S"] and claim["open_keys"]["SS"] == ["disk-db-1"]


def test_100_distinct_keys_at_once_make_100_incidents(locked_aws: dict[str, str]) -> None:
    from oncall.wiring.alerts import alert_service

    svc = service_id()
    service = alert_service()
    results = race([lambda i=i: service.apply(alert(svc, f"key-{i}")) for i in range(THREADS)])
    assert results == Counter({"created": THREADS}), results
    metas = incident_metas()
    assert len(metas) == THREADS and {int(c["alert_count"]["N"]) for c in alert_counters()} == {1}
    assert len({m["dedup_key"]["S"] for m in metas}) == THREADS


def test_keys_of_one_group_resolving_at_once_resolve_the_incident_exactly_once(locked_aws: dict[str, str]) -> None:
    from oncall.wiring.alerts import alert_service

    svc = service_id()
    service = alert_service()
    keys = [f"web-{i}" for i in range(20)]
    for k in keys:
        service.apply(alert(svc, k, group="grp"))
    [meta] = incident_metas()
    [counter] = alert_counters()
    assert int(counter["alert_count"]["N"]) == 20
    # every key resolves twice at once (Alertmanager redelivers): 20 releases, one resolve, 20 drops
    jobs = [lambda k=k: service.apply(alert(svc, k, AlertAction.RESOLVE, group="grp")) for k in keys * 2]
    results = race(jobs)
    assert results["resolved"] == 1 and results["released"] == 19 and results["dropped"] == 20, results
    [meta] = incident_metas()
    assert meta["incident_status"]["S"] == "resolved"
    assert [i["detail_type"]["S"] for i in items("outbox")].count("incident.resolved") == 1
