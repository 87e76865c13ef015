"""The one declaration of what OnCall Hub runs: functions, tables, HTTP routes, bus rules, schedules, state machines.

Plain Python on purpose: the CDK app (``infra/app.py``) and the local runner (``infra/local``) both build from it, and
neither may add a resource that is not declared here. ``tests/infra/test_topology.py`` proves the synthesized template
and this declaration agree.

Names are logical: CDK derives physical names, the runner uses ``oncall-<name>``. A function learns its resources
through environment variables (``ONCALL_TABLE_<NAME>``, ``ONCALL_BUS_NAME``, ...) set by whichever of the two runs it.

Long because it is the whole declaration in one place: a function's tables, queues, rules and schedules are read
side by side, and splitting them across files would hide the very cross-references this file exists to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parent.parent

Access = Literal["read", "write"]


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str | None = None
    #: attributes projected besides the keys; None projects all
    include: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Table:
    name: str
    pk: str
    sk: str | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None
    #: NEW_AND_OLD_IMAGES stream, consumed by the function named in ``stream_consumer``
    stream_consumer: str | None = None
    #: on-demand warm throughput (read, write units/s) the base table is pre-warmed to, so a storm's first minutes
    #: are not throttled while DynamoDB splits partitions; None keeps DynamoDB's defaults (12,000 / 4,000, also the
    #: least one may declare)
    warm_throughput: tuple[int, int] | None = None
    #: access patterns, kept next to the keys so a reader sees why each index exists
    doc: str = ""

    @property
    def env_var(self) -> str:
        return "ONCALL_TABLE_" + self.name.upper().replace("-", "_")


@dataclass(frozen=True)
class Function:
    name: str
    #: ``functions/<name>/handler.py`` exposes ``handler``
    memory_mb: int = 256
    timeout_s: int = 10
    tables: dict[str, Access] = field(default_factory=dict)
    #: may put events on the ``oncall`` bus
    publishes: bool = False
    #: may start / signal the lifecycle state machine
    state_machines: tuple[str, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    #: maximum concurrent executions the runner allows
    local_concurrency: int = 4
    #: AWS reserved concurrency: both a guarantee (an ingestion flood cannot starve it of the account's pool) and a
    #: cap (it cannot take more); None leaves the function on the unreserved pool. Deployments may change it
    #: (``oncall:reservedConcurrency``); README "Sizing and limits" explains the figures
    reserved_concurrency: int | None = None
    #: secrets (SSM SecureString parameters) the function may read; it gets ``ONCALL_SECRET_<NAME>`` = the parameter's
    #: name
    secrets: tuple[str, ...] = ()
    #: declared queues the function may send to; it gets ``ONCALL_QUEUE_<NAME>`` = the queue URL
    queues: tuple[str, ...] = ()
    #: may send mail through SES (``ses:SendEmail`` on the account's identities)
    sends_email: bool = False
    #: may send SMS through SNS (``sns:Publish`` to phone numbers only, never to a topic, and the opt-out check)
    sends_sms: bool = False
    #: serves ``GET /health/ready``: may describe the bus and its state machines (each scoped to that resource; its
    #: tables' ``DescribeTable`` comes with any access to them)
    checks_readiness: bool = False
    #: only tests set this (fixture functions live under tests/); product functions live in functions/<name>
    source_dir: Path | None = None

    @property
    def code_dir(self) -> Path:
        return self.source_dir or ROOT / "functions" / self.name

    @property
    def handler(self) -> str:
        return "handler.handler"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    function: str
    #: per-route stage throttling (requests/s, burst); None inherits the stage default
    throttle: tuple[float, int] | None = None
    #: an alert intake route: throttled by the deployment's ingestion limits (``oncall:ingestThrottleRate`` /
    #: ``oncall:ingestThrottleBurst``), sized for a storm, instead of the stage default sized for people
    ingest: bool = False

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Target:
    kind: Literal["function", "state_machine", "queue"]
    name: str


@dataclass(frozen=True)
class Queue:
    """An SQS queue with a dead-letter queue (after ``max_receive_count`` receives) consumed by ``consumer`` through
    an event source mapping that reports partial batch failures (only the failed messages come back)."""

    name: str
    consumer: str
    batch_size: int = 10
    max_receive_count: int = 5
    #: how long a received message stays invisible; AWS advises ≥ 6× the consumer's timeout
    visibility_timeout_s: int = 300
    #: the event source mapping's maximum concurrency (2-1000); CDK lowers it to the consumer's reserved concurrency
    #: so Lambda never throttles a batch back onto the queue (which would spend its receives towards the DLQ)
    max_concurrency: int | None = None
    doc: str = ""

    @property
    def env_var(self) -> str:
        return "ONCALL_QUEUE_" + self.name.upper().replace("-", "_")


@dataclass(frozen=True)
class Rule:
    name: str
    #: ``oncall`` for our bus, ``default`` for AWS service events (CloudWatch alarms)
    bus: Literal["oncall", "default"]
    pattern: dict[str, object]
    targets: tuple[Target, ...]


@dataclass(frozen=True)
class Schedule:
    name: str
    #: EventBridge ``rate(...)`` or six-field ``cron(...)``
    expression: str
    function: str


@dataclass(frozen=True)
class StateMachine:
    name: str
    definition: Path
    #: ``${Name}`` placeholders in the ASL, each resolved to the ARN of the named function
    function_substitutions: dict[str, str] = field(default_factory=dict)

    @property
    def env_var(self) -> str:
        """Set on every function that declares this state machine: its ARN (AWS) or the emulator's ARN (runner)."""
        return "ONCALL_STATE_MACHINE_" + self.name.upper().replace("-", "_")


BUS_NAME = "oncall"


@dataclass(frozen=True)
class Secret:
    name: str
    doc: str = ""

    @property
    def env_var(self) -> str:
        return "ONCALL_SECRET_" + self.name.upper().replace("-", "_")


SECRETS: tuple[Secret, ...] = (
    Secret(
        name="jwt-keys",
        doc=(
            'JWT signing keys for the API: a JSON object {"current": "<kid>", "<kid>": "<secret, 32+ chars>"} '
            "(older kids stay until their tokens expire, so rotation logs nobody out); a plain string is taken as one "
            "key (the generated 64 letters and digits are one)."
        ),
    ),
    Secret(
        name="telegram-bot-token",
        doc=(
            "The Telegram bot token from @BotFather (<bot id>:<secret>). The generated value is a placeholder: store "
            "the real token after the first deploy with python -m infra.telegram_webhook --token-stdin."
        ),
    ),
    Secret(
        name="oidc-client-secret",
        doc=(
            "The client secret of the product's application at the identity provider (OpenID Connect). The generated "
            "value is a placeholder: put the provider's secret here when ONCALL_OIDC_ISSUER is set."
        ),
    ),
    Secret(
        name="grafana-webhook-hmac",
        doc=(
            "The HMAC secret Grafana's webhook contact point signs deliveries with (generated: put the same value in "
            "the contact point's HMAC signature setting). Checked only when the api function runs with "
            "ONCALL_ALERTS_GRAFANA_HMAC=required."
        ),
    ),
    Secret(
        name="metrics-token",
        doc=(
            "The bearer token Prometheus sends to GET /metrics and monitors send to GET /health/ready (generated: 64 "
            "letters and digits; put the same value in the scrape job's authorization credentials)."
        ),
    ),
    Secret(
        name="slack-bot-token",
        doc=(
            "The Slack app's bot token (xoxb-...), from the app's OAuth & Permissions page after installing it to the "
            "workspace. The generated value is a placeholder: put the real token after the first deploy."
        ),
    ),
    Secret(
        name="slack-signing-secret",
        doc=(
            "The Slack app's signing secret (Basic Information → App Credentials): every request from Slack is "
            "verified with it. The generated value is a placeholder: put the app's value after the first deploy."
        ),
    ),
    Secret(
        name="sms-link-key",
        doc=(
            "The key SMS acknowledgement links are signed with (generated: 64 letters and digits). Rotating it "
            "invalidates the links already sent, which expire within ONCALL_SMS_LINK_MINUTES anyway."
        ),
    ),
    Secret(
        name="telegram-webhook-secret",
        doc=(
            "The secret Telegram sends in X-Telegram-Bot-Api-Secret-Token with every update (generated: 64 letters "
            "and digits, within Telegram's 1-256 [A-Za-z0-9_-]); make telegram-webhook registers it with the URL."
        ),
    ),
)

#: what the sharded status index carries besides its keys: what the list filters read (the task token and the alert
#: counters stay off it: arming a token or counting an alert writes nothing there)
_INCIDENT_INDEX_ATTRIBUTES = ("id", "incident_status", "service_id", "severity", "source")

TABLES: tuple[Table, ...] = (
    Table(
        name="users",
        pk="pk",
        sk="sk",
        indexes=(
            Index(name="by-username", pk="list_pk", sk="username"),
            Index(name="by-telegram-chat", pk="telegram_chat_id", include=()),
        ),
        ttl_attribute="expires_at",
        doc=(
            "Users (USER#<id>/PROFILE: read once per authenticated request), username guards (USERNAME#<name>/GUARD, "
            "written in the user's transaction so names stay unique) and hashed one-time Telegram link codes "
            "(LINK#<sha256>/CODE, TTL). by-username lists users in name order (sparse: deleted users drop out); "
            "by-telegram-chat answers the bot's 'who is this chat'. "
            "Details: oncall/adapters/dynamodb/identity.py."
        ),
    ),
    Table(
        name="auth",
        pk="pk",
        sk="sk",
        ttl_attribute="expires_at",
        doc=(
            "Refresh-token families (FAMILY#<sid>) and tokens (REFRESH#<jti>: active/rotated, successor for the grace) "
            "and failed-login counters per username and source IP per window (LOGINFAIL#...); everything expires."
        ),
    ),
    Table(
        name="schedules",
        pk="pk",
        sk="sk",
        indexes=(
            Index(name="by-kind", pk="kind", sk="kind_sort"),
            Index(name="by-team", pk="team_kind", sk="kind_sort"),
        ),
        doc=(
            "Schedules (SCHED#<id>/META, whose version is the S1 guard), each shift three times in one transaction: "
            "SCHED#<id>/AT#<start>#<shift> (schedule view by start: overlap neighbours, predecessor, who is on call at "
            "T, list by window), SCHED#<id>/SHIFT#<shift> (by id; a tombstone for a removed rotation slot) and "
            "USER#<uid>/AT#<start>#<shift> (person view: S2 neighbours, /me/shifts, personal calendar); "
            "USER#<uid>/GUARD is the S2 guard. Base-table items, not GSIs, because the overlap check must read "
            "strongly consistently. Rotation rules SCHED#<id>/ROT#<rid>; feed-token hashes <owner>/FEED. "
            "by-kind (sparse: kind = SCHEDULE | ROTATION) lists schedules by name and rotations for the hourly job; "
            "by-team (team_kind = <team>#SCHEDULE) "
            "lists one team's schedules. "
            "Details: oncall/adapters/dynamodb/schedules.py."
        ),
    ),
    Table(
        name="outbox",
        pk="pk",
        sk="sk",
        ttl_attribute="expires_at",
        stream_consumer="publisher",
        doc=(
            "Domain events written in the same transaction as the change they describe (pk = entity key, "
            "sk = version). The stream hands each INSERT to the publisher, which puts it on the bus; "
            "items expire after a day."
        ),
    ),
    Table(
        name="incidents",
        pk="pk",
        sk="sk",
        indexes=(
            Index(name="by-created", pk="list_pk", sk="created_sk"),
            # the status index before it was sharded: neither read nor written (META's status is now incident_status,
            # not this key), kept so an existing stack upgrades in one deploy (CloudFormation creates or deletes one
            # index per update); a later release removes it
            Index(name="by-status", pk="status", sk="created_sk"),
            Index(name="by-service", pk="service_id", sk="created_sk"),
            Index(name="by-status-sharded", pk="status_pk", sk="created_sk", include=_INCIDENT_INDEX_ATTRIBUTES),
        ),
        ttl_attribute="expires_at",
        # bench/keys.py: 1.4 WRU per alert at 3 % new incidents (~25 WRU each); a 1,000 alerts/s storm with up to
        # ~20 % new ones needs ~6,000 WRU/s from its first second
        warm_throughput=(12_000, 6_000),
        doc=(
            "Incidents (INC#<id>/META: status, version = the guard every move is conditioned on, generation, "
            "escalation step, the lifecycle's waiting task token), their alert counters (INC#<id>/ALERTS: count, "
            "newest alert, closed mark; a repeated alert writes only this) and their timelines (INC#<id>/TL#<ulid>, "
            "append-only: transitions, pages, escalations, notes, sampled alert lines that expire after 90 days; "
            "read in order with one Query). GET /incidents reads newest first from by-created (everything), "
            "by-status-sharded or by-service (the common filters), the first two sharded (list_pk = INC#<n>, "
            "status_pk = <status>#<n>) and merged on read; severity/source are filtered on the page read; created_sk = "
            "<UTC time>#<id> serves the created range. A repeated alert writes no index. "
            "Details: oncall/adapters/dynamodb/incidents.py."
        ),
    ),
    Table(
        name="audit",
        pk="pk",
        sk="sk",
        indexes=(
            Index(name="by-object", pk="object_key", sk="sk"),
            Index(name="by-actor", pk="actor_key", sk="sk"),
        ),
        ttl_attribute="expires_at",
        doc=(
            "The audit log: one record per change to people, teams, schedules, rotations, policies, services, "
            "integration keys and webhooks (AUDIT#<day>/<time>#<id>: who, what, each field before and after, secrets "
            "redacted), written in the change's own transaction; expires after the retention setting. by-object "
            "(<kind>#<id>) and by-actor (<user id> | system) read one object's or one person's history by time. "
            "Details: oncall/adapters/dynamodb/audit.py."
        ),
    ),
    Table(
        name="catalog",
        pk="pk",
        sk="sk",
        indexes=(
            Index(name="by-kind", pk="kind", sk="kind_sort"),
            Index(name="by-team", pk="team_kind", sk="kind_sort"),
        ),
        ttl_attribute="expires_at",
        doc=(
            "Services (SVC#<id>/META with the sha256 of the current integration key and, during a rotation's overlap, "
            "the previous one), escalation policies (POL#<id>/META) and key lookups (KEY#<sha256>/KEY → service; "
            "the previous key's item expires by TTL after the overlap), teams (TEAM#<id>/META) and their members "
            "(TEAM#<id>/MEMBER#<user>). by-kind (SERVICE | POLICY | TEAM) lists each by name; by-team "
            "(team_kind = <team>#SERVICE | <team>#POLICY) lists one team's. "
            "Details: oncall/adapters/dynamodb/catalog.py."
        ),
    ),
    Table(
        name="notifications",
        pk="pk",
        sk="sk",
        ttl_attribute="expires_at",
        doc=(
            "The notification service's shared state: one delivery record per (person, message key) claimed with a "
            "conditional put (dedup) and holding the outcome; page counters per incident and person (cap); "
            "per-second rate-limit windows per Telegram chat and for the bot, shared by every concurrent Lambda; "
            "channel flags (blocked the bot); the bot's seen update ids (dedup) and parked updates. "
            "Details: oncall/adapters/dynamodb/notifications.py."
        ),
    ),
    Table(
        name="stats",
        pk="pk",
        sk="sk",
        ttl_attribute="expires_at",
        doc=(
            "Incident statistics: R#<H|D>#<team>/<bucket>#<service>#<severity> (one cell per hour and per day: "
            "counts by status, escalated, MTTA/MTTR counts, sums and exact per-second histograms) and "
            "C#<incident>/C (the incident's last counted version and what it added). Kept from the incident.* "
            "events by the stats function; analytics read a window's cells, never its incidents. "
            "Details: oncall/adapters/dynamodb/stats.py."
        ),
    ),
    Table(
        name="reminders",
        pk="pk",
        sk="sk",
        indexes=(Index(name="by-due", pk="due_bucket", sk="due_sort"),),
        doc=(
            "Shift reminders: SHIFT#<id>/R#<offset> (one per shift and offset; a move or delete touches one "
            "partition), SHIFT#<id>/META (newest shift-event version applied), CURSOR/TICK (oldest hour bucket "
            "that may hold a due reminder). by-due is sparse: only pending reminders carry due_bucket (UTC hour), "
            "so a tick's Query reads exactly the due ones, whatever the number stored. "
            "Details: oncall/adapters/dynamodb/reminders.py."
        ),
    ),
    Table(
        name="webhooks",
        pk="pk",
        sk="sk",
        indexes=(
            Index(name="by-kind", pk="kind", sk="kind_sort"),
            Index(
                name="by-due",
                pk="due_bucket",
                sk="due_sort",
                include=("id", "subscription_id", "attempts", "lease_until"),
            ),
        ),
        ttl_attribute="expires_at",
        doc=(
            "Outgoing webhook subscriptions (WH#<id>/META: url, event types, current and during a rotation the "
            "previous secret, enabled, dead-letter streak) and their deliveries (WH#<id>/DLV#<event time>_<hash>: "
            "body, status pending/succeeded/dead/cancelled, attempts, lease, history; newest first with one Query; "
            "TTL 30 days). "
            "by-kind (kind = WEBHOOK) lists subscriptions. by-due is sparse: only pending deliveries carry "
            "due_bucket (DUE) and due_sort (next attempt time), so the webhook-sweep's Query reads only the overdue "
            "ones whatever the number stored. Details: oncall/adapters/dynamodb/webhooks.py."
        ),
    ),
    Table(
        name="alerts",
        pk="pk",
        sk="sk",
        ttl_attribute="expires_at",
        doc=(
            "Alert ingestion state: dedup claims GRP#<service>#<group>/CLAIM (which incident a group of alerts feeds, "
            "its open alert keys, live_until; taken with one conditional put inside the incident's transaction), "
            "alert keys KEY#<service>#<key>/KEY (ack/resolve lookups), per-service minute windows RATE#<service>/W#<n> "
            "(conditional ADD shared by every Lambda) and parked EventBridge events PARKED#<day>/<event id>, capped "
            "per source and day (PARKCOUNT#<day>#<source>/COUNT counts what is kept and what is over). "
            "Details: oncall/adapters/dynamodb/alerts.py."
        ),
    ),
    Table(
        name="idempotency",
        pk="id",
        ttl_attribute="expiration",
        doc="powertools idempotency records for creating POSTs that carry an Idempotency-Key header.",
    ),
)

#: the escalation tasks read people and schedules and page through the notification service
ESCALATION_TABLES: dict[str, Access] = {
    "incidents": "write",
    "catalog": "read",
    "outbox": "write",
    "users": "read",
    "schedules": "read",
    "notifications": "write",
}
ESCALATION_SECRETS: tuple[str, ...] = ("telegram-bot-token", "slack-bot-token", "sms-link-key")

FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="api",
        memory_mb=512,
        timeout_s=15,
        tables={
            "outbox": "write",
            "idempotency": "write",
            "users": "write",
            "auth": "write",
            "schedules": "write",
            "incidents": "write",
            "catalog": "write",
            "alerts": "write",
            "webhooks": "write",
            # /me/notification-rules (a person's channels per kind live beside their channel flags)
            "notifications": "write",
            # every change a person makes through the API is recorded in its own transaction
            "audit": "write",
            # /analytics/* read the statistics rollups
            "stats": "read",
        },
        # an acknowledgement / resolve answers the lifecycle's waiting task token
        state_machines=("incident-lifecycle",),
        # grafana-webhook-hmac: POST /integrations/grafana verifies signatures when required; oidc-client-secret:
        # /auth/oidc/callback redeems codes at the identity provider when single sign-on is on
        # metrics-token: GET /metrics and GET /health/ready accept it as a bearer token
        # sms-link-key: /sms/ack/<token> checks the links pages by SMS carry
        secrets=("jwt-keys", "grafana-webhook-hmac", "oidc-client-secret", "metrics-token", "sms-link-key"),
        # PUT /me/phone texts the verification code
        sends_sms=True,
        # POST /webhooks/{id}/deliveries/{delivery_id}/redeliver queues an attempt
        queues=("notifier",),
        # GET /health/ready describes its tables, the bus and the lifecycle state machine
        checks_readiness=True,
        local_concurrency=4,
        # alert intake over HTTP runs here: bounded, and guaranteed what a 1,000 alerts/s storm needs
        reserved_concurrency=200,
    ),
    # the hourly rotation job: extends every rotation's shifts to the horizon (idempotent, resumable)
    Function(
        name="rotations",
        timeout_s=300,
        tables={"schedules": "write", "outbox": "write", "users": "read"},
        local_concurrency=1,
    ),
    # the outbox relay: outbox stream → the bus (oncall.adapters.outbox.relay); an incident that needs a lifecycle
    # gets it started here first, off the stream (oncall.services.lifecycle_start)
    Function(
        name="publisher",
        timeout_s=30,
        tables={"outbox": "read"},
        publishes=True,
        state_machines=("incident-lifecycle",),
        local_concurrency=1,
        # one per stream shard: every incident event passes here on its way to the lifecycle
        reserved_concurrency=10,
    ),
    # the Telegram bot behind POST /telegram/webhook: linking, commands, inline-button presses
    Function(
        name="telegram",
        timeout_s=10,
        tables={
            "users": "write",
            "notifications": "write",
            "schedules": "read",
            # Acknowledge / Resolve buttons move incidents and answer the lifecycle's token
            "incidents": "write",
            "catalog": "read",
            "outbox": "write",
        },
        state_machines=("incident-lifecycle",),
        secrets=("telegram-bot-token", "telegram-webhook-secret"),
        local_concurrency=2,
        # acknowledgements from Telegram buttons are part of the paging path
        reserved_concurrency=20,
    ),
    # the Slack app behind POST /integrations/slack/*: linking, /oncall, /incident, button presses
    Function(
        name="slack",
        timeout_s=10,
        tables={
            "users": "read",
            # Slack links and the replay ledger live beside the person's channel flags
            "notifications": "write",
            "schedules": "read",
            # Acknowledge / Resolve buttons move incidents and answer the lifecycle's token; /incident opens one
            "incidents": "write",
            "catalog": "read",
            "outbox": "write",
        },
        state_machines=("incident-lifecycle",),
        secrets=("slack-bot-token", "slack-signing-secret"),
        local_concurrency=2,
        # acknowledgements from Slack buttons are part of the paging path
        reserved_concurrency=20,
    ),
    # every minute: send the shift reminders that are due (oncall.services.reminders.ReminderService.tick)
    Function(
        name="reminders",
        timeout_s=120,
        tables={
            "reminders": "write",
            "notifications": "write",
            "users": "read",
            "schedules": "read",
            # reminder.sent goes on the bus through the outbox, written with the "sent" mark
            "outbox": "write",
        },
        secrets=("telegram-bot-token", "slack-bot-token", "sms-link-key"),
        sends_email=True,
        sends_sms=True,
        local_concurrency=2,
    ),
    # shift.* events → plan, move or cancel the shift's reminders; the reconcile-reminders sweep plans missed shifts
    Function(
        name="reminder_planner",
        timeout_s=30,
        tables={"reminders": "write", "users": "read", "schedules": "read"},
        local_concurrency=2,
    ),
    # the incident-lifecycle state machine's Lambda tasks: plan, page a level (recording the task token), hold
    Function(
        name="escalation",
        timeout_s=60,
        tables=ESCALATION_TABLES,
        state_machines=("incident-lifecycle",),
        secrets=ESCALATION_SECRETS,
        # a page falls back to mail (and SMS, where enabled) when chat cannot reach the person
        sends_email=True,
        sends_sms=True,
        # pages that meet a full rate window wait on the page queue, which this function also consumes
        queues=("pages",),
        local_concurrency=4,
        # the paging path: a storm's ingestion must never take the concurrency pages need
        reserved_concurrency=100,
    ),
    # CloudWatch alarm changes and oncall.alerts custom events → dedup, correlate, open/attach/resolve incidents
    Function(
        name="alerts",
        timeout_s=30,
        # users: the incident service is built with its people port (alerts themselves read no one)
        tables={"alerts": "write", "incidents": "write", "catalog": "read", "outbox": "write", "users": "read"},
        # an alert's resolve / acknowledge answers the lifecycle's waiting task token
        state_machines=("incident-lifecycle",),
        local_concurrency=2,
        # ingestion is bounded: throttled asynchronous invocations wait in Lambda's queue (up to 6 h), not lost
        reserved_concurrency=100,
    ),
    # every minute (lifecycle-sweep): triggered incidents without a running lifecycle for 2 minutes get one; the
    # retry path of the start the publisher makes off the outbox stream (oncall.services.lifecycle_start)
    Function(
        name="incident_starter",
        timeout_s=15,
        tables={"incidents": "read"},
        state_machines=("incident-lifecycle",),
        local_concurrency=2,
        reserved_concurrency=20,
    ),
    # incident.* events → the statistics rollups analytics read (oncall.services.stats)
    Function(
        name="stats",
        timeout_s=30,
        tables={"stats": "write"},
        local_concurrency=1,
        reserved_concurrency=5,
    ),
    # bus events (via the notifier queue) → signed webhooks per subscription and mail/Telegram per person; webhook
    # retries are delayed messages on the same queue (oncall.services.webhooks)
    Function(
        name="notifier",
        timeout_s=40,
        tables={"webhooks": "write", "notifications": "write", "users": "read", "outbox": "write"},
        queues=("notifier",),
        sends_email=True,
        sends_sms=True,
        secrets=("telegram-bot-token", "slack-bot-token", "sms-link-key"),
        local_concurrency=2,
        reserved_concurrency=50,
    ),
)

ROUTES: tuple[Route, ...] = (
    Route("ANY", "/{proxy+}", "api"),
    # credential guessing and token churn: a tight per-route throttle on top of the per-username/IP login limits
    Route("ANY", "/auth/{proxy+}", "api", throttle=(10.0, 20)),
    # alert intake: PagerDuty Events v2, Alertmanager, Grafana; throttled for a storm, not for people
    Route("POST", "/v2/enqueue", "api", ingest=True),
    Route("POST", "/integrations/{proxy+}", "api", ingest=True),
    Route("GET", "/", "api"),
    Route("POST", "/telegram/webhook", "telegram"),
    # the Slack app's request URLs (more specific than /integrations/{proxy+}, so API Gateway picks these)
    Route("POST", "/integrations/slack/commands", "slack"),
    Route("POST", "/integrations/slack/interactions", "slack"),
    Route("POST", "/integrations/slack/events", "slack"),
)

RULES: tuple[Rule, ...] = (
    Rule(
        name="incident-stats",
        bus="oncall",
        pattern={"source": ["oncall"], "detail-type": [{"prefix": "incident."}]},
        targets=(Target("function", "stats"),),
    ),
    Rule(
        name="notifier-fanout",
        bus="oncall",
        pattern={
            "source": ["oncall"],
            "detail-type": [{"prefix": "incident."}, {"prefix": "shift."}, {"prefix": "team."}, "reminder.sent"],
        },
        targets=(Target("queue", "notifier"),),
    ),
    Rule(
        name="cloudwatch-alarms",
        bus="default",
        pattern={"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]},
        targets=(Target("function", "alerts"),),
    ),
    Rule(
        name="custom-alerts",
        bus="oncall",
        pattern={"source": ["oncall.alerts"]},
        targets=(Target("function", "alerts"),),
    ),
    Rule(
        name="shift-reminders",
        bus="oncall",
        pattern={"source": ["oncall"], "detail-type": ["shift.created", "shift.updated", "shift.deleted"]},
        targets=(Target("function", "reminder_planner"),),
    ),
)

QUEUES: tuple[Queue, ...] = (
    Queue(
        name="notifier",
        consumer="notifier",
        batch_size=10,
        max_receive_count=5,
        # 6 × the notifier's 40 s timeout, as AWS advises for SQS event sources
        visibility_timeout_s=240,
        max_concurrency=50,
        doc=(
            "Bus events for the notifier (rule notifier-fanout) and webhook attempt jobs, delayed by the retry "
            "schedule; a message failing 5 receives goes to the dead-letter queue (redrive it to the source)."
        ),
    ),
    Queue(
        name="pages",
        consumer="escalation",
        batch_size=10,
        max_receive_count=5,
        # 6 × the escalation function's 60 s timeout
        visibility_timeout_s=360,
        # digest flushes share the escalation function's reservation; the lifecycle's tasks keep the rest
        max_concurrency=20,
        doc=(
            "Flush jobs for pages that met a full rate window (per chat, per bot): each job sends what is queued for "
            "one person on one channel as one message (a digest when several) as soon as the window opens."
        ),
    ),
)

SCHEDULES: tuple[Schedule, ...] = (
    Schedule(name="materialise-rotations", expression="rate(1 hour)", function="rotations"),
    Schedule(name="send-reminders", expression="rate(1 minute)", function="reminders"),
    # re-queues webhook attempts whose SQS job was lost (crash after storing, local runner restart)
    Schedule(name="webhook-sweep", expression="rate(5 minutes)", function="notifier"),
    # starts the lifecycle of an incident left triggered without one (oncall.services.lifecycle_sweep)
    Schedule(name="lifecycle-sweep", expression="rate(1 minute)", function="incident_starter"),
    # plans upcoming shifts whose shift.* event never reached the planner (oncall.services.reminders)
    Schedule(name="reconcile-reminders", expression="rate(15 minutes)", function="reminder_planner"),
)

STATE_MACHINES: tuple[StateMachine, ...] = (
    StateMachine(
        name="incident-lifecycle",
        definition=ROOT / "infra" / "statemachines" / "incident_lifecycle.asl.json",
        function_substitutions={"Escalation": "escalation"},
    ),
)


@dataclass(frozen=True)
class Topology:
    """Everything declared, as one value: the runner and the CDK app take one of these (tests may extend it with
    fixture functions, rules or state machines via ``dataclasses.replace``)."""

    functions: tuple[Function, ...]
    tables: tuple[Table, ...]
    routes: tuple[Route, ...]
    rules: tuple[Rule, ...]
    schedules: tuple[Schedule, ...]
    state_machines: tuple[StateMachine, ...]
    secrets: tuple[Secret, ...]
    bus_name: str = BUS_NAME
    queues: tuple[Queue, ...] = ()

    def queue(self, name: str) -> Queue:
        for q in self.queues:
            if q.name == name:
                return q
        raise KeyError(name)

    def function(self, name: str) -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(name)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def state_machine(self, name: str) -> StateMachine:
        for sm in self.state_machines:
            if sm.name == name:
                return sm
        raise KeyError(name)

    def validate(self) -> None:
        """Fail fast on a declaration that names something undeclared (called by both CDK and the runner)."""
        fnames = {f.name for f in self.functions}
        tnames = {t.name for t in self.tables}
        smnames = {s.name for s in self.state_machines}
        secret_names = {s.name for s in self.secrets}
        for f in self.functions:
            if not (f.code_dir / "handler.py").is_file():
                raise ValueError(f"function {f.name}: {f.code_dir}/handler.py missing")
            for tname in f.tables:
                if tname not in tnames:
                    raise ValueError(f"function {f.name}: unknown table {tname}")
            for smname in f.state_machines:
                if smname not in smnames:
                    raise ValueError(f"function {f.name}: unknown state machine {smname}")
            for secret in f.secrets:
                if secret not in secret_names:
                    raise ValueError(f"function {f.name}: unknown secret {secret}")
            for qname in f.queues:
                if qname not in {q.name for q in self.queues}:
                    raise ValueError(f"function {f.name}: unknown queue {qname}")
        for q in self.queues:
            if q.consumer not in fnames:
                raise ValueError(f"queue {q.name}: unknown consumer {q.consumer}")
            if not 1 <= q.batch_size <= 10:
                raise ValueError(f"queue {q.name}: batch_size must be 1..10 (larger needs a batching window)")
            if q.max_concurrency is not None and not 2 <= q.max_concurrency <= 1000:
                raise ValueError(f"queue {q.name}: max_concurrency must be 2..1000 (AWS's range)")
        for t in self.tables:
            if t.stream_consumer and t.stream_consumer not in fnames:
                raise ValueError(f"table {t.name}: unknown stream consumer {t.stream_consumer}")
        for r in self.routes:
            if r.function not in fnames:
                raise ValueError(f"route {r.route_key}: unknown function {r.function}")
        for rule in self.rules:
            for tg in rule.targets:
                known = fnames if tg.kind == "function" else smnames if tg.kind == "state_machine" else {tg.name}
                if tg.name not in known:
                    raise ValueError(f"rule {rule.name}: unknown {tg.kind} {tg.name}")
        for sched in self.schedules:
            if sched.function not in fnames:
                raise ValueError(f"schedule {sched.name}: unknown function {sched.function}")
        for sm in self.state_machines:
            if not sm.definition.is_file():
                raise ValueError(f"state machine {sm.name}: {sm.definition} missing")
            for fn in sm.function_substitutions.values():
                if fn not in fnames:
                    raise ValueError(f"state machine {sm.name}: unknown function {fn}")


TOPOLOGY = Topology(
    functions=FUNCTIONS,
    tables=TABLES,
    routes=ROUTES,
    rules=RULES,
    schedules=SCHEDULES,
    state_machines=STATE_MACHINES,
    secrets=SECRETS,
    queues=QUEUES,
)


def function(name: str) -> Function:
    return TOPOLOGY.function(name)


def table(name: str) -> Table:
    return TOPOLOGY.table(name)


def validate() -> None:
    TOPOLOGY.validate()
