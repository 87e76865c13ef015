"""The API never answers 5xx to bad input: forged cursors, undeclared media types, numbers where times belong; it
sends security headers; it builds links from the configured public URL. Through the real handler, on moto."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support.identity import Session, login_as, make_user
from tests.support.lambdas import call_api


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


LISTS = [
    "/users",
    "/services",
    "/escalation-policies",
    "/schedules",
    "/incidents",
    "/webhooks",
    "/me/shifts",
]
FORGED = [_b64({"foo": "bar"}), _b64({"PK": {"S": "x"}}), _b64({"pk": "USER", "sk": "x"}), "e30.AAAA", "@@@"]


def _names_cursor(result) -> bool:
    body = result.json
    return result.status == 422 and body["error"]["details"]["fields"][0]["field"] == "cursor"


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("cursor", FORGED)
def test_a_forged_cursor_is_422_naming_cursor(admin: Session, path: str, cursor: str) -> None:
    result = call_api("GET", f"{path}?cursor={cursor}", headers=admin.headers)
    assert _names_cursor(result), (result.status, result.raw[:200])


def _pages(session: Session, target: str) -> tuple[list[str], str | None]:
    first = call_api("GET", target, headers=session.headers)
    assert first.status == 200, first.raw
    return [u["username"] for u in first.json["items"]], first.json["next_cursor"]


def test_an_issued_cursor_walks_the_list_and_only_that_list(admin: Session) -> None:
    for _ in range(3):
        make_user()
    seen, cursor = _pages(admin, "/users?limit=1")
    assert cursor is not None
    while cursor:
        page = call_api("GET", f"/users?limit=2&cursor={cursor}", headers=admin.headers)  # limit may change
        assert page.status == 200, page.raw
        seen += [u["username"] for u in page.json["items"]]
        cursor = page.json["next_cursor"]
    assert len(seen) == len(set(seen)) >= 4

    _, issued = _pages(admin, "/users?limit=1")
    assert issued is not None
    other_admin = login_as("admin")
    # someone else, another route, other filters, an edited signature or payload: all refused
    assert _names_cursor(call_api("GET", f"/users?cursor={issued}", headers=other_admin.headers))
    assert _names_cursor(call_api("GET", f"/services?cursor={issued}", headers=admin.headers))
    assert _names_cursor(call_api("GET", f"/users?cursor={issued}&role=admin", headers=admin.headers))
    body, mac = issued.split(".")
    flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
    assert _names_cursor(call_api("GET", f"/users?cursor={body}.{flipped}", headers=admin.headers))
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["key"] = {"PK": {"S": "x"}}
    assert _names_cursor(call_api("GET", f"/users?cursor={_b64(payload)}.{mac}", headers=admin.headers))
    # and the genuine one still works
    assert call_api("GET", f"/users?cursor={issued}", headers=admin.headers).status == 200


REFUSED_TYPES = [
    "text/plain",
    "application/merge-patch+json",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
]


def _post(target: str, content_type: str, body: dict, headers: dict[str, str] | None = None):
    return call_api("POST", target, body=json.dumps(body), headers={**(headers or {}), "content-type": content_type})


def _is_415(result) -> bool:
    error = result.json["error"]
    return result.status == 415 and error["code"] == "unsupported_media_type" and "message" in error


@pytest.mark.parametrize("content_type", REFUSED_TYPES)
def test_a_body_not_declared_json_is_415(clock, admin: Session, content_type: str) -> None:
    assert _is_415(_post("/auth/login", content_type, {"username": "x", "password": "y"}))
    assert _is_415(_post("/auth/refresh", content_type, {"refresh_token": "x"}))
    assert _is_415(_post("/schedules", content_type, {"name": "ops", "timezone": "UTC"}, admin.headers))


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream"])
def test_an_empty_body_of_another_type_is_415_not_500(clock, content_type: str) -> None:
    result = call_api("POST", "/auth/login", headers={"content-type": content_type})
    assert _is_415(result), (result.status, result.raw)


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "Application/Json; Charset=UTF-8", "application/json;charset=utf-8"]
)
def test_json_is_recognised_in_any_case_and_with_parameters(clock, admin: Session, content_type: str) -> None:
    login = _post(
        "/auth/login", content_type, {"username": admin.user.username, "password": "correct horse battery staple"}
    )
    assert login.status == 200, login.raw
    created = _post("/schedules", content_type, {"name": f"ops {content_type}", "timezone": "UTC"}, admin.headers)
    assert created.status == 201, created.raw


# -- links are built from configuration, never from the caller's Host ------------------------------------------------


def _setting(monkeypatch: pytest.MonkeyPatch, variable: str, value: str | None) -> None:
    from oncall.settings import get_settings

    if value is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, value)
    get_settings.cache_clear()


def test_the_feed_url_uses_the_public_url_not_the_host_header(monkeypatch, responder: Session) -> None:
    _setting(monkeypatch, "ONCALL_PUBLIC_URL", "https://oncall.example.com")
    spoofed = {**responder.headers, "host": "evil.example", "x-forwarded-proto": "http"}
    result = call_api("POST", "/me/calendar-token", headers=spoofed)
    assert result.status == 201, result.raw
    url = result.json["url"]
    assert url.startswith(f"https://oncall.example.com/users/{responder.user.id}/calendar.ics?token=")
    assert "evil.example" not in url

    _setting(monkeypatch, "ONCALL_PUBLIC_URL", None)
    result = call_api("POST", "/me/calendar-token", headers=spoofed)
    assert result.json["url"].startswith("https://127.0.0.1/users/")  # API Gateway's own domain for the API


# -- security headers and CORS ------------------------------------------------------------------------------------


def _h(result, name: str) -> str | None:
    return result.header(name)


def test_every_answer_carries_the_security_headers(clock, admin: Session) -> None:
    answers = [
        call_api("GET", "/health"),
        call_api("GET", "/users", headers=admin.headers),
        call_api("GET", "/users", headers={"authorization": "Bearer forged"}),  # 401 from the precheck
        call_api("POST", "/auth/login", body="x", headers={"content-type": "text/plain"}),  # 415 from the guard
        call_api("GET", "/nowhere", headers=admin.headers),
    ]
    for result in answers:
        assert _h(result, "X-Content-Type-Options") == "nosniff", result.headers
        assert _h(result, "Referrer-Policy") == "no-referrer"
        assert "frame-ancestors 'none'" in (_h(result, "Content-Security-Policy") or "")
        assert _h(result, "Strict-Transport-Security") is None  # plain HTTP: HSTS would be meaningless
        assert _h(result, "Access-Control-Allow-Origin") is None
    assert _h(answers[1], "Cache-Control") == "no-store"
    assert _h(answers[2], "Cache-Control") == "no-store"  # credentials were sent, even if refused

    over_tls = call_api("GET", "/me", headers={**admin.headers, "x-forwarded-proto": "https"})
    assert (_h(over_tls, "Strict-Transport-Security") or "").startswith("max-age=")
    assert _h(over_tls, "Cache-Control") == "no-store"


def test_swagger_ui_runs_under_a_policy_allowing_only_its_own_scripts(clock) -> None:
    import base64 as b64
    import hashlib
    import re

    docs = call_api("GET", "/docs")
    assert docs.status == 200
    policy = _h(docs, "Content-Security-Policy") or ""
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if " " in d.strip())
    assert directives["frame-ancestors"] == "'none'" and directives["default-src"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in directives["script-src"]
    scripts = re.findall(r"<script>(.*?)</script", docs.raw.decode(), re.S)
    assert scripts
    for script in scripts:
        digest = b64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in directives["script-src"]


def test_cors_is_off_by_default_and_an_allow_list_when_set(monkeypatch, admin: Session) -> None:
    preflight = {"origin": "https://app.example.com", "access-control-request-method": "POST"}
    refused = call_api("OPTIONS", "/schedules", headers=preflight)
    assert _h(refused, "Access-Control-Allow-Origin") is None
    assert refused.status >= 400

    _setting(monkeypatch, "ONCALL_CORS_ORIGINS", "https://app.example.com, http://localhost:3000")
    allowed = call_api("OPTIONS", "/schedules", headers=preflight)
    assert allowed.status == 204
    assert _h(allowed, "Access-Control-Allow-Origin") == "https://app.example.com"
    assert "authorization" in (_h(allowed, "Access-Control-Allow-Headers") or "")
    read = call_api("GET", "/users", headers={**admin.headers, "origin": "https://app.example.com"})
    assert _h(read, "Access-Control-Allow-Origin") == "https://app.example.com"
    assert "Origin" in (_h(read, "Vary") or "")
    other = call_api("GET", "/users", headers={**admin.headers, "origin": "https://evil.example"})
    assert other.status == 200 and _h(other, "Access-Control-Allow-Origin") is None
    other_preflight = call_api("OPTIONS", "/schedules", headers={**preflight, "origin": "https://evil.example"})
    assert _h(other_preflight, "Access-Control-Allow-Origin") is None


def test_a_malformed_cors_setting_is_refused_naming_the_variable() -> None:
    from oncall.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="ONCALL_CORS_ORIGINS"):
        Settings.from_env({"ONCALL_CORS_ORIGINS": "https://app.example.com/path"})
    with pytest.raises(SettingsError, match="ONCALL_CORS_ORIGINS"):
        Settings.from_env({"ONCALL_CORS_ORIGINS": "*"})


# -- formats the document promises are the formats accepted ---------------------------------------------------------


@pytest.mark.parametrize("value", ["0.5", "1900000000", "2030-03-17", "2030-03-17 17:46:40Z", "2030-03-17T17:46:40"])
def test_a_time_that_is_not_rfc_3339_is_422_naming_it(responder: Session, value: str) -> None:
    # a valid window either way (1900000000 s is 2030-03-17T17:46:40Z): only the form of `from` is wrong
    result = call_api("GET", f"/me/shifts?from={value}&to=2030-03-18T00:00:00Z", headers=responder.headers)
    assert result.status == 422, (value, result.raw)
    assert result.json["error"]["details"]["fields"][0]["field"] == "from"


def test_a_body_time_given_as_a_number_is_422(admin: Session) -> None:
    created = call_api("POST", "/schedules", body={"name": "numbers", "timezone": "UTC"}, headers=admin.headers)
    shift = {"user_id": admin.user.id, "start": 1900000000, "end": "2030-03-17T18:46:40Z"}  # an hour, as a number
    result = call_api("POST", f"/schedules/{created.json['id']}/shifts", body=shift, headers=admin.headers)
    assert result.status == 422 and result.json["error"]["details"]["fields"][0]["field"] == "start"


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00+11:12", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z"])
def test_a_time_with_no_usable_utc_value_is_422_not_500(admin: Session, start: str) -> None:
    """Valid RFC 3339 whose UTC value is outside ``datetime`` (or beside it: adding a rotation's turn would overflow):
    the fuzzer found the first as a 500."""
    created = call_api("POST", "/schedules", body={"name": "edges", "timezone": "UTC"}, headers=admin.headers)
    shift = {"user_id": admin.user.id, "start": start, "end": "2030-03-17T18:46:40Z"}
    result = call_api("POST", f"/schedules/{created.json['id']}/shifts", body=shift, headers=admin.headers)
    assert result.status == 422, (start, result.raw)
    assert result.json["error"]["details"]["fields"][0]["field"] == "start"
    listed = call_api(
        "GET", f"/me/shifts?from={start.replace('+', '%2B')}&to=2030-03-18T00:00:00Z", headers=admin.headers
    )
    assert listed.status == 422 and listed.json["error"]["details"]["fields"][0]["field"] == "from"


def test_rfc_3339_times_are_accepted(responder: Session) -> None:
    for value in ["2030-01-02T00:00:00Z", "2030-01-02T00:00:00.5%2B02:00", "2030-01-02t00:00:00z"]:
        result = call_api("GET", f"/me/shifts?from=2030-01-01T00:00:00Z&to={value}", headers=responder.headers)
        assert result.status == 200, (value, result.raw)


# -- the OpenAPI document is exact ----------------------------------------------------------------------------------


@pytest.fixture
def spec(clock) -> dict:
    result = call_api("GET", "/openapi.json")
    assert result.status == 200
    return result.json


def _operations(spec: dict):
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            yield method.upper(), path, op


def test_every_failure_is_documented_as_the_envelope(spec: dict) -> None:
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert set(error["properties"]["error"]["required"]) == {"code", "message", "details"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for method, path, op in _operations(spec):
        if (method, path) == ("GET", "/health"):
            continue
        for status in ("400", "401", "403", "422", "429"):
            schema = op["responses"][status]["content"]["application/json"]["schema"]
            assert schema.get("$ref", "").startswith("#/components/schemas/"), (method, path, status)
        if method in {"POST", "PUT", "PATCH"}:
            assert {"413", "415", "409", "404"} <= set(op["responses"]), (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)
    created = spec["paths"]["/schedules"]["post"]["responses"]
    assert "201" in created and "200" not in created
    assert created["201"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ScheduleOut"}
    deleted = spec["paths"]["/schedules/{schedule_id}"]["delete"]["responses"]
    assert "204" in deleted and "content" not in deleted["204"]


def test_every_success_has_a_schema(spec: dict) -> None:
    for method, path, op in _operations(spec):
        for status, response in op["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            (content,) = response["content"].values()
            schema = content["schema"]
            assert schema.get("$ref") or schema.get("type") in {"object", "string"}, (method, path, status, schema)
    page = spec["paths"]["/users"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["properties"]["items"]["items"] == {"$ref": "#/components/schemas/UserOut"}


def test_swagger_ui_can_authorise_with_the_bearer_scheme(spec: dict) -> None:
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/auth/login"]["post"]["security"] == []
    assert spec["paths"]["/health"]["get"]["security"] == []
    assert "security" not in spec["paths"]["/users"]["get"]  # the document's default: bearer
    served = call_api("GET", "/docs?format=json")
    assert served.json == spec  # what Swagger UI loads is the document itself


def test_the_document_is_valid_openapi(spec: dict) -> None:
    from openapi_spec_validator import validate

    validate(spec)
