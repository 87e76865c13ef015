"""The rollups under real concurrency: threads race every version of the same incidents (each delivered twice, in
random order) against the emulator, as Lambda's concurrent stats invocations would; what is stored afterwards is what
the newest version of each incident alone would count. Racing versions of one incident meet the contribution's
version condition in one transaction, so neither is lost and none counts twice."""

from __future__ import annotations

import random
import threading
from datetime import datetime, timedelta

import pytest

from oncall.domain.users import Role
from tests.functional.test_stats import START, history
from tests.support.analytics_oracle import summarise
from tests.support.identity import FakeClock, make_user

THREADS = 8


@pytest.fixture
def clock_start() -> datetime:
    return START + timedelta(days=4)


def test_racing_versions_leave_the_cells_as_the_newest_versions_alone(
    locked_aws: dict[str, str], clock: FakeClock
) -> None:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    rng = random.Random(11)
    # few incidents, many versions each: the races are between versions of the same incident
    histories = [history(rng, n, {"A": "default", "B": "default"}) for n in range(12)]
    deliveries = [v.snapshot() for h in histories for v in h] * 2
    rng.shuffle(deliveries)
    stats = wiring.incidents.stats_service()
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(share: list[dict[str, object]]) -> None:
        barrier.wait()
        for snapshot in share:
            try:
                stats.record(snapshot)
            except BaseException as exc:  # surfaced below: a lost event is a failure
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(deliveries[i::THREADS],)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    final = [h[-1] for h in histories]
    got = stats.summary(admin, START, START + timedelta(days=4))
    expected = summarise(final)
    assert {k: got[k] for k in expected} == expected
    totals = {(r.service, r.severity): r.counters for r in stats.all_time()}
    assert sum(c.get("n", 0) for c in totals.values()) == len(final)
    assert sum(c.get("r_n", 0) for c in totals.values()) == sum(1 for i in final if i.resolved_at is not None)
