"""The API function's contract for every request, before any resource: envelope, guards, docs, idempotency, ETags."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path

import pytest

from tests.support.lambdas import call_api, call_raw

EVENTS = Path(__file__).resolve().parent.parent / "events"


def assert_envelope(result, status: int, code: str) -> dict:
    assert result.status == status, (result.status, result.raw)
    body = result.json
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    assert b"Traceback" not in result.raw
    return body["error"]


def test_health_from_captured_sample(aws):
    event = json.loads((EVENTS / "apigw-http-v2.json").read_text())
    result = call_raw(event)
    assert result.status == 200
    assert result.json == {"status": "ok", "version": "0.1.0"}


def test_unknown_route_is_404_envelope(aws):
    assert_envelope(call_api("GET", "/nope/nothing"), 404, "route_not_found")


def test_wrong_method_is_405_with_allow(aws):
    result = call_api("DELETE", "/health")
    err = assert_envelope(result, 405, "method_not_allowed")
    assert err["details"]["allowed"] == ["GET"]
    assert result.header("Allow") == "GET"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "malformed_json"),
        ('{"a": 1,}', "malformed_json"),
        ("[1, 2, 3]", "body_not_object"),
        ('"text"', "body_not_object"),
        ("null", "body_not_object"),
    ],
)
def test_malformed_bodies_are_400(aws, body, code):
    result = call_api("POST", "/health", body=body, headers={"content-type": "application/json"})
    assert_envelope(result, 400, code)


def test_deeply_nested_json_is_400_not_500(aws):
    body = "[" * 100_000 + "]" * 100_000
    result = call_api("POST", "/anything", body=body, headers={"content-type": "application/json"})
    assert result.status in (400, 413)
    assert b"Traceback" not in result.raw


def test_oversized_body_is_413(aws):
    body = json.dumps({"x": "a" * (300 * 1024)})
    assert_envelope(call_api("POST", "/health", body=body), 413, "body_too_large")


def test_bad_utf8_is_400(aws):
    event = call_api.__globals__["http_event"](
        "POST", "/health", body=b"{}", headers={"content-type": "application/json"}
    )
    event["body"] = base64.b64encode(b'{"title": "\xff\xfe"}').decode()
    event["isBase64Encoded"] = True
    err = assert_envelope(call_raw(event), 400, "invalid_encoding")
    assert err["details"]["offset"] == 11


def test_bad_base64_is_400(aws):
    event = call_api.__globals__["http_event"]("POST", "/health", body="{}")
    event["body"] = "!!!not-base64"
    event["isBase64Encoded"] = True
    assert_envelope(call_raw(event), 400, "malformed_request")


def test_openapi_is_valid_openapi_3(aws):
    from openapi_spec_validator import validate

    result = call_api("GET", "/openapi.json")
    assert result.status == 200
    spec = result.json
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert "/health" in spec["paths"]


def test_swagger_ui_is_self_contained(aws):
    result = call_api("GET", "/docs")
    assert result.status == 200
    html = result.raw.decode()
    assert "SwaggerUIBundle" in html
    # No asset comes from a CDN: the page must work on a laptop with no internet.
    assert "cdn." not in html and "unpkg" not in html and "jsdelivr" not in html


def test_sample_event_shape_matches_builder():
    from infra.local.apigw import http_event

    sample = json.loads((EVENTS / "apigw-http-v2.json").read_text())
    built = http_event("GET", "/health?x=1", headers={"user-agent": "curl/8.5.0"})
    assert set(sample) - {"cookies"} <= set(built) | {"queryStringParameters", "pathParameters"}
    assert set(sample["requestContext"]) == set(built["requestContext"])
    assert set(sample["requestContext"]["http"]) == set(built["requestContext"]["http"])
    assert built["queryStringParameters"] == {"x": "1"}
    assert built["pathParameters"] == {"proxy": "health"}
    assert copy.deepcopy(built)["routeKey"] == "ANY /{proxy+}"
