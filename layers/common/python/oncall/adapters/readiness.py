"""The AWS calls behind ``GET /health/ready`` (``oncall.services.readiness`` runs them): one read-only describe per
dependency, the cheapest call that proves both that it exists and that this function may reach it.

The clients are the readiness check's own, not the stores': a check must answer fast when AWS does not, so each call
gets short connect and read timeouts and no retries (the SDK's default would retry a throttled or timed-out call for
seconds), which the stores, whose writes must go through, cannot have.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: seconds to connect and to wait for an answer, per call
TIMEOUT_S = 2.0
#: what a table or a state machine reports while it can serve
_TABLE_SERVING = frozenset({"ACTIVE", "UPDATING"})


class NotServing(Exception):
    """The dependency exists but cannot serve (a table being created or deleted, a state machine being deleted)."""


class NotConfigured(Exception):
    """This function was not given the dependency's name (a deployment error)."""


def error_code(exc: BaseException) -> str:
    """AWS's error code (``ResourceNotFoundException``, ``AccessDeniedException``), else the exception's class name
    (``ReadTimeoutError``, ``EndpointConnectionError``): never the message."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


class AwsProbes:
    """Builds each probe's call; the clients are made here, on the caller's thread (boto3 does not make clients
    safely from several threads at once), and shared by the probes' threads (a client is thread-safe)."""

    def __init__(self, region: str | None = None, *, clients: Callable[[str], Any] | None = None) -> None:
        self._clients = clients or _client_factory(region)
        self._made: dict[str, Any] = {}

    def _client(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = self._clients(service)
        return self._made[service]

    def table(self, name: str) -> Callable[[], object]:
        dynamodb = self._client("dynamodb")

        def call() -> object:
            status = dynamodb.describe_table(TableName=name)["Table"].get("TableStatus")
            if status not in _TABLE_SERVING:
                raise NotServing(status)
            return status

        return call

    def bus(self, name: str) -> Callable[[], object]:
        events = self._client("events")
        return lambda: events.describe_event_bus(Name=name)

    def state_machine(self, arn: str | None) -> Callable[[], object]:
        if not arn:
            return _not_configured
        sfn = self._client("stepfunctions")

        def call() -> object:
            status = sfn.describe_state_machine(stateMachineArn=arn).get("status")
            if status not in (None, "ACTIVE"):
                raise NotServing(status)
            return status

        return call


def _not_configured() -> object:
    raise NotConfigured


def _client_factory(region: str | None) -> Callable[[str], Any]:
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=TIMEOUT_S,
        read_timeout=TIMEOUT_S,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )
    return lambda service: boto3.client(service, region_name=region, config=config)  # type: ignore[call-overload]
