"""Does what an ARN, a name or an IAM action names exist in the account? Read through boto3, cached per inspection.

An IAM action is checked against the operations botocore knows for its service, plus the actions IAM defines that
no API operation carries (``IAM_ONLY``), so a typo (``dynamodb:GetItems``) is caught without a call to IAM.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import botocore.session
from botocore.exceptions import ClientError

#: IAM actions with no API operation of the same name (the permission behind another call, or a console-only one)
IAM_ONLY = {
    "dynamodb:ConditionCheckItem",
    "lambda:InvokeFunction",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
}
#: IAM prefix → the botocore services whose operations it authorises
SERVICES = {
    "dynamodb": ("dynamodb", "dynamodbstreams"),
    "states": ("stepfunctions",),
    "execute-api": (),
}
#: identities an operator verifies in SES themselves: the stack grants sending from them but does not create them
EXTERNAL = {"ses"}

_ACTION = re.compile(r"[a-z0-9-]+:[A-Za-z0-9*]+")


@cache
def _operations(prefix: str) -> frozenset[str]:
    session = botocore.session.get_session()
    names: set[str] = set()
    for service in SERVICES.get(prefix, (prefix,)):
        try:
            names |= set(session.get_service_model(service).operation_names)
        except Exception:  # noqa: S112 - a prefix botocore has no model for is judged on its form alone
            continue
    return frozenset(names)


class Existence:
    def __init__(self, clients: Callable[[str], Any]) -> None:
        self._client = clients
        self._seen: dict[tuple[str, str | None], str | None] = {}
        identity = clients("sts").get_caller_identity()
        self.account: str = identity["Account"]
        self.region: str = clients("sts").meta.region_name

    def action_problem(self, action: str) -> str | None:
        if action == "*" or not _ACTION.fullmatch(action):
            return f"malformed action {action!r}"
        prefix, name = action.split(":", 1)
        if action in IAM_ONLY:
            return None
        known = _operations(prefix)
        if not known:
            return None if prefix in SERVICES else f"unknown service prefix {prefix!r}"
        if any(fnmatch.fnmatchcase(op, name) for op in known):
            return None
        return f"{action!r} names no {prefix} operation"

    def problem(self, value: str, kind: str | None = None) -> str | None:
        key = (value, kind)
        if key not in self._seen:
            try:
                self._seen[key] = self._look_up(value, kind)
            except ClientError as exc:
                self._seen[key] = f"{value} does not exist ({exc.response['Error'].get('Code')})"
        return self._seen[key]

    def _look_up(self, value: str, kind: str | None) -> str | None:
        if kind == "table":
            self._client("dynamodb").describe_table(TableName=value)
        elif kind == "bus":
            self._client("events").describe_event_bus(Name=value)
        elif kind == "queue":
            self._client("sqs").get_queue_attributes(QueueUrl=value, AttributeNames=["QueueArn"])
        elif kind == "queue name":
            self._client("sqs").get_queue_url(QueueName=value)
        elif kind == "function":
            self._client("lambda").get_function_configuration(FunctionName=value)
        elif kind == "secret":
            return self._parameter(value)
        else:
            return self._arn(value)
        return None

    def _arn(self, arn: str) -> str | None:
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn":
            return f"{arn!r} is not an ARN"
        _, _, service, region, account, resource = parts
        if service in EXTERNAL:
            return None
        if account not in ("", self.account) or region not in ("", self.region):
            return f"{arn} is in another account or region"
        look = getattr(self, f"_{service.replace('-', '_')}", None)
        if look is None:
            return f"{arn}: no check for service {service!r}"
        result: str | None = look(arn, resource)
        return result

    def _dynamodb(self, arn: str, resource: str) -> str | None:
        _, table, *rest = resource.split("/")
        described = self._client("dynamodb").describe_table(TableName=table)["Table"]
        if rest[:1] == ["index"]:
            indexes = [ix["IndexName"] for ix in described.get("GlobalSecondaryIndexes", [])]
            indexes += [ix["IndexName"] for ix in described.get("LocalSecondaryIndexes", [])]
            if not any(fnmatch.fnmatchcase(ix, rest[1]) for ix in indexes):
                return f"{arn}: table {table} has no index {rest[1]!r} (it has {sorted(indexes)})"
        if rest[:1] == ["stream"]:
            latest = described.get("LatestStreamArn", "")
            if not latest or not fnmatch.fnmatchcase(latest, arn):
                return f"{arn}: table {table} has no such stream"
        return None

    def _lambda(self, arn: str, resource: str) -> str | None:
        kind, name, *rest = resource.split(":")
        if kind == "layer":
            if not rest or not rest[0].isdigit():
                return f"{arn}: names a layer, not one of its versions"
            self._client("lambda").get_layer_version(LayerName=name, VersionNumber=int(rest[0]))
        else:
            self._client("lambda").get_function_configuration(FunctionName=name)
        return None

    def _sqs(self, arn: str, resource: str) -> str | None:
        self._client("sqs").get_queue_url(QueueName=resource)
        return None

    def _sns(self, arn: str, resource: str) -> str | None:
        self._client("sns").get_topic_attributes(TopicArn=arn)
        return None

    def _ssm(self, arn: str, resource: str) -> str | None:
        kind, _, name = resource.partition("/")
        if kind != "parameter":
            return f"{arn}: no check for SSM {kind!r}"
        return self._parameter(f"/{name}")

    def _parameter(self, name: str) -> str | None:
        """A parameter by its name (a grant may end in ``*``: then some parameter must start with what is before)."""
        ssm = self._client("ssm")
        if "*" not in name and "?" not in name:
            ssm.get_parameter(Name=name)
            return None
        prefix = name.split("*", 1)[0].split("?", 1)[0]
        found = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [prefix]}])
        if not any(fnmatch.fnmatchcase(p["Name"], name) for p in found["Parameters"]):
            return f"no parameter matches {name}"
        return None

    def _states(self, arn: str, resource: str) -> str | None:
        kind, name, *_ = resource.split(":")
        machine = f"arn:aws:states:{self.region}:{self.account}:stateMachine:{name}"
        if kind not in ("stateMachine", "execution"):
            return f"{arn}: no check for Step Functions {kind!r}"
        self._client("stepfunctions").describe_state_machine(stateMachineArn=machine)
        return None

    def _events(self, arn: str, resource: str) -> str | None:
        kind, _, name = resource.partition("/")
        if kind == "event-bus":
            self._client("events").describe_event_bus(Name=name)
        elif kind == "rule":
            bus, _, rule = name.rpartition("/")
            self._client("events").describe_rule(Name=rule, EventBusName=bus or "default")
        else:
            return f"{arn}: no check for EventBridge {kind!r}"
        return None

    def _logs(self, arn: str, resource: str) -> str | None:
        name = resource.removeprefix("log-group:").removesuffix(":*")
        found = self._client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        if not any(group["logGroupName"] == name for group in found):
            return f"{arn}: no log group {name}"
        return None

    def _iam(self, arn: str, resource: str) -> str | None:
        kind, _, name = resource.partition("/")
        if kind != "role":
            return f"{arn}: no check for IAM {kind!r}"
        self._client("iam").get_role(RoleName=name.rsplit("/", 1)[-1])
        return None
