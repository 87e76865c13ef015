"""Shared fixtures. AWS is moto; nothing here fakes our own code."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# Never reach real AWS from a test, whatever the developer's shell has configured.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "OnCallHub",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        # A fixed test-only JWT key set and a cheap KDF: production cost would make every login ~50 ms.
        "ONCALL_JWT_KEYS": '{"current": "test1", "test1": "test-only-jwt-key-0123456789abcdef0123456789"}',
        "ONCALL_ARGON2_TIME_COST": "1",
        "ONCALL_ARGON2_MEMORY_KIB": "64",
    }
)
for _var in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_var, None)

from hypothesis import settings as hypothesis_settings  # noqa: E402

hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, max_examples=100)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """In-process moto with every declared table and queue created; function environment variables point at
    them."""
    import boto3
    from moto import mock_aws

    from infra.local.resources import create_queues, create_tables, function_environment
    from infra.topology import FUNCTIONS, TOPOLOGY
    from oncall.settings import get_settings

    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="us-east-1"))
        create_queues(boto3.client("sqs", region_name="us-east-1"), TOPOLOGY)
        env: dict[str, str] = {}
        for fn in FUNCTIONS:
            env.update(function_environment(fn))
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        get_settings.cache_clear()
        try:
            yield env
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            get_settings.cache_clear()


@pytest.fixture
def locked_aws(aws: dict[str, str]) -> Iterator[dict[str, str]]:
    """``aws`` with moto's DynamoDB made atomic under threads, as the local runner makes it (docs/architecture.md,
    "Invariants"): race tests then race our conditional writes and transactions, not moto's internals. Services are
    rebuilt on both sides so none keeps a client from before."""
    from infra.local import dynamo_lock
    from oncall import wiring

    already = dynamo_lock.installed()
    dynamo_lock.install()
    wiring.reset()
    try:
        yield aws
    finally:
        wiring.reset()
        if not already:
            dynamo_lock.uninstall()
