"""The emulator's HTTP front (``motoserver``): moto's app on the runner's own listener, which keeps connections open.

Every SDK call of every worker used to open a TCP connection (and a thread in the runner's main process); these tests
pin that one connection now serves call after call, and that what moto's own server did for S3 still holds over it:
chunked uploads, HEAD lengths, underscored metadata names, keys with reserved characters.
"""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from infra.local.motoserver import CLIENT_ENV, start_server


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[str, Any]]:
    server, port = start_server("127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.stop()


def _client(endpoint: str, service: str) -> Any:
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=CLIENT_ENV["AWS_REGION"],
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}),
    )


def _dynamo(target: str, body: dict[str, Any], conn: http.client.HTTPConnection) -> Any:
    conn.request(
        "POST",
        "/",
        body=json.dumps(body),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    resp = conn.getresponse()
    return resp, json.loads(resp.read() or b"{}")


def test_one_connection_serves_call_after_call(endpoint: tuple[str, Any]) -> None:
    url, _ = endpoint
    port = int(url.rsplit(":", 1)[1])
    table = f"keepalive-{uuid.uuid4().hex[:8]}"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    resp, _ = _dynamo(
        "CreateTable",
        {
            "TableName": table,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
        conn,
    )
    assert resp.status == 200
    sock = conn.sock
    for i in range(20):
        resp, _ = _dynamo("PutItem", {"TableName": table, "Item": {"pk": {"S": str(i)}}}, conn)
        assert resp.status == 200 and not resp.will_close
    # a refused condition is an error answer, and the connection still serves the next call
    resp, body = _dynamo(
        "PutItem",
        {"TableName": table, "Item": {"pk": {"S": "0"}}, "ConditionExpression": "attribute_not_exists(pk)"},
        conn,
    )
    assert resp.status == 400 and "ConditionalCheckFailed" in body["__type"]
    resp, body = _dynamo("Scan", {"TableName": table, "Select": "COUNT"}, conn)
    assert resp.status == 200 and body["Count"] == 20
    assert conn.sock is sock  # never reconnected
    conn.close()


def test_an_sdk_client_keeps_its_connection(endpoint: tuple[str, Any]) -> None:
    url, server = endpoint
    ddb = _client(url, "dynamodb")
    table = f"pooled-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    before = server._listener.open_connections
    for i in range(30):
        ddb.put_item(TableName=table, Item={"pk": {"S": str(i)}})
        ddb.get_item(TableName=table, Key={"pk": {"S": str(i)}})
    # the client's pooled connection stays open between calls (it was closed after each response before)
    assert server._listener.open_connections == before >= 1
    assert ddb.scan(TableName=table, Select="COUNT")["Count"] == 30


def test_s3_over_the_listener(endpoint: tuple[str, Any]) -> None:
    url, _ = endpoint
    s3 = _client(url, "s3")
    bucket = f"assets-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    # a body of unknown length arrives chunked (SDKs upload streams so); it is stored whole
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    parts = [b"a" * 70_000, b"b" * 5, b"c" * 1024]
    conn.putrequest("PUT", f"/{bucket}/chunked.bin")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader(
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
    )
    conn.endheaders()
    for part in parts:
        conn.send(f"{len(part):x}\r\n".encode() + part + b"\r\n")
    conn.send(b"0\r\n\r\n")
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 200
    conn.close()
    assert s3.get_object(Bucket=bucket, Key="chunked.bin")["Body"].read() == b"".join(parts)

    # HEAD says how long the body it leaves out is; underscored metadata keeps its spelling; reserved characters
    # in a key survive the path
    key = "dir/a b+c%2Fd=é.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 1234, Metadata={"my_key": "1", "plain": "2"})
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == 1234
    assert head["Metadata"] == {"my_key": "1", "plain": "2"}
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]] == [key]
