"""The stack's ``Custom::SecretParameter`` handler against moto's SSM, answering a real HTTP server on 127.0.0.1 that
stands where CloudFormation's pre-signed response URL would: a value is generated once, never overwritten, never
reported back, and a delete removes the parameter."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.constructs.secrets import HANDLER_DIR

NAME = "/OnCallHub/secrets/metrics-token"


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("secret_parameter_index", HANDLER_DIR / "index.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Responses(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                outer.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def responses() -> Iterator[Responses]:
    server = Responses()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def event(responses: Responses, request: str, physical: str | None = None, name: str = NAME) -> dict[str, Any]:
    out: dict[str, Any] = {
        "RequestType": request,
        "ResponseURL": f"http://127.0.0.1:{responses.server_address[1]}/cfn-response",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/OnCallHub/x",
        "RequestId": f"req-{len(responses.bodies)}",
        "LogicalResourceId": "SecretsMetricsToken",
        "ResourceType": "Custom::SecretParameter",
        "ResourceProperties": {"ServiceToken": "arn:fn", "Name": name, "Description": "the metrics token"},
    }
    if physical is not None:
        out["PhysicalResourceId"] = physical
    return out


def test_create_generates_once_and_never_overwrites_what_an_operator_set(responses: Responses) -> None:
    index = load_handler()
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        index.handler(event(responses, "Create"), None, ssm=ssm)
        stored = ssm.get_parameter(Name=NAME, WithDecryption=True)["Parameter"]
        assert stored["Type"] == "SecureString"
        value = stored["Value"]
        assert len(value) == 64 and value.isalnum()
        reply = responses.bodies[-1]
        assert (reply["Status"], reply["PhysicalResourceId"]) == ("SUCCESS", NAME)
        assert value not in json.dumps(reply)  # CloudFormation (and whoever reads its events) never sees it

        ssm.put_parameter(Name=NAME, Value="set-by-the-operator", Type="SecureString", Overwrite=True)
        index.handler(event(responses, "Update", physical=NAME), None, ssm=ssm)
        index.handler(event(responses, "Create"), None, ssm=ssm)  # a stack re-created with the same name adopts it
        assert ssm.get_parameter(Name=NAME, WithDecryption=True)["Parameter"]["Value"] == "set-by-the-operator"
        assert [b["Status"] for b in responses.bodies] == ["SUCCESS"] * 3

        index.handler(event(responses, "Delete", physical=NAME), None, ssm=ssm)
        assert ssm.describe_parameters()["Parameters"] == []
        index.handler(event(responses, "Delete", physical=NAME), None, ssm=ssm)  # deleting twice is not a failure
        assert responses.bodies[-1]["Status"] == "SUCCESS"


def test_a_renamed_parameter_is_created_and_a_bad_name_fails_with_a_reason(responses: Responses) -> None:
    index = load_handler()
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        renamed = "/Other/secrets/metrics-token"
        index.handler(event(responses, "Update", physical=NAME, name=renamed), None, ssm=ssm)
        assert responses.bodies[-1]["PhysicalResourceId"] == renamed
        assert len(ssm.get_parameter(Name=renamed, WithDecryption=True)["Parameter"]["Value"]) == 64

        index.handler(event(responses, "Create", name="no-leading-slash"), None, ssm=ssm)
        failed = responses.bodies[-1]
        assert failed["Status"] == "FAILED" and "Name" in failed["Reason"]
        # a failed create leaves CloudFormation a non-name id; the delete that follows touches nothing
        index.handler(event(responses, "Delete", physical=failed["PhysicalResourceId"]), None, ssm=ssm)
        assert responses.bodies[-1]["Status"] == "SUCCESS"
        assert [p["Name"] for p in ssm.describe_parameters()["Parameters"]] == [renamed]
