"""What can be checked of the Docker-based emulator setup without Docker: the compose file and the pinned CLIs."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from infra.topology import ROOT
from tests.infra.conftest import FIXTURE, Synthesized

pytestmark = pytest.mark.infra

#: CloudFormation namespace → the LocalStack service that emulates it
SERVICE_OF = {
    "AWS::ApiGatewayV2": "apigateway",
    "AWS::CloudWatch": "cloudwatch",
    "AWS::DynamoDB": "dynamodb",
    "AWS::Events": "events",
    "AWS::IAM": "iam",
    "AWS::Lambda": "lambda",
    "AWS::Logs": "logs",
    "AWS::SNS": "sns",
    "AWS::SQS": "sqs",
    "AWS::SSM": "ssm",
    "AWS::StepFunctions": "stepfunctions",
    # the secret parameters' handler: CloudFormation invokes a stack function and writes SSM
    "Custom": "cloudformation",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.localstack.yml").read_text())
    return loaded


def test_both_emulators_are_pinned_on_port_4566_in_separate_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"localstack", "floci"}
    assert services["localstack"]["profiles"] != services["floci"]["profiles"], "both would bind 4566 at once"
    for service in services.values():
        image, _, tag = service["image"].partition(":")
        assert tag and tag != "latest", f"{image} must be pinned"
        assert service["ports"] == ["127.0.0.1:4566:4566"]


def test_localstack_token_comes_from_the_environment(compose: dict[str, Any]) -> None:
    token = compose["services"]["localstack"]["environment"]["LOCALSTACK_AUTH_TOKEN"]
    assert token.startswith("${LOCALSTACK_AUTH_TOKEN")


def test_localstack_enables_every_service_the_stack_uses(compose: dict[str, Any], synthesized: Synthesized) -> None:
    enabled = set(compose["services"]["localstack"]["environment"]["SERVICES"].split(","))
    used = {r["Type"].rsplit("::", 1)[0] for r in synthesized.templates[FIXTURE]["Resources"].values()}
    assert used <= set(SERVICE_OF), used - set(SERVICE_OF)
    needed = {SERVICE_OF[ns] for ns in used} | {"cloudformation", "s3", "ssm", "sts", "dynamodbstreams"}
    assert needed <= enabled, needed - enabled


def test_cdk_cli_and_cdklocal_are_pinned_and_locked() -> None:
    package = json.loads((ROOT / "infra" / "cli" / "package.json").read_text())
    lock = json.loads((ROOT / "infra" / "cli" / "package-lock.json").read_text())
    pins = package["devDependencies"]
    assert pins["aws-cdk"] == "2.1148.1", "aws-cdk 3.x cannot read the assemblies aws-cdk-lib 2.x writes"
    assert pins["aws-cdk-local"] == "3.0.4"
    for name, version in pins.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
