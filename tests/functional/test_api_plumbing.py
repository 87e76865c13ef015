"""The generic Idempotency-Key and ETag support, exercised through a resolver built the way functions/api builds its own
(same error handlers, same middleware, real DynamoDB tables in the emulator), with one creating route and one list."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import boto3
import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel, ConfigDict, Field

from infra.local.apigw import http_event, parse_response
from infra.local.context import LambdaContext
from oncall.api import errors, idempotency
from oncall.api.lists import decode_cursor, encode_cursor, list_response


class ThingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=50)


@pytest.fixture
def app(aws):
    idempotency._runner = None  # the table name comes from this test's environment
    table = boto3.resource("dynamodb", region_name="us-east-1").Table(aws["ONCALL_TABLE_OUTBOX"])
    resolver = APIGatewayHttpResolver(enable_validation=True)
    errors.install(resolver)
    resolver.use(middlewares=[idempotency.middleware])
    created: list[str] = []

    @resolver.post("/things")
    def create(body: Annotated[ThingIn, Body()]) -> tuple[dict[str, Any], int]:
        ident = str(uuid.uuid4())
        table.put_item(Item={"pk": f"thing#{ident}", "sk": "0", "name": body.name})
        created.append(ident)
        return {"id": ident, "name": body.name}, 201

    @resolver.get("/things")
    def things(cursor: Annotated[str | None, Query()] = None, limit: Annotated[int, Query(ge=1, le=100)] = 2):
        start = decode_cursor(cursor)
        kwargs: dict[str, Any] = {"Limit": limit}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = table.scan(**kwargs)
        items = sorted(item["name"] for item in page["Items"])
        return list_response(resolver.current_event.headers, items, encode_cursor(page.get("LastEvaluatedKey")))

    def call(method: str, target: str, **kw: Any):
        status, headers, raw = parse_response(
            resolver.resolve(http_event(method, target, **kw), LambdaContext(function_name="api"))
        )
        return status, {k.lower(): v for k, v in headers.items()}, raw

    call.created = created  # type: ignore[attr-defined]
    return call


def test_same_key_same_body_replays_first_response(app):
    h = {"Idempotency-Key": "order-123"}
    s1, h1, b1 = app("POST", "/things", body={"name": "a"}, headers=h)
    s2, h2, b2 = app("POST", "/things", body={"name": "a"}, headers=h)
    assert (s1, s2) == (201, 201)
    assert json.loads(b1) == json.loads(b2)
    assert "idempotent-replayed" not in h1
    assert h2["idempotent-replayed"] == "true"
    assert len(app.created) == 1


def test_same_key_other_body_is_422(app):
    app("POST", "/things", body={"name": "a"}, headers={"Idempotency-Key": "k1"})
    status, _, raw = app("POST", "/things", body={"name": "b"}, headers={"Idempotency-Key": "k1"})
    assert status == 422
    assert json.loads(raw)["error"]["code"] == "idempotency_key_reused"
    assert len(app.created) == 1


def test_failed_request_leaves_key_reusable(app):
    status, _, raw = app("POST", "/things", body={"name": ""}, headers={"Idempotency-Key": "k2"})
    assert status == 422
    assert json.loads(raw)["error"]["details"]["fields"][0]["field"] == "name"
    status, _, _ = app("POST", "/things", body={"name": "ok"}, headers={"Idempotency-Key": "k2"})
    assert status == 201
    assert len(app.created) == 1


def test_without_key_every_post_creates(app):
    app("POST", "/things", body={"name": "a"})
    app("POST", "/things", body={"name": "a"})
    assert len(app.created) == 2


def test_unsafe_key_is_400(app):
    status, _, raw = app("POST", "/things", body={"name": "a"}, headers={"Idempotency-Key": "x" * 300})
    assert status == 400
    assert json.loads(raw)["error"]["code"] == "invalid_idempotency_key"


def test_unknown_field_is_rejected_by_name(app):
    status, _, raw = app("POST", "/things", body={"name": "a", "role": "admin"})
    assert status == 422
    fields = json.loads(raw)["error"]["details"]["fields"]
    assert [f["field"] for f in fields] == ["role"]


def test_etag_and_if_none_match(app):
    for name in ("a", "b", "c"):
        app("POST", "/things", body={"name": name})
    status, headers, raw = app("GET", "/things?limit=100")
    assert status == 200
    etag = headers["etag"]
    assert etag.startswith('W/"')
    assert sorted(json.loads(raw)["items"]) == ["a", "b", "c"]
    status, headers2, raw2 = app("GET", "/things?limit=100", headers={"If-None-Match": etag})
    assert status == 304
    assert raw2 == b""
    assert headers2["etag"] == etag
    app("POST", "/things", body={"name": "d"})
    status, _, _ = app("GET", "/things?limit=100", headers={"If-None-Match": etag})
    assert status == 200


def test_cursor_pagination_walks_everything(app):
    for name in "abcde":
        app("POST", "/things", body={"name": name})
    seen: list[str] = []
    target = "/things?limit=2"
    for _ in range(10):
        status, _, raw = app("GET", target)
        assert status == 200
        page = json.loads(raw)
        seen += page["items"]
        if not page["next_cursor"]:
            break
        target = f"/things?limit=2&cursor={page['next_cursor']}"
    assert sorted(seen) == list("abcde")


def test_bad_cursor_and_limit_name_the_field(app):
    status, _, raw = app("GET", "/things?cursor=@@@")
    assert status == 422
    assert json.loads(raw)["error"]["details"]["fields"][0]["field"] == "cursor"
    status, _, raw = app("GET", "/things?limit=0")
    assert status == 422
    assert json.loads(raw)["error"]["details"]["fields"][0]["field"] == "limit"
