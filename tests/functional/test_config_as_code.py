"""The on-call setup as code (``make export`` / ``make apply FILE=…``): a file applied creates what it describes,
its export applies back as all matches, an edit shows as exactly the changed objects (the dry run's diff) and
applies, and a mistake in the file is named by its place with nothing written."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.migrate import cli
from oncall.domain.users import Role
from tests.support.identity import FakeClock, make_user

NOW = datetime(2027, 3, 22, 6, 30, tzinfo=UTC)
SETUP = """
version: 1
teams:
  - name: Platform
    description: The platform team
    slack_channel: C0PLATFORM0
    members: {ana@acme.example: manager, ben@acme.example: responder, chloe@acme.example: responder}
schedules:
  - name: Platform primary
    timezone: Europe/Berlin
    team: Platform
    rotations:
      - name: Weekly
        participants: [ana@acme.example, ben@acme.example, chloe@acme.example]
        start: 2027-03-01T09:00:00+01:00
        period: weekly
  - name: Platform nights
    timezone: Europe/Berlin
    team: Platform
    rotations:
      - name: Twelve hours
        participants: [dev@acme.example, emre@acme.example]
        start: 2027-03-01T20:00:00+01:00
        period: hours
        hours: 12
policies:
  - name: Platform
    team: Platform
    repeat: 1
    levels:
      - timeout_seconds: 600
        targets: [{schedule: Platform primary}]
      - timeout_seconds: 900
        targets: [{schedule: Platform nights}, {user: ana@acme.example}, {team: Platform}]
services:
  - name: API gateway
    team: Platform
    policy: Platform
    description: the public API
    slack_channel: C0PLATFORM1
"""


@pytest.fixture
def clock_start() -> datetime:
    return NOW


@pytest.fixture
def hub(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Any:
    from infra.migrate.outcome import Hub
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_ROTATION_HORIZON_DAYS", "16")
    get_settings.cache_clear()
    make_user(Role.ADMIN, username="importer")
    for name in ("ana", "ben", "chloe", "dev", "emre"):
        make_user(Role.RESPONDER, username=name, email=f"{name}@acme.example")
    return Hub.from_wiring()


def run(tmp: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, Any]:
    out_file = tmp / f"result-{time.monotonic_ns()}.json"
    status = cli.main([*args, "--as", "importer", "--json", str(out_file)])
    printed = capsys.readouterr()
    return status, printed.out + printed.err, json.loads(out_file.read_text()) if out_file.exists() else None


def changed(result: Any) -> list[tuple[str, str, str]]:
    return [(a["kind"], a["name"], a["op"]) for a in result["actions"] if a["op"] != "match"]


def test_a_file_applies_exports_back_and_an_edit_is_exactly_its_diff(
    hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = tmp_path / "oncall.yaml"
    setup.write_text(SETUP)
    status, printed, created = run(tmp_path, capsys, "config", "--file", str(setup), "--apply")
    assert status == 0, printed
    assert {(k, op) for k, _, op in changed(created)} == {
        ("team", "create"),
        ("schedule", "create"),
        ("rotation", "create"),
        ("policy", "create"),
        ("service", "create"),
        ("membership", "create"),
    }
    assert "/integrations/alertmanager" in printed  # the new service's key and where it goes

    exported = tmp_path / "exported.yaml"
    assert cli.main(["export", "--as", "importer", "--out", str(exported)]) == 0
    text = exported.read_text()
    assert "key_hash" not in text and "integration" not in text
    doc = yaml.safe_load(text)
    assert [s["name"] for s in doc["schedules"]] == ["Platform nights", "Platform primary"]
    status, printed, again = run(tmp_path, capsys, "config", "--file", str(exported), "--apply")
    assert status == 0, printed
    assert changed(again) == []

    # an edit: the weekly order and the first level's timeout; the dry run names exactly those
    primary = next(s for s in doc["schedules"] if s["name"] == "Platform primary")
    primary["rotations"][0]["participants"].reverse()
    doc["policies"][0]["levels"][0]["timeout_seconds"] = 300
    doc["services"][0]["name"] = "Public API"  # renamed, same key: updated, not created
    assert doc["services"][0]["slack_channel"] == "C0PLATFORM1"
    doc["services"][0]["slack_channel"] = "C0PLATFORM2"
    exported.write_text(yaml.safe_dump(doc, sort_keys=False))
    status, printed, plan = run(tmp_path, capsys, "config", "--file", str(exported))
    assert status == 0, printed
    assert changed(plan) == [
        ("rotation", "Weekly", "update"),
        ("policy", "Platform", "update"),
        ("service", "Public API", "update"),
    ]
    status, printed, done = run(tmp_path, capsys, "config", "--file", str(exported), "--apply")
    assert status == 0, printed
    assert changed(done) == changed(plan)
    actor = hub.user_store.get(hub.user_store.id_for_username("importer"))
    policy = hub.catalog.list_policies(actor, 10, None)[0][0]
    assert policy.levels[0].timeout_seconds == 300
    assert [(s.name, s.slack_channel) for s in hub.catalog.list_services(actor, 10, None)[0]] == [
        ("Public API", "C0PLATFORM2")
    ]
    assert [t.slack_channel for t in hub.teams.listed(actor, 10, None)[0] if t.name == "Platform"] == ["C0PLATFORM0"]
    assert changed(run(tmp_path, capsys, "config", "--file", str(exported))[2]) == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("rotations", "period", "fortnightly"), "schedules[0].rotations[0].period: daily, weekly or hours"),
        (("rotations", "start", "next monday"), "schedules[0].rotations[0].start: not an RFC 3339 time"),
        (("team", None, "Nobody"), "schedules[0].team: no team 'Nobody' in this file"),
    ],
)
def test_a_mistake_in_the_file_is_named_and_nothing_is_written(
    hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: tuple[str, str | None, str], message: str
) -> None:
    doc = yaml.safe_load(SETUP)
    where, field, value = edit
    if field is None:
        doc["schedules"][0][where] = value
    else:
        doc["schedules"][0][where][0][field] = value
    setup = tmp_path / "oncall.yaml"
    setup.write_text(yaml.safe_dump(doc))
    status, printed, result = run(tmp_path, capsys, "config", "--file", str(setup), "--apply")
    assert status == 3 and message in printed
    assert result is None
    actor = hub.user_store.get(hub.user_store.id_for_username("importer"))
    assert hub.schedules.list_schedules(actor, 10, None)[0] == []


def test_a_slack_channel_that_is_not_a_channel_id_is_named_and_nothing_is_written(
    hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = yaml.safe_load(SETUP)
    doc["services"][0]["slack_channel"] = "#platform"
    setup = tmp_path / "oncall.yaml"
    setup.write_text(yaml.safe_dump(doc))
    status, printed, result = run(tmp_path, capsys, "config", "--file", str(setup), "--apply")
    assert status == 3 and "services[0].slack_channel: must be a Slack channel id" in printed
    assert result is None
    actor = hub.user_store.get(hub.user_store.id_for_username("importer"))
    assert hub.catalog.list_services(actor, 10, None)[0] == []
