"""A storm of distinct new alerts at once, past the service's rate of new incidents: real threads against moto with
the emulator's DynamoDB lock shim (as in test_ingest_race), judged on what is stored. The rate counter lets exactly
``rate`` alerts open their own incident, and everything over it lands in ONE storm incident (its claim is a
conditional put like any group's), paged once; nothing is refused or lost, and every resolve is applied."""

from __future__ import annotations

from collections import Counter

import pytest

from oncall.domain.alerts import AlertAction
from tests.functional.test_ingest_race import alert, race, service_id
from tests.support.alerts import incident_metas, items
from tests.support.identity import FakeClock

THREADS = 60
RATE = 10


def test_distinct_new_alerts_racing_past_the_rate_open_rate_incidents_and_one_storm_incident(
    locked_aws: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_ALERTS_RATE_PER_MINUTE", str(RATE))
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=FakeClock())  # one minute window for the whole race, whenever it runs
    svc = service_id()
    service = wiring.alerts.alert_service()

    results = race([lambda i=i: service.apply(alert(svc, f"host-{i}")) for i in range(THREADS)])

    assert results == Counter({"created": RATE, "coalesced": THREADS - RATE}), results
    metas = incident_metas()
    storms = [m for m in metas if m["title"]["S"].startswith("Alert storm")]
    assert len(metas) == RATE + 1 and len(storms) == 1, "one storm incident, however many raced to open it"
    [claim] = [c for c in items("alerts", "GRP#") if c["incident_id"]["S"] == storms[0]["id"]["S"]]
    assert len(claim["open_keys"]["SS"]) == THREADS - RATE, "every coalesced key is tracked"
    triggered = [e for e in items("outbox") if e["detail_type"]["S"] == "incident.triggered"]
    assert len(triggered) == RATE + 1

    resolved = race([lambda i=i: service.apply(alert(svc, f"host-{i}", AlertAction.RESOLVE)) for i in range(THREADS)])
    assert resolved == Counter({"resolved": RATE + 1, "released": THREADS - RATE - 1}), resolved
    assert {m["incident_status"]["S"] for m in incident_metas()} == {"resolved"}
    get_settings.cache_clear()
