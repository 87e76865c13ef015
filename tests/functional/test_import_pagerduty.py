"""Importing a PagerDuty account (``python -m infra.migrate pagerduty``) against the fake PagerDuty API on
127.0.0.1 and moto: the dry run writes nothing, ``--apply`` stores the account through our services, the 14-day
comparison of who is on call matches wherever the model maps exactly, a re-run creates nothing, a changed layer
updates exactly its rotation, and source failures leave nothing written."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from oncall.domain.users import Role
from tests.support.fake_pagerduty import TOKEN, FakePagerDuty
from tests.support.identity import FakeClock
from tests.support.importing import ops, prepared_hub, run_import

NOW = datetime(2027, 3, 22, 6, 30, tzinfo=UTC)
EXACT = {"PS00001", "PS00002", "PS00003", "PS00005"}
RESTRICTED = {"PS00004", "PS00006"}


@pytest.fixture
def clock_start() -> datetime:
    return NOW


@pytest.fixture
def pd() -> Iterator[FakePagerDuty]:
    with FakePagerDuty() as server:
        yield server


@pytest.fixture
def hub(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An admin to act as, one person who already exists (matched by email), and the services the import uses."""
    return prepared_hub(monkeypatch, "PAGERDUTY_TOKEN", TOKEN)


def run(pd: FakePagerDuty, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, Any]:
    return run_import("pagerduty", pd.url, tmp_path, capsys, *extra)


def stored(hub: Any) -> dict[str, int]:
    actor = hub.user_store.get(hub.user_store.id_for_username("importer"))
    return {
        "users": len(hub.users.list(actor, 100, None)[0]),
        "schedules": len(hub.schedules.list_schedules(actor, 100, None)[0]),
        "policies": len(hub.catalog.list_policies(actor, 100, None)[0]),
        "services": len(hub.catalog.list_services(actor, 100, None)[0]),
    }


def test_the_dry_run_plans_the_whole_account_and_writes_nothing(
    pd: FakePagerDuty, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = stored(hub)
    status, printed, result = run(pd, tmp_path, capsys)

    assert status == 0, printed
    assert stored(hub) == before
    assert "DRY RUN" in printed
    assert ops(result, "team") == {"create": 4}
    assert ops(result, "user") == {"create": 29, "match": 1}
    assert ops(result, "schedule") == {"create": 6}
    # one rotation per visible layer: the restricted layers and none else are left out
    assert ops(result, "rotation") == {"create": 7}
    assert ops(result, "override") == {"create": 1}
    assert ops(result, "policy") == {"create": 5}
    assert ops(result, "service") == {"create": 8}
    ana = next(a for a in result["actions"] if a["kind"] == "user" and a["op"] == "match")
    assert ana["name"] == "ana@acme.example" and "found by email" in ana["reason"]
    # pagination was followed: 30 users in pages of at most 10
    assert sum(1 for r in pd.requests if r.startswith("/users?")) == 3


def test_apply_imports_everything_and_who_is_on_call_matches_for_14_days(
    pd: FakePagerDuty, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    status, printed, result = run(pd, tmp_path, capsys, "--apply", "--verify")
    elapsed = time.monotonic() - started

    assert status == 0, printed
    assert not [a for a in result["actions"] if a["op"] == "failed"], printed
    assert stored(hub) == {"users": 31, "schedules": 6, "policies": 5, "services": 8}
    checks = {c["schedule"]: c for c in result["verification"]}
    for sid in EXACT:
        assert checks[sid]["hours"] == 14 * 24
        assert checks[sid]["mismatches"] == 0, checks[sid]
        assert not checks[sid]["expected_to_differ"]
    for sid in RESTRICTED:
        assert checks[sid]["expected_to_differ"]
        assert checks[sid]["mismatches"] > 0
        assert any("restriction" in note for note in checks[sid]["unexpressed"])
    assert "daily from 09:00 for 9 h" in printed and "weekly from Sat 00:00 for 48 h" in printed
    # a new key per service, with where to paste it, printed once and never in the JSON
    assert printed.count("/integrations/alertmanager") == 8
    assert all(k["key"] == "(printed once in the table)" for k in result["new_integration_keys"])

    actor = hub.user_store.get(hub.user_store.id_for_username("importer"))
    ids = {a["source_id"]: a["ours"] for a in result["actions"]}
    policy = hub.catalog.get_policy(ids["PE00001"], actor)
    assert [lv.timeout_seconds for lv in policy.levels] == [900, 1800, 1800]
    assert policy.repeat == 2
    assert [t.id for t in policy.levels[0].targets] == [ids["PS00001"]]
    assert hub.catalog.get_policy(ids["PE00005"], actor).repeat == 9  # 12 loops in the source, at most 9 here
    created = hub.user_store.get(ids["PU00005"])
    assert created.password_hash is None and created.email == "emre@acme.example"
    assert created.teams == {ids["PT00001"]: "responder"}
    assert hub.user_store.get(ids["PU00030"]).role is Role.VIEWER
    print(f"apply + 14-day verification of the 30-user account: {elapsed:.1f} s")


def test_a_second_apply_creates_nothing_and_a_changed_layer_updates_exactly_its_rotation(
    pd: FakePagerDuty, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(pd, tmp_path, capsys, "--apply")[0] == 0
    counts = stored(hub)

    status, printed, again = run(pd, tmp_path, capsys, "--apply")
    assert status == 0, printed
    assert set(again["summary"]) <= {"match"}, again["summary"]
    assert stored(hub) == counts

    mobile = next(s for s in pd.data["schedules"] if s["id"] == "PS00005")
    mobile["schedule_layers"][0]["users"].reverse()
    status, printed, changed = run(pd, tmp_path, capsys, "--apply", "--verify")
    assert status == 0, printed
    updates = [a for a in changed["actions"] if a["op"] != "match"]
    assert [(a["kind"], a["source_id"]) for a in updates] == [("rotation", "PS00005/PL0051")]
    assert set(updates[0]["changes"]) == {"participants"}
    assert stored(hub) == counts
    # the new order holds from the end of the running turn (06:00-14:00 UTC) on, and the comparison says so
    assert "the new rule holds from 2027-03-22T14:00:00+00:00" in updates[0]["reason"]
    mobile = next(c for c in changed["verification"] if c["schedule"] == "PS00005")
    assert mobile["expected_to_differ"]
    assert 0 < mobile["mismatches"] <= 8
    assert all(m["at"] < "2027-03-22T14:00" for m in mobile["first_mismatches"])
    others = [c for c in changed["verification"] if c["schedule"] in EXACT - {"PS00005"}]
    assert [c["mismatches"] for c in others] == [0, 0, 0]


def test_an_export_directory_plans_what_the_api_plans(
    pd: FakePagerDuty, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    pd.export(export, NOW)
    _, _, from_api = run(pd, tmp_path, capsys)
    status, printed, from_files = run(pd, tmp_path, capsys, "--from-dir", str(export))
    assert status == 0, printed
    assert from_files["summary"] == from_api["summary"]

    (export / "services.json").write_text('[{"services": [{"id": "PSV0001", "name": "API gat')
    status, printed, _ = run(pd, tmp_path, capsys, "--from-dir", str(export))
    assert status == 3 and "services.json is not complete JSON" in printed


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ((401, b'{"error": {"message": "Unauthorized", "code": 2006}}', {}), "PagerDuty refused the token (401"),
        ((429, b'{"error": {"message": "Rate Limit"}}', {"Retry-After": "600"}), "asks to wait 600 s"),
    ],
)
def test_a_refused_source_leaves_nothing_written(
    pd: FakePagerDuty,
    hub: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: tuple[int, bytes, dict[str, str]],
    message: str,
) -> None:
    before = stored(hub)
    status_code, body, headers = fault
    pd.fail("/services", status_code, body, headers)  # the last listing: everything before it was read
    status, printed, result = run(pd, tmp_path, capsys, "--apply")
    assert status == 3
    assert message in printed and "cannot read the source" in printed
    assert result is None
    assert stored(hub) == before
    assert TOKEN not in printed


def test_transient_failures_are_retried_and_the_import_completes(
    pd: FakePagerDuty, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pd.fail("/users", 429, headers={"Retry-After": "1"})
    pd.fail("/schedules/PS00003", 503)
    pd.fail("/escalation_policies", 200, body=b'{"escalation_policies": [{"id": "PE0')  # cut off mid-answer
    status, printed, result = run(pd, tmp_path, capsys, "--apply")
    assert status == 0, printed
    assert ops(result, "service") == {"create": 8}
    assert sum(1 for r in pd.requests if r.startswith("/users?")) == 4


def test_a_run_cut_between_objects_and_their_records_is_finished_by_running_again(
    pd: FakePagerDuty, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import boto3

    from oncall.settings import get_settings

    assert run(pd, tmp_path, capsys, "--apply")[0] == 0
    counts = stored(hub)
    # every record lost, as if each write had been cut short after its object: found again by name and email
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(get_settings().table("catalog"))
    records = table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "IMPORT#pagerduty"})
    assert len(records["Items"]) == 4 + 30 + 6 + 7 + 5 + 8
    for item in records["Items"]:
        table.delete_item(Key={"pk": item["pk"], "sk": item["sk"]})

    status, printed, again = run(pd, tmp_path, capsys, "--apply")
    assert status == 0, printed
    assert set(again["summary"]) <= {"match"}, again["summary"]
    assert stored(hub) == counts
    records = table.query(KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": "IMPORT#pagerduty"})
    assert len(records["Items"]) == 60


def test_a_person_on_two_schedules_at_once_is_refused_by_name_and_the_rest_is_imported(
    pd: FakePagerDuty, hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Ana (Platform primary, weekly) also joins the Mobile rotation: here nobody holds two shifts at once
    mobile = next(s for s in pd.data["schedules"] if s["id"] == "PS00005")
    mobile["schedule_layers"][0]["users"].append({"user": {"id": "PU00001", "type": "user_reference"}})
    status, printed, result = run(pd, tmp_path, capsys, "--apply")
    assert status == 2, printed
    failed = [a for a in result["actions"] if a["op"] == "failed"]
    assert [(a["kind"], a["source_id"]) for a in failed] == [("rotation", "PS00005/PL0051")]
    assert failed[0]["reason"].startswith("shift_overlap:")
    assert stored(hub)["schedules"] == 6 and stored(hub)["services"] == 8
