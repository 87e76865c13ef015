"""Deployment settings: CDK context in, validated by the product's own settings models, out as function environment.

Every operator setting the functions read (the fields ``where="both"`` in ``oncall/settings.py``) has a context key
derived from its variable: drop ``ONCALL_``, camelCase the rest, prefix ``oncall:`` (``ONCALL_ALERTS_RATE_PER_MINUTE``
→ ``oncall:alertsRatePerMinute``, ``TELEGRAM_BOT_USERNAME`` → ``oncall:telegramBotUsername``). Give them in
``cdk.json``'s ``context`` or on the command line (``make deploy ARGS="-c oncall:publicUrl=https://..."``); README
"Configuration" lists them all. A set value reaches every function, as the local runner hands every ``ONCALL_*``
setting to every worker; an unset one keeps the documented default. Secrets are never settings here: they live in
SSM SecureString parameters, and their inline variables are for local runs only.

The stack's own knobs (name, log retention, tracing and workflow logging, API throttling, reserved concurrency) are
``StackSettings``; their defaults are sized for a 1,000 alerts/s storm (README "Sizing and limits"). An
``oncall:`` key that is neither is a typo and fails the synth, as does a value the product's models refuse (named by
key and variable), so a bad setting never reaches a deployed function.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from infra.topology import ROOT

LAYER_PATH = ROOT / "layers" / "common" / "python"
if str(LAYER_PATH) not in sys.path:
    sys.path.insert(0, str(LAYER_PATH))

from oncall import settings as product  # noqa: E402

PREFIX = "oncall:"
#: retention periods CloudWatch Logs accepts among the ones we offer
RETENTION_DAYS = (1, 3, 7, 14, 30, 60, 90, 180, 365)


class DeploySettingsError(ValueError):
    """A context value is unknown or invalid; the message names each key."""


def context_key(variable: str) -> str:
    words = variable.removeprefix("ONCALL_").lower().split("_")
    return PREFIX + words[0] + "".join(w.title() for w in words[1:])


def _deployable() -> dict[str, str]:
    out: dict[str, str] = {}
    for model in product.MODELS:
        for variable, info in model.variables().items():
            if product.where(info) == "both":
                out[context_key(variable)] = variable
    return out


#: context key → variable, for every setting an operator may deploy
DEPLOYABLE: dict[str, str] = _deployable()


class StackSettings(BaseModel):
    """The stack's knobs (not read by the functions)."""

    model_config = ConfigDict(frozen=True, validate_by_alias=True, validate_by_name=True)

    stack_name: str = Field("OnCallHub", alias="oncall:stackName", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
    #: every log group: functions, API access log, state machines
    log_retention_days: int = Field(30, alias="oncall:logRetentionDays")
    #: HTTP API stage default throttling (requests/s, burst): people, the bot and API clients; routes may set their
    #: own in the topology
    throttle_rate: float = Field(200, alias="oncall:throttleRate", gt=0)
    throttle_burst: int = Field(400, alias="oncall:throttleBurst", ge=0)
    #: the alert intake routes' throttling (``Route.ingest``): a 1,000 alerts/s storm of one alert per request with
    #: half again as headroom; Alertmanager and Grafana batch, so they use far fewer requests
    ingest_throttle_rate: float = Field(1500, alias="oncall:ingestThrottleRate", gt=0)
    ingest_throttle_burst: int = Field(3000, alias="oncall:ingestThrottleBurst", ge=0)
    #: false: no function reserves concurrency (an account whose Lambda quota is below the reservations plus the
    #: 100 AWS keeps unreserved cannot deploy them)
    reserve_concurrency: bool = Field(True, alias="oncall:reserveConcurrency")
    #: per function, replaces the topology's ``reserved_concurrency`` (null: none); JSON object or its text
    reserved_concurrency: dict[str, int | None] = Field(default_factory=dict, alias="oncall:reservedConcurrency")
    #: X-Ray active tracing of functions and workflows (Lambda samples the first request each second and 5 % of the
    #: rest; that rate is not configurable for Lambda)
    tracing: bool = Field(True, alias="oncall:tracing")
    #: what state machines log: ALL (every transition, with execution data), ERROR, FATAL or OFF
    workflow_log_level: Literal["ALL", "ERROR", "FATAL", "OFF"] = Field("ALL", alias="oncall:workflowLogLevel")
    #: which CloudWatch alarms the stack keeps ($0.10 each a month): ``failures`` (default) what was lost or refused
    #: — every dead-letter queue, the API function's errors, failed lifecycle executions; ``all`` also every other
    #: function's errors (which include errors a retry then absorbed); ``off`` none
    alarms: Literal["failures", "all", "off"] = Field("failures", alias="oncall:alarms")
    #: the CloudWatch dashboard ($3 a month beyond an account's first three) and, unless ``oncall:metricsEmf`` says
    #: otherwise, the EMF metrics it draws (~$0.30 a metric a month); off by default: the console's analytics, the
    #: stats API and ``GET /metrics`` answer the same questions at no monthly cost
    dashboard: bool = Field(False, alias="oncall:dashboard")
    #: template tests only: synthesize with a stand-in dependency layer
    allow_missing_deps_layer: bool = Field(False, alias="oncall:allowMissingDepsLayer")

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in RETENTION_DAYS:
            raise ValueError(f"must be one of {list(RETENTION_DAYS)}")
        return value

    @field_validator("reserved_concurrency", mode="before")
    @classmethod
    def _reservations_text(cls, value: object) -> object:
        # -c gives text; cdk.json gives the object itself
        if isinstance(value, str):
            try:
                return json.loads(value) if value.strip() else {}
            except ValueError as exc:
                raise ValueError(f"not JSON: {exc}") from exc
        return value

    @field_validator("reserved_concurrency")
    @classmethod
    def _reservations(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        low = sorted(name for name, n in value.items() if n is not None and n < 1)
        if low:
            raise ValueError(f"reserved concurrency must be at least 1 (null for none): {low}")
        return value

    def reservations(self, declared: Mapping[str, int | None]) -> dict[str, int]:
        """Reserved concurrency per function: the topology's, replaced per function by the deployment's; none at
        all when reservations are off. A name the topology does not declare is an error."""
        unknown = sorted(set(self.reserved_concurrency) - set(declared))
        if unknown:
            raise DeploySettingsError(f"oncall:reservedConcurrency: no such function {unknown}")
        if not self.reserve_concurrency:
            return {}
        merged = {**declared, **self.reserved_concurrency}
        return {name: n for name, n in merged.items() if n is not None}


STACK_KEYS = frozenset(str(info.alias) for info in StackSettings.model_fields.values())


@dataclass(frozen=True)
class DeploySettings:
    stack: StackSettings
    #: variable → value for every product setting given (``ONCALL_PUBLIC_URL`` and mail included; the stack decides
    #: who gets those two)
    environment: dict[str, str]


def refused(environ: Mapping[str, str]) -> list[str]:
    """What the functions would refuse among the values set, each naming its variable (the runner checks its
    environment with this before it starts)."""
    return [str(p) for p in product.check(environ)]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def from_context(context: Mapping[str, Any]) -> DeploySettings:
    """The deployment's settings from CDK context (``App.node.get_all_context()``)."""
    problems: list[str] = []
    ours = {k: v for k, v in context.items() if k.startswith(PREFIX) and v is not None}
    for key in sorted(set(ours) - STACK_KEYS - set(DEPLOYABLE)):
        near = difflib.get_close_matches(key, [*STACK_KEYS, *DEPLOYABLE], n=1)
        problems.append(f"{key}: not a setting" + (f" (did you mean {near[0]}?)" if near else ""))
    try:
        stack = StackSettings.model_validate({k: v for k, v in ours.items() if k in STACK_KEYS})
    except ValidationError as exc:
        stack = StackSettings.model_validate({})
        problems.extend(
            f"{'.'.join(map(str, e['loc']))}: {str(e['msg']).removeprefix('Value error, ')}, got {e['input']!r}"
            for e in exc.errors()
        )
    environment = {DEPLOYABLE[k]: _text(v) for k, v in ours.items() if k in DEPLOYABLE and _text(v) != ""}
    keys = {variable: key for key, variable in DEPLOYABLE.items()}
    problems.extend(
        f"{keys.get(p.variable, p.variable)} ({p.variable}): {p.message}" for p in product.check(environment)
    )
    if problems:
        raise DeploySettingsError("invalid deployment settings: " + "; ".join(problems))
    if "ONCALL_METRICS_EMF" not in environment:
        # custom metrics are billed per metric a month, and without the dashboard nothing in the stack reads them
        environment["ONCALL_METRICS_EMF"] = "all" if stack.dashboard else "off"
    if "TELEGRAM_BOT_USERNAME" in environment:
        environment["TELEGRAM_BOT_USERNAME"] = environment["TELEGRAM_BOT_USERNAME"].strip().lstrip("@")
    return DeploySettings(stack, environment)
