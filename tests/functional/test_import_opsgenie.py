"""Importing an Opsgenie account (``python -m infra.migrate opsgenie``) against the fake Opsgenie API on 127.0.0.1
and moto: the plan, ``--apply``, the 14-day comparison with Opsgenie's own timeline, a re-run that creates nothing,
and a refused key that writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_opsgenie import KEY, FakeOpsgenie
from tests.support.identity import FakeClock
from tests.support.importing import ops, prepared_hub, run_import

NOW = datetime(2027, 3, 22, 6, 30, tzinfo=UTC)
SCHEDULE = "d875e654-000{}-4f6b-8f0e-00000000000{}".format
EXACT = {SCHEDULE(1, 1), SCHEDULE(3, 3), SCHEDULE(5, 5)}
LOSSY = {SCHEDULE(2, 2), SCHEDULE(4, 4), SCHEDULE(6, 6)}


@pytest.fixture
def clock_start() -> datetime:
    return NOW


@pytest.fixture
def og() -> Iterator[FakeOpsgenie]:
    with FakeOpsgenie() as server:
        yield server


@pytest.fixture
def hub(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An admin to act as, one person who already exists (matched by email), and the services the import uses."""
    return prepared_hub(monkeypatch, "OPSGENIE_API_KEY", KEY)


def run(og: FakeOpsgenie, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, Any]:
    return run_import("opsgenie", og.url, tmp_path, capsys, *extra)


def test_an_opsgenie_account_is_planned_applied_and_matches_opsgenies_timeline(
    og: FakeOpsgenie, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, printed, plan = run(og, tmp_path, capsys)
    assert status == 0, printed
    assert ops(plan, "team") == {"create": 4}
    assert ops(plan, "user") == {"create": 29, "match": 1}
    assert ops(plan, "schedule") == {"create": 6}
    # the restricted rotation and the second of two concurrent ones are left out
    assert ops(plan, "rotation") == {"create": 5}
    assert ops(plan, "policy") == {"create": 5}
    assert sum(1 for r in og.requests if r.startswith("/v2/users?")) == 3  # paging.next followed

    status, printed, done = run(og, tmp_path, capsys, "--apply", "--verify")
    assert status == 0, printed
    assert not [a for a in done["actions"] if a["op"] == "failed"], printed
    checks = {c["schedule"]: c for c in done["verification"]}
    for sid in EXACT:
        assert checks[sid]["hours"] == 14 * 24 and checks[sid]["mismatches"] == 0, checks[sid]
    for sid in LOSSY:
        assert checks[sid]["expected_to_differ"], checks[sid]
    assert any("every day 09:00-18:00" in n for n in checks[SCHEDULE(4, 4)]["unexpressed"])
    assert any("on call together" in n for n in checks[SCHEDULE(2, 2)]["unexpressed"])

    actor = hub.user_store.get(hub.user_store.id_for_username("importer"))
    ids = {a["source_id"]: a["ours"] for a in done["actions"]}
    platform = hub.catalog.get_policy(ids["e-0001"], actor)
    # delays count from the alert in Opsgenie (0, 15, 30 min); ours wait after the previous level
    assert [lv.timeout_seconds for lv in platform.levels] == [900, 900, 600]
    assert platform.repeat == 2
    mobile = hub.catalog.get_policy(ids["e-0003"], actor)
    assert len(mobile.levels) == 1 and len(mobile.levels[0].targets) == 2

    status, printed, again = run(og, tmp_path, capsys, "--apply")
    assert status == 0, printed
    assert set(again["summary"]) <= {"match"}, again["summary"]


def test_a_refused_key_writes_nothing(
    og: FakeOpsgenie, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    og.fail("/v2/escalations", 401, b'{"message": "Could not authenticate", "took": 0.0}')
    status, printed, result = run(og, tmp_path, capsys, "--apply")
    assert status == 3 and "Opsgenie refused the token (401" in printed
    assert result is None
    actor = hub.user_store.get(hub.user_store.id_for_username("importer"))
    assert hub.schedules.list_schedules(actor, 10, None)[0] == []
    assert len(hub.users.list(actor, 100, None)[0]) == 2


def test_a_next_link_to_another_host_is_refused() -> None:
    from infra.migrate.model import SourceError
    from infra.migrate.opsgenie import api_reader

    with FakeOpsgenie() as og:
        og.data["users"] = og.data["users"][:3]
        client = api_reader(KEY, og.url.replace("127.0.0.1", "localhost"))
        with pytest.raises(SourceError, match="another host"):
            client.next_pages("/v2/users", {"limit": 1})


def test_saved_answers_plan_what_the_api_plans(
    og: FakeOpsgenie, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A directory of saved answers (``v2/users.json`` as a list of the API's pages, ``v2/teams/<id>.json``...)."""
    export = tmp_path / "export"

    def save(path: str, answer: Any) -> None:
        file = export / (path.strip("/") + ".json")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(answer))

    pages, offset = [], 0
    while True:
        page = og.answer("/v2/users", {"offset": [str(offset)], "limit": ["10"]})
        assert page is not None
        pages.append(page)
        if "next" not in page["paging"]:
            break
        offset += 10
    save("/v2/users", pages)
    for user in og.data["users"]:
        save(f"/v2/users/{user['id']}/contacts", og.answer(f"/v2/users/{user['id']}/contacts", {}))
    for path in ("/v2/teams", "/v2/schedules", "/v2/escalations"):
        save(path, og.answer(path, {}))
    for team in og.data["teams"]:
        save(f"/v2/teams/{team['id']}", og.answer(f"/v2/teams/{team['id']}", {}))
    for schedule in og.data["schedules"]:
        save(f"/v2/schedules/{schedule['id']}/overrides", og.answer(f"/v2/schedules/{schedule['id']}/overrides", {}))

    _, _, from_api = run(og, tmp_path, capsys)
    status, printed, from_files = run(og, tmp_path, capsys, "--from-dir", str(export))
    assert status == 0, printed
    assert from_files["summary"] == from_api["summary"]
