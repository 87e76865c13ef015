"""Configuration from environment variables, validated once per cold start.

Resources arrive as ``ONCALL_TABLE_<NAME>`` / ``ONCALL_BUS_NAME`` set by CDK or by the local runner from the same
topology (``infra/topology.py``); nothing here knows whether it runs in AWS or on a laptop.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field

TABLE_PREFIX = "ONCALL_TABLE_"


class Settings(BaseModel):
    stage: str = "local"
    region: str = "us-east-1"
    bus_name: str = "oncall"
    tables: dict[str, str] = Field(default_factory=dict)
    #: largest request body the API accepts, in bytes (API Gateway itself stops at 10 MB)
    max_body_bytes: int = 256 * 1024
    #: how long an Idempotency-Key is remembered
    idempotency_ttl_seconds: int = 24 * 3600

    def table(self, name: str) -> str:
        """Physical name of the logical table ``name``; a missing one is a deployment error, said plainly."""
        try:
            return self.tables[name]
        except KeyError:
            raise RuntimeError(f"table {name!r} is not configured (set {TABLE_PREFIX}{name.upper()})") from None


def from_env(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    tables = {
        key[len(TABLE_PREFIX) :].lower().replace("_", "-"): value
        for key, value in env.items()
        if key.startswith(TABLE_PREFIX) and value
    }
    raw: dict[str, object] = {"tables": tables}
    for field, var in (
        ("stage", "ONCALL_STAGE"),
        ("region", "AWS_REGION"),
        ("bus_name", "ONCALL_BUS_NAME"),
        ("max_body_bytes", "ONCALL_MAX_BODY_BYTES"),
        ("idempotency_ttl_seconds", "ONCALL_IDEMPOTENCY_TTL_SECONDS"),
    ):
        if env.get(var):
            raw[field] = env[var]
    return Settings.model_validate(raw)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return from_env()
