"""EventBridge target input shaping and the envelope, as pure functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from infra.local.eventbus import (
    _MISSING,
    envelope,
    execution_name,
    json_path,
    render_template,
    scheduled_event,
    target_input,
)

EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "incident.triggered",
    "source": "oncall",
    "account": "123456789012",
    "time": "2026-01-05T09:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {"title": 'DB "primary" down', "count": 2, "tags": ["a", "b"], "odd-key": True},
}


def test_envelope_from_moto_message() -> None:
    moto_message = {**EVENT, "time": 1767603600.0, "ingestion-time": 1767603600.5}
    out = envelope(moto_message)
    assert out == {**EVENT, "time": "2026-01-05T09:00:00Z"}
    assert "ingestion-time" not in out


def test_scheduled_event_shape() -> None:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    event = scheduled_event(event_id="x", rule_arn="arn:r", at=at, account="1", region="us-east-1")
    assert event == {
        "version": "0",
        "id": "x",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "1",
        "time": "2026-01-05T09:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:r"],
        "detail": {},
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", EVENT),
        ("$.detail.count", 2),
        ("$.detail.tags[1]", "b"),
        ("$.detail['odd-key']", True),
        ("$.detail.missing", None),
        ("$.detail.tags[5]", None),
    ],
)
def test_json_path(path: str, expected: object) -> None:
    got = json_path(EVENT, path)
    assert (None if got is _MISSING else got) == expected


def test_input_constant_and_input_path() -> None:
    assert target_input({"Input": '{"fixed": 1}'}, EVENT, rule_name="r", rule_arn="a") == {"fixed": 1}
    assert target_input({"InputPath": "$.detail.tags"}, EVENT, rule_name="r", rule_arn="a") == ["a", "b"]
    assert target_input({}, EVENT, rule_name="r", rule_arn="a") is EVENT


def test_input_transformer_escapes_inside_strings_and_inserts_json_outside() -> None:
    target = {
        "InputTransformer": {
            "InputPathsMap": {"title": "$.detail.title", "tags": "$.detail.tags", "n": "$.detail.count"},
            "InputTemplate": (
                '{"text": "<title> x<n>", "tags": <tags>, "tags_text": "<tags>", "rule": "<aws.events.rule-name>", '
                '"whole": <aws.events.event>}'
            ),
        }
    }
    out = target_input(target, EVENT, rule_name="my-rule", rule_arn="arn:rule")
    assert out == {
        "text": 'DB "primary" down x2',
        "tags": ["a", "b"],
        "tags_text": '["a", "b"]',
        "rule": "my-rule",
        "whole": EVENT,
    }


def test_input_transformer_string_template_gives_a_string() -> None:
    target = {
        "InputTransformer": {"InputPathsMap": {"t": "$.detail.title"}, "InputTemplate": '"Incident: <t>"'},
    }
    assert target_input(target, EVENT, rule_name="r", rule_arn="a") == 'Incident: DB "primary" down'


def test_missing_path_is_null_outside_and_empty_inside_strings() -> None:
    out = render_template('{"a": <x>, "b": "<x>"}', {"x": json_path(EVENT, "$.nope")})
    assert out == {"a": None, "b": ""}


@given(st.text())
def test_any_string_value_keeps_the_template_valid_json(value: str) -> None:
    out = render_template('{"v": "<v>", "raw": <v>}', {"v": value})
    assert out == {"v": value, "raw": value}


def test_execution_name_is_valid_and_bounded() -> None:
    name = execution_name("a rule:with/odd chars" * 5, "0b7c3c4e-1111-2222-3333-444455556666")
    assert len(name) <= 80
    assert all(c.isalnum() or c in "-_" for c in name)
    assert json.dumps(name)
