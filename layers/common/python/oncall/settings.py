"""Configuration: one pydantic model per function family, read from environment variables once per cold start.

Every field names the variable it comes from (``env(...)`` below), so a problem is reported with the variable to fix:
a required variable that is not set, or a value that does not parse, raises ``SettingsError`` when the family's
settings are first asked for, which is when the wiring builds the first part that needs them (docs/architecture.md,
"Configuration"). Optional settings have the defaults README's "Configuration" lists; an empty variable counts as
unset unless its field says otherwise.

================== ==================================================== =============================================
model              variables                                            read by
================== ==================================================== =============================================
``Settings``       resources (``ONCALL_TABLE_*``, bus, stage, region),  every function (``get_settings()``)
                   API limits, ``ONCALL_PUBLIC_URL``, auth knobs
                   (``AuthSettings``), alert knobs (``AlertSettings``)
``KeySettings``    ``ONCALL_JWT_KEYS`` or ``ONCALL_SECRET_JWT_KEYS``    the API (token signing keys)
``TelegramSettings`` ``TELEGRAM_*`` and the bot's secrets               the bot; the Telegram channel; deep links
``SlackSettings``  ``SLACK_*`` and the app's secrets                   the Slack app; the Slack channel
``SmsSettings``    ``ONCALL_SMS_*`` and the ack links' key               whoever sends SMS; the API (numbers, links)
``NotificationSettings`` mail (``ONCALL_EMAIL_*``, ``ONCALL_SMTP_*``)   whoever sends (escalation, reminders,
                   and the page queue                                   notifier)
``WebhookDeliverySettings`` ``ONCALL_WEBHOOK_*``, the notifier queue    the API and the notifier
``LifecycleSettings`` the incident-lifecycle state machine              whoever starts or answers it
``GrafanaSettings`` ``ONCALL_ALERTS_GRAFANA_HMAC*`` and its secret      the API's Grafana route
``OidcSettings``   ``ONCALL_OIDC_*`` and the client secret              the API's sign-in routes
``MetricsSettings`` ``ONCALL_METRICS_TOKEN`` or its secret               ``/metrics`` and ``/health/ready``
================== ==================================================== =============================================

``Settings`` has a default for everything, so any function can read it. A family with a required variable (a queue,
a state machine) is a model of its own, parsed only where it is used: functions are given only the resources their
declaration in ``infra/topology.py`` names. Secrets are never values here, only where to find them (``SecretRef``);
``oncall.adapters.secrets`` reads them.

Each field's ``where`` says who sets it: ``both`` (an operator's setting, in the runner's environment and, deployed,
as CDK context ``oncall:<camelCase>``, see ``infra/settings.py``), ``runner`` (local runs and tests only: inline
secrets, an SMTP server) or ``stack`` (derived from the topology by CDK and the runner alike).

Long because every setting the product reads is declared here, beside its variable, default and bounds: one file
answers "what can be configured", and the runner's and the synth's checks walk the same list.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo

TABLE_PREFIX = "ONCALL_TABLE_"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_SLACK_API_URL = "https://slack.com/api"

Where = Literal["both", "runner", "stack"]


class SettingsError(RuntimeError):
    """Settings that are missing or invalid: a configuration error, reported with each variable to fix."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Problem:
    #: the variable to fix (or several, ``A or B``)
    variable: str
    #: the model field it feeds, for the reader of the code
    field: str
    message: str
    #: required but not set (a runner or a synth checks set values only; a family fails on missing ones)
    missing: bool = False

    def __str__(self) -> str:
        where = f"{self.variable} ({self.field})" if self.field else self.variable
        return f"{where}: {self.message}"


def env(
    variable: str,
    default: Any = ...,
    *,
    where: Where = "both",
    empty: bool = False,
    **constraints: Any,
) -> Any:
    """A field read from ``variable``; ``empty=True`` lets an empty value mean something (otherwise it is unset)."""
    if "default_factory" in constraints:
        return Field(validation_alias=variable, json_schema_extra={"where": where, "empty": empty}, **constraints)
    return Field(default, validation_alias=variable, json_schema_extra={"where": where, "empty": empty}, **constraints)


@dataclass(frozen=True)
class SecretRef:
    """Where a secret comes from: inline (local runs and tests) or the name of an SSM SecureString parameter (the
    stack, which keeps secret values out of the environment). ``variables`` names both, for messages."""

    inline: str | None
    secret_id: str | None
    variables: tuple[str, str]

    @property
    def configured(self) -> bool:
        return bool(self.inline or self.secret_id)

    def missing(self) -> SettingsError:
        inline, secret = self.variables
        return SettingsError(
            [Problem(f"{inline} or {secret}", "", "required, neither is set (the secret inline, or its id)", True)]
        )


def _ref(inline: SecretStr | None, secret_id: str | None, variables: tuple[str, str]) -> SecretRef:
    return SecretRef(inline.get_secret_value() if inline is not None else None, secret_id, variables)


class EnvModel(BaseModel):
    """A settings model whose fields are read from environment variables (``env(...)``)."""

    # built on first use, not at import: every handler imports this module and cold starts are counted in ms
    model_config = ConfigDict(frozen=True, defer_build=True, validate_by_name=True, validate_by_alias=True)

    #: a nested family (``Settings.auth``) whose problems are reported under this prefix
    _section: ClassVar[str] = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        source = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        problems: list[Problem] = []
        for name, info in cls.model_fields.items():
            variable = info.validation_alias
            nested = _nested(info)
            if nested is not None:
                try:
                    raw[name] = nested.from_env(source)
                except SettingsError as exc:
                    problems.extend(exc.problems)
            elif isinstance(variable, str):
                value = source.get(variable)
                if value is not None and (value != "" or _extra(info).get("empty")):
                    raw[variable] = value
        raw.update(cls._derived(source))
        try:
            model = cls.model_validate(raw)
        except ValidationError as exc:
            problems.extend(cls._problems(exc))
        if problems:
            raise SettingsError(problems)
        return model

    @classmethod
    def _derived(cls, environ: Mapping[str, str]) -> dict[str, object]:
        """Values that no single variable holds (the table map)."""
        return {}

    @classmethod
    def _problems(cls, exc: ValidationError) -> list[Problem]:
        by_variable = {
            info.validation_alias: name
            for name, info in cls.model_fields.items()
            if isinstance(info.validation_alias, str)
        }
        secret = {
            name
            for name, info in cls.model_fields.items()
            if SecretStr in (info.annotation, *get_args(info.annotation))
        }
        out = []
        for error in exc.errors(include_url=False):
            head = str(error["loc"][0]) if error["loc"] else ""
            field = by_variable.get(head, head)
            label = f"{cls._section}.{field}" if cls._section else field
            if error["type"] == "missing":
                out.append(Problem(head, label, "required, not set", missing=True))
                continue
            message = str(error["msg"]).removeprefix("Value error, ")
            if field not in secret and isinstance(error.get("input"), str):
                message += f", got {error['input'][:80]!r}"
            out.append(Problem(head, label, message))
        return out

    @classmethod
    def variables(cls) -> dict[str, FieldInfo]:
        """Every variable this model (and its nested families) reads, with its field."""
        out: dict[str, FieldInfo] = {}
        for info in cls.model_fields.values():
            nested = _nested(info)
            if nested is not None:
                out.update(nested.variables())
            elif isinstance(info.validation_alias, str):
                out[info.validation_alias] = info
        return out


def _nested(info: FieldInfo) -> type[EnvModel] | None:
    kind = info.annotation
    return kind if isinstance(kind, type) and issubclass(kind, EnvModel) else None


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def where(info: FieldInfo) -> Where:
    return cast(Where, _extra(info).get("where", "both"))


def _http_url(value: str | None, *, https: bool = False) -> str | None:
    from oncall.domain.page_content import safe_url

    if value is None or not value.strip():
        return None
    url = safe_url(value)
    if url is None or (https and not url.lower().startswith("https://")):
        raise ValueError(f"must be an absolute {'https' if https else 'http(s)'} URL")
    return url.rstrip("/")


class AuthSettings(EnvModel):
    """Identity and access knobs (``ONCALL_AUTH_*`` / ``ONCALL_ARGON2_*``). Defaults are production values; tests
    lower the KDF cost and shorten nothing else."""

    _section: ClassVar[str] = "auth"

    #: Argon2id parameters; OWASP's first recommended set (m=19 MiB, t=2, p=1)
    argon2_time_cost: int = env("ONCALL_ARGON2_TIME_COST", 2, ge=1)
    argon2_memory_kib: int = env("ONCALL_ARGON2_MEMORY_KIB", 19 * 1024, ge=8)
    argon2_parallelism: int = env("ONCALL_ARGON2_PARALLELISM", 1, ge=1)
    access_ttl_seconds: int = env("ONCALL_AUTH_ACCESS_TTL_SECONDS", 15 * 60, ge=1)
    refresh_ttl_seconds: int = env("ONCALL_AUTH_REFRESH_TTL_SECONDS", 30 * 24 * 3600, ge=1)
    #: a duplicate refresh within this many seconds returns the same successor (parallel tabs); RFC 9700 §4.14
    refresh_grace_seconds: float = env("ONCALL_AUTH_REFRESH_GRACE_SECONDS", 3.0, ge=0, le=3)
    issuer: str = env("ONCALL_AUTH_ISSUER", "oncall-hub")
    audience: str = env("ONCALL_AUTH_AUDIENCE", "oncall-hub-api")
    #: failed logins tolerated per window, per username and per source IP
    login_failures_per_user: int = env("ONCALL_AUTH_LOGIN_FAILURES_PER_USER", 10, ge=1)
    login_failures_per_ip: int = env("ONCALL_AUTH_LOGIN_FAILURES_PER_IP", 50, ge=1)
    login_window_seconds: int = env("ONCALL_AUTH_LOGIN_WINDOW_SECONDS", 15 * 60, ge=1)
    link_code_ttl_seconds: int = env("ONCALL_AUTH_LINK_CODE_TTL_SECONDS", 600, ge=1)
    #: a warm worker trusts an API token it verified this long: the bound on honouring a revocation or a disabled
    #: owner (0: every request reads)
    api_token_cache_seconds: float = env("ONCALL_AUTH_API_TOKEN_CACHE_SECONDS", 10.0, ge=0, le=300)
    #: comma-separated usernames still allowed to sign in with a password (a break-glass admin) once everyone else
    #: signs in through the identity provider; empty: everyone with a password may
    password_login_users: str = env("ONCALL_AUTH_PASSWORD_LOGIN_USERS", "")


class AlertSettings(EnvModel):
    """Alert ingestion knobs (``ONCALL_ALERTS_*``); see README "Alert ingestion"."""

    _section: ClassVar[str] = "alerts"

    #: new incidents per service per minute; beyond it, alerts join the service's storm incident (never refused)
    rate_per_minute: int = env("ONCALL_ALERTS_RATE_PER_MINUTE", 120, ge=1)
    #: keyless alerts of one service and severity within this many seconds of the first feed one incident
    correlation_window_seconds: int = env("ONCALL_ALERTS_CORRELATION_WINDOW_SECONDS", 300, ge=1)
    #: ``last``: an incident fed by several alert keys resolves when its last open one resolves; ``first``: at once
    resolve_policy: Literal["last", "first"] = env("ONCALL_ALERTS_RESOLVE_POLICY", "last")
    #: what CloudWatch's INSUFFICIENT_DATA means
    insufficient_data: Literal["ignore", "trigger", "resolve"] = env("ONCALL_ALERTS_INSUFFICIENT_DATA", "ignore")
    #: JSON object: CloudWatch alarm ARN or alarm-name prefix → service id or name
    cloudwatch_services: dict[str, str] = env("ONCALL_ALERTS_CLOUDWATCH_SERVICES", default_factory=dict)
    #: how long a warm function reuses the silences it read (a new silence applies everywhere within this time)
    silence_cache_seconds: float = env("ONCALL_ALERTS_SILENCE_CACHE_SECONDS", 5.0, ge=0, le=300)

    @field_validator("cloudwatch_services", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("must be a JSON object (alarm ARN or name prefix → service)") from None
        return value


class Settings(EnvModel):
    """What any function may read; everything has a default (resources a function is not given are absent from
    ``tables`` and ``table()`` says which variable is missing)."""

    stage: str = env("ONCALL_STAGE", "local", where="stack")
    region: str = env("AWS_REGION", "us-east-1", where="stack")
    bus_name: str = env("ONCALL_BUS_NAME", "oncall", where="stack")
    tables: dict[str, str] = Field(default_factory=dict)
    #: largest request body the API accepts, in bytes (API Gateway itself stops at 10 MB)
    max_body_bytes: int = env("ONCALL_MAX_BODY_BYTES", 256 * 1024, ge=1)
    #: how long an Idempotency-Key is remembered
    idempotency_ttl_seconds: int = env("ONCALL_IDEMPOTENCY_TTL_SECONDS", 24 * 3600, ge=1)
    #: longest shift accepted; default 14 days
    max_shift_hours: int = env("ONCALL_MAX_SHIFT_HOURS", 14 * 24, ge=1)
    #: how far ahead rotations are materialised into shifts
    rotation_horizon_days: int = env("ONCALL_ROTATION_HORIZON_DAYS", 56, ge=1, le=366)
    #: pages and escalations one person receives per incident before further ones are dropped as ``capped``
    page_cap_per_incident: int = env("ONCALL_NOTIFY_PAGE_CAP", 10, ge=1)
    #: how long an audit record is kept before it expires
    audit_retention_days: int = env("ONCALL_AUDIT_RETENTION_DAYS", 400, ge=1, le=3650)
    #: the product's public base URL (the API's); pages link to ``<public_url>/incidents/<id>``, and carry no link
    #: without it. Deployed, CDK sets the HTTP API's URL unless ``oncall:publicUrl`` says otherwise
    public_url: str | None = env("ONCALL_PUBLIC_URL", None)
    #: browser origins allowed to call the API cross-origin (comma-separated ``scheme://host[:port]``); empty: CORS
    #: off, browsers on other sites cannot read any answer
    cors_origins: str = env("ONCALL_CORS_ORIGINS", "")
    auth: AuthSettings = Field(default_factory=AuthSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @field_validator("public_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        return _http_url(value)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        found = [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        for origin in found:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path, no wildcard)")
        return ",".join(o.lower() for o in found)

    @classmethod
    def _derived(cls, environ: Mapping[str, str]) -> dict[str, object]:
        return {
            "tables": {
                key[len(TABLE_PREFIX) :].lower().replace("_", "-"): value
                for key, value in environ.items()
                if key.startswith(TABLE_PREFIX) and value
            }
        }

    def table(self, name: str) -> str:
        """Physical name of the logical table ``name``; a missing one is a deployment error, said plainly."""
        try:
            return self.tables[name]
        except KeyError:
            raise SettingsError(
                [Problem(f"{TABLE_PREFIX}{name.upper().replace('-', '_')}", "tables", "required, not set", True)]
            ) from None


class KeySettings(EnvModel):
    """The API's token signing keys (``oncall.security.keys`` explains the format and rotation)."""

    jwt_keys: SecretStr | None = env("ONCALL_JWT_KEYS", None, where="runner")
    jwt_keys_secret_id: str | None = env("ONCALL_SECRET_JWT_KEYS", None, where="stack")

    @property
    def keys(self) -> SecretRef:
        return _ref(self.jwt_keys, self.jwt_keys_secret_id, ("ONCALL_JWT_KEYS", "ONCALL_SECRET_JWT_KEYS"))


class TelegramSettings(EnvModel):
    """The bot and the Telegram channel. Without a token nothing is sent to Telegram; the telegram function requires
    the token and the webhook secret (its wiring asks for both)."""

    api_url: str = env("TELEGRAM_API_URL", DEFAULT_TELEGRAM_API_URL)
    #: the bot's public @username, for ``t.me`` deep links; unset: asked from getMe with an inline token, else none
    bot_username: str | None = env("TELEGRAM_BOT_USERNAME", None)
    bot_token: SecretStr | None = env("TELEGRAM_BOT_TOKEN", None, where="runner")
    bot_token_secret_id: str | None = env("ONCALL_SECRET_TELEGRAM_BOT_TOKEN", None, where="stack")
    webhook_secret: SecretStr | None = env("TELEGRAM_WEBHOOK_SECRET", None, where="runner")
    webhook_secret_secret_id: str | None = env("ONCALL_SECRET_TELEGRAM_WEBHOOK_SECRET", None, where="stack")

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _http_url(value) or DEFAULT_TELEGRAM_API_URL

    @field_validator("bot_username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        return (value.strip().lstrip("@") or None) if value else None

    @property
    def bot_token_ref(self) -> SecretRef:
        return _ref(
            self.bot_token, self.bot_token_secret_id, ("TELEGRAM_BOT_TOKEN", "ONCALL_SECRET_TELEGRAM_BOT_TOKEN")
        )

    @property
    def webhook_secret_ref(self) -> SecretRef:
        return _ref(
            self.webhook_secret,
            self.webhook_secret_secret_id,
            ("TELEGRAM_WEBHOOK_SECRET", "ONCALL_SECRET_TELEGRAM_WEBHOOK_SECRET"),
        )


class SlackSettings(EnvModel):
    """The Slack app (one workspace per deployment) and the Slack channel. Without a bot token nothing is sent to
    Slack; the slack function requires the token and the signing secret (its wiring asks for both)."""

    api_url: str = env("SLACK_API_URL", DEFAULT_SLACK_API_URL)
    bot_token: SecretStr | None = env("SLACK_BOT_TOKEN", None, where="runner")
    bot_token_secret_id: str | None = env("ONCALL_SECRET_SLACK_BOT_TOKEN", None, where="stack")
    signing_secret: SecretStr | None = env("SLACK_SIGNING_SECRET", None, where="runner")
    signing_secret_secret_id: str | None = env("ONCALL_SECRET_SLACK_SIGNING_SECRET", None, where="stack")

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        return _http_url(value) or DEFAULT_SLACK_API_URL

    @property
    def bot_token_ref(self) -> SecretRef:
        return _ref(self.bot_token, self.bot_token_secret_id, ("SLACK_BOT_TOKEN", "ONCALL_SECRET_SLACK_BOT_TOKEN"))

    @property
    def signing_secret_ref(self) -> SecretRef:
        return _ref(
            self.signing_secret,
            self.signing_secret_secret_id,
            ("SLACK_SIGNING_SECRET", "ONCALL_SECRET_SLACK_SIGNING_SECRET"),
        )


class SmsSettings(EnvModel):
    """SMS through Amazon SNS: off unless enabled; on, the cost caps bound what a storm can spend, and the ack links'
    key signs every link (without it pages go without a link)."""

    enabled: bool = env("ONCALL_SMS_ENABLED", False)
    per_person_per_hour: int = env("ONCALL_SMS_PER_PERSON_PER_HOUR", 10, ge=1, le=1000)
    global_per_hour: int = env("ONCALL_SMS_GLOBAL_PER_HOUR", 100, ge=1, le=100_000)
    link_minutes: int = env("ONCALL_SMS_LINK_MINUTES", 60, ge=5, le=1440)
    link_key: SecretStr | None = env("ONCALL_SMS_LINK_KEY", None, where="runner")
    link_key_secret_id: str | None = env("ONCALL_SECRET_SMS_LINK_KEY", None, where="stack")

    @property
    def link_key_ref(self) -> SecretRef:
        return _ref(self.link_key, self.link_key_secret_id, ("ONCALL_SMS_LINK_KEY", "ONCALL_SECRET_SMS_LINK_KEY"))


class NotificationSettings(EnvModel):
    """Mail, and the page queue. Mail is on when a sender or an SMTP server is configured; the queue is given only
    to the function that flushes queued pages (elsewhere nothing is queued)."""

    pages_queue_url: str | None = env("ONCALL_QUEUE_PAGES", None, where="stack")
    #: the From address (an SES verified identity); with only an SMTP server, the mail adapter's placeholder
    email_sender: str | None = env("ONCALL_EMAIL_SENDER", None)
    #: https URL for one-click unsubscribe on non-page mail (a ``mailto:`` to the sender is always listed)
    email_unsubscribe_url: str | None = env("ONCALL_EMAIL_UNSUBSCRIBE_URL", None)
    #: messages per second across all functions (SES sandbox: 1)
    email_rate: int = env("ONCALL_EMAIL_RATE", 10, ge=1)
    smtp_host: str | None = env("ONCALL_SMTP_HOST", None, where="runner")
    smtp_port: int = env("ONCALL_SMTP_PORT", 25, ge=1, le=65535, where="runner")

    @field_validator("email_unsubscribe_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        return _http_url(value, https=True)

    @field_validator("email_sender")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        from email.utils import parseaddr

        if value is not None and "@" not in parseaddr(value)[1]:
            raise ValueError("must be an email address, optionally with a name: Name <local@domain>")
        return value

    @property
    def mail_enabled(self) -> bool:
        return bool(self.email_sender or self.smtp_host)


class WebhookDeliverySettings(EnvModel):
    """Outgoing webhooks: the notifier queue attempts travel on, the SSRF allow-list and the retry policy. Defaults
    are ``oncall.services.webhooks.WebhookSettings``'s (a test holds them equal)."""

    queue_url: str = env("ONCALL_QUEUE_NOTIFIER", where="stack")
    #: hosts and CIDRs exempt from the SSRF guard (local receivers)
    allowlist: str = env("ONCALL_WEBHOOK_ALLOWLIST", "")
    #: seconds after the 1st, 2nd, ... failed attempt; empty: no retries
    retry_schedule: tuple[int, ...] = env(
        "ONCALL_WEBHOOK_RETRY_SCHEDULE", (5, 300, 1800, 7200, 18000, 36000, 36000), empty=True
    )
    timeout_seconds: float = env("ONCALL_WEBHOOK_TIMEOUT_SECONDS", 10.0, gt=0, le=15)
    disable_after: int = env("ONCALL_WEBHOOK_DISABLE_AFTER", 5, ge=1)
    rotation_overlap_seconds: int = env("ONCALL_WEBHOOK_ROTATION_OVERLAP_SECONDS", 24 * 3600, ge=0)
    #: must exceed the timeout: a crash mid-attempt is retried after it
    lease_seconds: float = env("ONCALL_WEBHOOK_LEASE_SECONDS", 60.0, gt=0)
    sweep_grace_seconds: float = env("ONCALL_WEBHOOK_SWEEP_GRACE_SECONDS", 600.0, gt=0)
    sweep_batch: int = env("ONCALL_WEBHOOK_SWEEP_BATCH", 500, ge=1)

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        from oncall.domain.errors import InvalidInput
        from oncall.domain.webhooks import parse_schedule

        try:
            return parse_schedule(value)
        except InvalidInput as exc:
            raise ValueError(str(exc.details["fields"][0]["message"])) from None


class LifecycleSettings(EnvModel):
    """The incident-lifecycle state machine: required wherever incidents are started or their waits answered."""

    state_machine_arn: str = env("ONCALL_STATE_MACHINE_INCIDENT_LIFECYCLE", where="stack")


class GrafanaSettings(EnvModel):
    """Grafana webhook signatures: ``required`` checks ``X-Grafana-Alerting-Signature`` under the secret
    ``grafana-webhook-hmac``; an inline secret (local runs, tests) implies ``required``."""

    hmac: Literal["off", "required"] = env("ONCALL_ALERTS_GRAFANA_HMAC", "off")
    hmac_secret: SecretStr | None = env("ONCALL_ALERTS_GRAFANA_HMAC_SECRET", None, where="runner")
    hmac_secret_id: str | None = env("ONCALL_SECRET_GRAFANA_WEBHOOK_HMAC", None, where="stack")

    @property
    def secret(self) -> SecretRef | None:
        """Where the secret is, or None when signatures are not checked."""
        if self.hmac_secret is None and self.hmac != "required":
            return None
        return _ref(
            self.hmac_secret,
            self.hmac_secret_id,
            ("ONCALL_ALERTS_GRAFANA_HMAC_SECRET", "ONCALL_SECRET_GRAFANA_WEBHOOK_HMAC"),
        )


class MetricsSettings(EnvModel):
    """The bearer token of ``GET /metrics`` and ``GET /health/ready``: ``ONCALL_METRICS_TOKEN`` locally, the secret
    ``metrics-token`` in AWS. Neither set: those routes answer only signed-in admins."""

    token: SecretStr | None = env("ONCALL_METRICS_TOKEN", None, where="runner")
    token_id: str | None = env("ONCALL_SECRET_METRICS_TOKEN", None, where="stack")
    #: which EMF metrics the functions emit: CloudWatch bills each metric (name and dimension values) $0.30 a month,
    #: prorated by the hours it is sent; ``business`` leaves out the cold starts and handler errors (Lambda's own free
    #: ``Errors`` and Init Duration cover them per function), ``off`` emits none (Prometheus still works)
    emf: Literal["all", "business", "off"] = env("ONCALL_METRICS_EMF", "all")

    @property
    def secret(self) -> SecretRef | None:
        if self.token is None and self.token_id is None:
            return None
        return _ref(self.token, self.token_id, ("ONCALL_METRICS_TOKEN", "ONCALL_SECRET_METRICS_TOKEN"))


class OidcSettings(EnvModel):
    """Single sign-on with one OpenID Connect provider (``ONCALL_OIDC_*``): on when ``ONCALL_OIDC_ISSUER`` is set.
    The client secret is the secret ``oidc-client-secret`` in AWS, ``ONCALL_OIDC_CLIENT_SECRET`` locally."""

    issuer: str | None = env("ONCALL_OIDC_ISSUER", None)
    client_id: str | None = env("ONCALL_OIDC_CLIENT_ID", None)
    client_secret: SecretStr | None = env("ONCALL_OIDC_CLIENT_SECRET", None, where="runner")
    client_secret_id: str | None = env("ONCALL_SECRET_OIDC_CLIENT_SECRET", None, where="stack")
    scopes: str = env("ONCALL_OIDC_SCOPES", "openid email profile")
    #: where the provider sends the browser back; default ``<ONCALL_PUBLIC_URL>/auth/oidc/callback``
    redirect_url: str | None = env("ONCALL_OIDC_REDIRECT_URL", None)
    #: comma-separated email domains allowed to sign in; empty: any the provider vouches for
    allowed_domains: str = env("ONCALL_OIDC_ALLOWED_DOMAINS", "")
    provisioning: Literal["invited", "jit"] = env("ONCALL_OIDC_PROVISIONING", "invited")
    default_role: Literal["viewer", "responder"] = env("ONCALL_OIDC_DEFAULT_ROLE", "viewer")
    groups_claim: str = env("ONCALL_OIDC_GROUPS_CLAIM", "groups")
    #: JSON: group → global role, e.g. ``{"oncall-admins": "admin"}``
    group_roles: str = env("ONCALL_OIDC_GROUP_ROLES", "{}")
    #: JSON: group → {team id: team role}, e.g. ``{"payments-sre": {"01J...": "manager"}}``
    group_teams: str = env("ONCALL_OIDC_GROUP_TEAMS", "{}")
    #: with group mappings: someone in none of the mapped groups cannot sign in (and a linked person is disabled)
    require_group: bool = env("ONCALL_OIDC_REQUIRE_GROUP", False)

    @field_validator("group_roles", "group_teams")
    @classmethod
    def _json_object(cls, value: str) -> str:
        if not isinstance(json.loads(value or "{}"), dict):
            raise ValueError("a JSON object")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @property
    def secret(self) -> SecretRef:
        return _ref(
            self.client_secret, self.client_secret_id, ("ONCALL_OIDC_CLIENT_SECRET", "ONCALL_SECRET_OIDC_CLIENT_SECRET")
        )


#: every family, for the checks that run before anything starts (the runner, the CDK synth) and the README's table
MODELS: tuple[type[EnvModel], ...] = (
    Settings,
    KeySettings,
    TelegramSettings,
    SlackSettings,
    SmsSettings,
    NotificationSettings,
    WebhookDeliverySettings,
    LifecycleSettings,
    GrafanaSettings,
    OidcSettings,
    MetricsSettings,
)


def check(environ: Mapping[str, str]) -> list[Problem]:
    """Problems with the values that are set, in every family; what is missing is left to the functions, which are
    given only their own resources."""
    problems: list[Problem] = []
    for model in MODELS:
        try:
            model.from_env(environ)
        except SettingsError as exc:
            problems.extend(p for p in exc.problems if not p.missing)
    return problems


class _Loaded:
    """Each family parsed once per execution environment, until ``cache_clear`` (tests; ``wiring.reset()``)."""

    def __init__(self) -> None:
        self._models: dict[type[EnvModel], EnvModel] = {}
        self._lock = threading.Lock()

    def __call__(self) -> Settings:
        return self.family(Settings)

    def family[M: EnvModel](self, model: type[M]) -> M:
        with self._lock:
            found = self._models.get(model)
            if found is None:
                found = self._models[model] = model.from_env()
            return cast(M, found)

    def cache_clear(self) -> None:
        with self._lock:
            self._models.clear()


#: ``get_settings()`` is every function's ``Settings``; ``load(Family)`` a family's
get_settings = _Loaded()


def load[M: EnvModel](model: type[M]) -> M:
    return get_settings.family(model)


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    return Settings.from_env(environ)
