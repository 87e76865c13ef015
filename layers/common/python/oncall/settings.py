"""Configuration from environment variables, validated once per cold start.

Resources arrive as ``ONCALL_TABLE_<NAME>`` / ``ONCALL_BUS_NAME`` set by CDK or by the local runner from the same
topology (``infra/topology.py``); nothing here knows whether it runs in AWS or on a laptop.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, field_validator

TABLE_PREFIX = "ONCALL_TABLE_"


class AuthSettings(BaseModel):
    """Identity and access knobs (``ONCALL_AUTH_*`` / ``ONCALL_ARGON2_*``). Defaults are production values; tests
    lower the KDF cost and shorten nothing else."""

    #: Argon2id parameters; OWASP's first recommended set (m=19 MiB, t=2, p=1)
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_kib: int = Field(default=19 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    access_ttl_seconds: int = Field(default=15 * 60, ge=1)
    refresh_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=1)
    #: a duplicate refresh within this many seconds returns the same successor (parallel tabs); RFC 9700 §4.14
    refresh_grace_seconds: float = Field(default=3.0, ge=0, le=3)
    issuer: str = "oncall-hub"
    audience: str = "oncall-hub-api"
    #: failed logins tolerated per window, per username and per source IP
    login_failures_per_user: int = Field(default=10, ge=1)
    login_failures_per_ip: int = Field(default=50, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    link_code_ttl_seconds: int = Field(default=600, ge=1)


class AlertSettings(BaseModel):
    """Alert ingestion knobs (``ONCALL_ALERTS_*``); see README "Alert ingestion"."""

    #: alerts per service per minute (PagerDuty's default per routing key is 120/min); beyond it: 429 / dropped
    rate_per_minute: int = Field(default=120, ge=1)
    #: keyless alerts of one service and severity within this many seconds of the first feed one incident
    correlation_window_seconds: int = Field(default=300, ge=1)
    #: ``last``: an incident fed by several alert keys resolves when its last open one resolves; ``first``: at once
    resolve_policy: Literal["last", "first"] = "last"
    #: what CloudWatch's INSUFFICIENT_DATA means
    insufficient_data: Literal["ignore", "trigger", "resolve"] = "ignore"
    #: JSON object: CloudWatch alarm ARN or alarm-name prefix → service id or name
    cloudwatch_services: dict[str, str] = Field(default_factory=dict)
    #: ``required``: Grafana webhooks must carry a valid X-Grafana-Alerting-Signature under the secret
    #: ``grafana-webhook-hmac`` (Secrets Manager); ``off``: not checked
    grafana_hmac: Literal["off", "required"] = "off"
    #: the HMAC secret inline (local runs and tests only; it implies ``required``); deployed: the secret above
    grafana_hmac_secret: str | None = None


class Settings(BaseModel):
    stage: str = "local"
    region: str = "us-east-1"
    bus_name: str = "oncall"
    tables: dict[str, str] = Field(default_factory=dict)
    #: largest request body the API accepts, in bytes (API Gateway itself stops at 10 MB)
    max_body_bytes: int = 256 * 1024
    #: how long an Idempotency-Key is remembered
    idempotency_ttl_seconds: int = 24 * 3600
    #: longest shift accepted (DESIGN §3 validation); default 14 days
    max_shift_hours: int = Field(default=14 * 24, ge=1)
    #: how far ahead rotations are materialised into shifts
    rotation_horizon_days: int = Field(default=56, ge=1, le=366)
    #: pages and escalations one person receives per incident before further ones are dropped as ``capped``
    page_cap_per_incident: int = Field(default=10, ge=1)
    #: the product's public base URL (the API's); pages link to ``<public_url>/incidents/<id>``, and carry no link
    #: without it
    public_url: str | None = None
    auth: AuthSettings = Field(default_factory=AuthSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        from oncall.domain.page_content import safe_url

        if value is None or not value.strip():
            return None
        url = safe_url(value)
        if url is None:
            raise ValueError("ONCALL_PUBLIC_URL must be an absolute http(s) URL")
        return url.rstrip("/")

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
        ("max_shift_hours", "ONCALL_MAX_SHIFT_HOURS"),
        ("rotation_horizon_days", "ONCALL_ROTATION_HORIZON_DAYS"),
        ("page_cap_per_incident", "ONCALL_NOTIFY_PAGE_CAP"),
        ("public_url", "ONCALL_PUBLIC_URL"),
    ):
        if env.get(var):
            raw[field] = env[var]
    auth = {field: env[var] for field, var in _AUTH_ENV.items() if env.get(var)}
    if auth:
        raw["auth"] = auth
    alerts: dict[str, object] = {field: env[var] for field, var in _ALERT_ENV.items() if env.get(var)}
    if "cloudwatch_services" in alerts:
        alerts["cloudwatch_services"] = json.loads(str(alerts["cloudwatch_services"]))
    if alerts:
        raw["alerts"] = alerts
    return Settings.model_validate(raw)


_ALERT_ENV = {
    "rate_per_minute": "ONCALL_ALERTS_RATE_PER_MINUTE",
    "correlation_window_seconds": "ONCALL_ALERTS_CORRELATION_WINDOW_SECONDS",
    "resolve_policy": "ONCALL_ALERTS_RESOLVE_POLICY",
    "insufficient_data": "ONCALL_ALERTS_INSUFFICIENT_DATA",
    "cloudwatch_services": "ONCALL_ALERTS_CLOUDWATCH_SERVICES",
    "grafana_hmac": "ONCALL_ALERTS_GRAFANA_HMAC",
    "grafana_hmac_secret": "ONCALL_ALERTS_GRAFANA_HMAC_SECRET",
}

_AUTH_ENV = {
    "argon2_time_cost": "ONCALL_ARGON2_TIME_COST",
    "argon2_memory_kib": "ONCALL_ARGON2_MEMORY_KIB",
    "argon2_parallelism": "ONCALL_ARGON2_PARALLELISM",
    "access_ttl_seconds": "ONCALL_AUTH_ACCESS_TTL_SECONDS",
    "refresh_ttl_seconds": "ONCALL_AUTH_REFRESH_TTL_SECONDS",
    "refresh_grace_seconds": "ONCALL_AUTH_REFRESH_GRACE_SECONDS",
    "issuer": "ONCALL_AUTH_ISSUER",
    "audience": "ONCALL_AUTH_AUDIENCE",
    "login_failures_per_user": "ONCALL_AUTH_LOGIN_FAILURES_PER_USER",
    "login_failures_per_ip": "ONCALL_AUTH_LOGIN_FAILURES_PER_IP",
    "login_window_seconds": "ONCALL_AUTH_LOGIN_WINDOW_SECONDS",
    "link_code_ttl_seconds": "ONCALL_AUTH_LINK_CODE_TTL_SECONDS",
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return from_env()
