"""Importing a Grafana OnCall account (``python -m infra.migrate grafana-oncall``) against the fake OnCall API on
127.0.0.1 and moto: the plan, ``--apply``, the 14-day comparison with OnCall's final shifts, a re-run that creates
nothing, and a refused token that writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_grafana_oncall import TOKEN, FakeGrafanaOnCall
from tests.support.identity import FakeClock
from tests.support.importing import ops, prepared_hub, run_import

NOW = datetime(2027, 3, 22, 6, 30, tzinfo=UTC)
EXACT = {"SBM7DV7BKFUYU", "SBM7DV7BKFUY2", "SBM7DV7BKFUY3", "SBM7DV7BKFUY5"}
RESTRICTED = {"SBM7DV7BKFUY4", "SBM7DV7BKFUY6"}


@pytest.fixture
def clock_start() -> datetime:
    return NOW


@pytest.fixture
def goc() -> Iterator[FakeGrafanaOnCall]:
    with FakeGrafanaOnCall() as server:
        yield server


@pytest.fixture
def hub(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An admin to act as, one person who already exists (matched by email), and the services the import uses."""
    return prepared_hub(monkeypatch, "GRAFANA_ONCALL_TOKEN", TOKEN)


def run(
    goc: FakeGrafanaOnCall, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> tuple[int, str, Any]:
    return run_import("grafana-oncall", goc.url, tmp_path, capsys, *extra)


def test_a_grafana_oncall_account_is_planned_applied_and_matches_its_final_shifts(
    goc: FakeGrafanaOnCall, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, printed, plan = run(goc, tmp_path, capsys)
    assert status == 0, printed
    assert ops(plan, "team") == {"create": 4}
    assert ops(plan, "user") == {"create": 29, "match": 1}
    assert ops(plan, "schedule") == {"create": 6}
    assert ops(plan, "rotation") == {"create": 7}  # the 8-hour and weekday shifts are left out
    assert ops(plan, "override") == {"create": 1}
    assert ops(plan, "policy") == {"create": 5}
    assert ops(plan, "service") == {"create": 8}
    assert sum(1 for r in goc.requests if r.startswith("/api/v1/users/")) == 3  # next links followed

    status, printed, done = run(goc, tmp_path, capsys, "--apply", "--verify")
    assert status == 0, printed
    assert not [a for a in done["actions"] if a["op"] == "failed"], printed
    checks = {c["schedule"]: c for c in done["verification"]}
    for sid in EXACT:
        assert checks[sid]["hours"] == 14 * 24 and checks[sid]["mismatches"] == 0, checks[sid]
    for sid in RESTRICTED:
        assert checks[sid]["expected_to_differ"] and checks[sid]["mismatches"] > 0, checks[sid]
    assert any("on call 8 h of every 24 h" in n for n in checks["SBM7DV7BKFUY4"]["unexpressed"])
    assert any("only on FR, MO, TH, TU, WE" in n for n in checks["SBM7DV7BKFUY6"]["unexpressed"])

    actor = hub.user_store.get(hub.user_store.id_for_username("importer"))
    ids = {a["source_id"]: a["ours"] for a in done["actions"]}
    platform = hub.catalog.get_policy(ids["FWDL7M6N6I9HE"], actor)
    assert [lv.timeout_seconds for lv in platform.levels] == [900, 1800, 1800]
    assert platform.repeat == 5
    mobile = hub.catalog.get_policy(ids["FWDL7M6N6I9H3"], actor)
    assert [len(lv.targets) for lv in mobile.levels] == [2]
    service = hub.catalog.get_service(ids["CFRPV98RPR1U8"], actor)
    assert service.escalation_policy_id == platform.id

    status, printed, again = run(goc, tmp_path, capsys, "--apply")
    assert status == 0, printed
    assert set(again["summary"]) <= {"match"}, again["summary"]


def test_a_refused_token_writes_nothing(
    goc: FakeGrafanaOnCall, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    goc.fail("/api/v1/integrations/", 403, b'{"detail": "You do not have permission to perform this action."}')
    status, printed, result = run(goc, tmp_path, capsys, "--apply")
    assert status == 3 and "Grafana OnCall refused the token (403" in printed
    assert result is None
    actor = hub.user_store.get(hub.user_store.id_for_username("importer"))
    assert hub.schedules.list_schedules(actor, 10, None)[0] == []


def test_saved_answers_plan_what_the_api_plans(
    goc: FakeGrafanaOnCall, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory of saved answers (``api/v1/<list>.json``, each a list of the API's pages) reads as the API does."""
    export = tmp_path / "export"
    for name in ("users", "teams", "schedules", "on_call_shifts", "escalation_chains", "escalation_policies",
                 "integrations"):  # fmt: skip
        pages, number = [], 1
        while True:
            page = goc.answer(f"/api/v1/{name}/", {"page": [str(number)]})
            assert page is not None
            pages.append(page)
            if page["next"] is None:
                break
            number += 1
        (export / "api" / "v1").mkdir(parents=True, exist_ok=True)
        (export / "api" / "v1" / f"{name}.json").write_text(json.dumps(pages))
    _, _, from_api = run(goc, tmp_path, capsys)
    status, printed, from_files = run(goc, tmp_path, capsys, "--from-dir", str(export))
    assert status == 0, printed
    assert from_files["summary"] == from_api["summary"]
