"""What alerts cost: every AWS operation an alert storm's mix causes, counted on the emulator, priced at us-east-1
list prices, per 1,000 alerts and as the monthly bill of three reference organisations.

Runs the product on the emulator (the real incident-lifecycle ASL on Step Functions, Lambda tasks in-process, pages
to a fake Telegram Bot API on 127.0.0.1). Setup (not counted): ``--services`` services on one escalation policy (one
linked person, auto-close after 1 s), one open alert each, lifecycles settled. Then the counted window: ``--alerts``
PagerDuty Events v2 events through the real API handler (``POST /v2/enqueue``): 3 % new triggers (each opens an
incident, starts its lifecycle and pages), spread evenly, the rest repeats of open alerts, and last the resolve of
every new alert (3 % more, within ``--alerts``), until every new incident's lifecycle has closed it. Counted, whoever
causes it:

- DynamoDB request units item by item, base table and every index (``bench/keys.py``'s accountant: item sizes before
  and after, transactions twice, index writes by projection), and the bytes the window leaves stored;
- Lambda invocations and GB-s: the API calls (timed here) and everything the emulator invokes (bus rules, streams,
  queues, workflow tasks), at each function's declared memory. Durations are moto's, an upper bound of AWS's;
- Step Functions state transitions per incident, from each new incident's execution history;
- events put on the ``oncall`` bus (custom events are billed; AWS service events on the default bus are free);
- SQS messages (each priced as send + receive + delete, unbatched: an upper bound);
- CloudWatch Logs bytes: per invocation Lambda's START/END/REPORT lines (formatted here, with the X-Ray line) plus
  every product log record Lambda's runtime would ship (WARNING and up: the runtime's root level), the API access
  log line per request (the stage's own format), and for workflows logging ALL one log event per history event with
  its data;
- X-Ray traces: Lambda's fixed sampling, the first request each second and 5 % of the rest, per trace root (a
  request, an asynchronous invocation or batch, an execution).

Then one invocation of each scheduled function (its fixed monthly cost) and one authenticated ``GET /incidents`` (a
person's API use).

    .venv/bin/python bench/cost.py [--alerts 500] [--services 20]

Prices, us-east-1 list, USD, free tiers not deducted (the sources name each page):

- Step Functions Standard: $0.025 per 1,000 state transitions (aws.amazon.com/step-functions/pricing)
- Lambda arm64: $0.20 per 1M requests, $0.0000133334 per GB-s (aws.amazon.com/lambda/pricing)
- DynamoDB on-demand: $0.625 per 1M WRU, $0.125 per 1M RRU, storage $0.25 per GB-month, point-in-time recovery
  $0.20 per GB-month (aws.amazon.com/dynamodb/pricing/on-demand)
- EventBridge: $1.00 per 1M custom events (aws.amazon.com/eventbridge/pricing)
- SQS standard: $0.40 per 1M requests (aws.amazon.com/sqs/pricing)
- API Gateway HTTP API: $1.00 per 1M requests (aws.amazon.com/api-gateway/pricing)
- CloudWatch Logs: $0.50 per GB ingested (vended Step Functions logs alike), $0.03 per GB-month stored; alarms
  $0.10 each per month (aws.amazon.com/cloudwatch/pricing)
- X-Ray: $5.00 per 1M traces recorded (aws.amazon.com/xray/pricing)
- SSM Parameter Store standard parameters (the secrets): no charge to keep, standard throughput reads free
  (aws.amazon.com/systems-manager/pricing)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common" / "python")]

import tests.conftest  # noqa: E402,F401  (test-only credentials and a cheap KDF: this runs against the emulator)

# -- prices (see the module docstring for their sources) --------------------------------------------------------------
SFN_PER_TRANSITION = 0.025 / 1000
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_S = 0.0000133334
DDB_PER_WRU = 0.625 / 1_000_000
DDB_PER_RRU = 0.125 / 1_000_000
DDB_PER_GB_MONTH = 0.25 + 0.20  # storage + point-in-time recovery
EVENTS_PER_EVENT = 1.00 / 1_000_000
SQS_PER_REQUEST = 0.40 / 1_000_000
SQS_REQUESTS_PER_MESSAGE = 3  # send, receive, delete: unbatched, the upper bound
HTTP_API_PER_REQUEST = 1.00 / 1_000_000
LOGS_PER_GB = 0.50
LOGS_STORED_PER_GB_MONTH = 0.03
#: CloudWatch Logs bills each event as its bytes plus 26
LOG_EVENT_OVERHEAD = 26
XRAY_PER_TRACE = 5.00 / 1_000_000
XRAY_SAMPLED_SHARE = 0.05
SSM_STANDARD_PARAMETER_PER_MONTH = 0.00
#: a custom metric (a name with one set of dimension values), prorated by the hours in which it is sent; a dashboard
#: (the account's first 3 are free)
METRIC_PER_MONTH = 0.30
DASHBOARD_PER_MONTH = 3.00
ALARM_PER_MONTH = 0.10
GB = 1024**3
SECONDS_PER_MONTH = 30 * 24 * 3600

NEW_SHARE = 0.03


@dataclass(frozen=True)
class Organisation:
    name: str
    people: int
    alerts_per_day: int
    storm_per_s: int


ORGANISATIONS = (
    # a deployment nobody uses yet: what it costs to have (schedules tick, nothing arrives)
    Organisation("idle", 0, 0, 0),
    Organisation("small", 50, 1_000, 0),
    Organisation("medium", 500, 50_000, 200),
    Organisation("large", 5_000, 1_000_000, 1_000),
)
#: a person's own API use per month (dashboard, lists, acknowledgements, the bot): an assumption, stated
API_CALLS_PER_PERSON_MONTH = 300


# -- what the window used ---------------------------------------------------------------------------------------------
@dataclass
class Usage:
    alerts: int = 0
    incidents: int = 0
    api_requests: int = 0
    lambda_requests: Counter[str] = field(default_factory=Counter)
    gb_s: float = 0.0
    wru: float = 0.0
    rru: float = 0.0
    stored_bytes: int = 0
    transitions: int = 0
    bus_events: int = 0
    sqs_messages: int = 0
    lambda_log_bytes: int = 0
    access_log_bytes: int = 0
    workflow_log_bytes: int = 0
    trace_roots: int = 0


@dataclass
class Counting:
    bus_events: int = 0
    sqs_messages: int = 0
    log_bytes: int = 0
    log_events: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _LambdaLogs(logging.Handler):
    """What Lambda's runtime would ship for product log records: ``[LEVEL]\\t<time>\\t<request id>\\t<message>``."""

    def __init__(self, counting: Counting) -> None:
        super().__init__(level=logging.WARNING)
        self.counting = counting

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("oncall.local", "moto", "werkzeug")):
            return
        line = f"[{record.levelname}]\t2026-12-05T12:00:00.000Z\t{uuid.uuid4()}\t{self.format(record)}\n"
        with self.counting.lock:
            self.counting.log_bytes += len(line.encode()) + LOG_EVENT_OVERHEAD
            self.counting.log_events += 1


@contextmanager
def counting() -> Iterator[Counting]:
    """Counts bus events and SQS messages at moto's backends (after the emulator's own hooks) and product logs."""
    from moto.events.models import EventsBackend
    from moto.sqs.models import Queue

    counted = Counting()
    put_events = EventsBackend.put_events
    add_message = Queue.add_message

    def counting_put_events(backend: Any, entries: list[dict[str, Any]]) -> Any:
        custom = [e for e in entries if not str(e.get("Source", "")).startswith("aws.")]
        with counted.lock:
            counted.bus_events += len(custom)
        return put_events(backend, entries)

    def counting_add_message(queue: Any, message: Any) -> None:
        with counted.lock:
            counted.sqs_messages += 1
        add_message(queue, message)

    handler = _LambdaLogs(counted)
    EventsBackend.put_events = counting_put_events  # type: ignore[method-assign,assignment]
    Queue.add_message = counting_add_message  # type: ignore[method-assign,assignment]
    logging.getLogger().addHandler(handler)
    try:
        yield counted
    finally:
        logging.getLogger().removeHandler(handler)
        EventsBackend.put_events = put_events  # type: ignore[method-assign]
        Queue.add_message = add_message  # type: ignore[method-assign]


def platform_log_bytes(memory_mb: int) -> int:
    """Lambda's START, END and REPORT lines of one invocation, with the X-Ray line of a traced one."""
    rid = str(uuid.uuid4())
    lines = (
        f"START RequestId: {rid} Version: $LATEST\n",
        f"END RequestId: {rid}\n",
        f"REPORT RequestId: {rid}\tDuration: 41.27 ms\tBilled Duration: 42 ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: 96 MB\t\nXRAY TraceId: 1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}\t"
        f"SegmentId: {uuid.uuid4().hex[:16]}\tSampled: true\n",
    )
    return sum(len(line.encode()) + LOG_EVENT_OVERHEAD for line in lines)


def access_log_bytes() -> int:
    """One API access log line in the stage's format, with typical values."""
    from infra.constructs.api import ACCESS_LOG_FORMAT

    sample = {
        "requestId": "Jc9QbjVXoAMEV8g=",
        "ip": "203.0.113.17",
        "requestTime": "05/Dec/2026:12:00:00 +0000",
        "routeKey": "POST /v2/enqueue",
        "status": "202",
        "protocol": "HTTP/1.1",
        "responseLength": "87",
        "integrationStatus": "200",
        "integrationLatency": "41",
        "integrationError": "-",
        "error": "-",
    }
    assert set(sample) == set(ACCESS_LOG_FORMAT), "the stage's access log format changed: update the sample"
    return len(json.dumps(sample).encode()) + LOG_EVENT_OVERHEAD


# -- the window -------------------------------------------------------------------------------------------------------
@dataclass
class Measured:
    usage: Usage
    #: function → (invocations per month, GB-s each) of the scheduled functions
    scheduled: dict[str, tuple[float, float]]
    #: one person's GET /incidents: GB-s, RRU
    person_call: tuple[float, float]
    statuses: Counter[str]
    transitions_each: list[int]


def _table_bytes(backend: Any) -> int:
    from bench.keys import item_size

    total = 0
    for table in backend.tables.values():
        for item in table.all_items():
            total += item_size({name: value.to_regular_json() for name, value in item.attrs.items()})
    return total


def _per_month(expression: str) -> float:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if not match:
        return 0.0
    unit = {"minute": 60, "hour": 3600, "day": 86400}[match.group(2).rstrip("s")]
    return SECONDS_PER_MONTH / (int(match.group(1)) * unit)


def measure(alerts: int, services: int, seed: int = 11) -> Measured:
    """The counted window of the mix (see the module docstring), with the per-service limit out of the way."""
    saved = os.environ.get("ONCALL_ALERTS_RATE_PER_MINUTE")
    os.environ["ONCALL_ALERTS_RATE_PER_MINUTE"] = "1000000"  # the mix prices alerts, not the per-service limit
    try:
        return _measure(alerts, services, seed)
    finally:
        if saved is None:
            os.environ.pop("ONCALL_ALERTS_RATE_PER_MINUTE", None)
        else:
            os.environ["ONCALL_ALERTS_RATE_PER_MINUTE"] = saved


def _measure(alerts: int, services: int, seed: int) -> Measured:
    from moto.dynamodb.models import dynamodb_backends

    from bench.keys import accounting
    from infra.local.dynamo_lock import LOCK
    from infra.topology import TOPOLOGY
    from oncall import wiring
    from oncall.domain.escalation import Level, Target, TargetType
    from oncall.domain.users import Role
    from tests.support.identity import login_as, make_user
    from tests.support.lambdas import call_api
    from tests.support.lifecycle import lifecycle_stack
    from tests.support.telegram import linked_user

    statuses: Counter[str] = Counter()
    usage = Usage()
    quiet = threading.local()
    with lifecycle_stack() as stack:
        backend = dynamodb_backends[stack.emulator.account][stack.emulator.region]
        admin = make_user(Role.ADMIN)
        person, _chat = linked_user()
        catalog = wiring.incidents.catalog_service()
        policy = catalog.create_policy(
            admin, name="p", levels=[Level((Target(TargetType.USER, person.id),), 3600)], auto_close_seconds=1
        )
        created = [
            catalog.create_service(admin, name=f"svc-{i}", escalation_policy_id=policy.id) for i in range(services)
        ]
        service_of = {key: service.id for service, key in created}
        keys = list(service_of)
        alert_store = wiring.alerts.alert_store()
        incidents = wiring.incidents.incident_service()

        def send(routing_key: str, dedup_key: str, action: str = "trigger") -> None:
            body: dict[str, Any] = {"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key}
            if action == "trigger":
                body["payload"] = {
                    "summary": f"{dedup_key}: node down",
                    "source": f"host-{dedup_key}",
                    "severity": "critical",
                    "custom_details": {"runbook": "https://wiki.example.com/runbooks/node-down", "region": "eu-1"},
                }
            started = time.monotonic()
            resp = call_api("POST", "/v2/enqueue", body=json.dumps(body))
            usage.gb_s += (time.monotonic() - started) * TOPOLOGY.function("api").memory_mb / 1024
            usage.api_requests += 1
            usage.lambda_requests["api"] += 1
            statuses[f"{action} {resp.status}"] += 1

        def incident_of(routing_key: str, dedup: str) -> str | None:
            ref = alert_store.key(service_of[routing_key], dedup)
            return ref.incident_id if ref else None

        def wait(what: str, done: Callable[[], bool], timeout: float = 180) -> None:
            quiet.on = True
            try:
                deadline = time.monotonic() + timeout
                while not done():
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"timed out waiting for {what}")
                    time.sleep(0.2)
            finally:
                quiet.on = False

        def armed(incident_id: str | None) -> bool:
            incident = incidents.store.get(incident_id) if incident_id else None
            return incident is not None and incident.task_token is not None

        def closed(incident_id: str) -> bool:
            return any(e["status"] == "SUCCEEDED" for e in stack.executions(incident_id))

        open_keys = {key: [f"open-{i}"] for i, key in enumerate(keys)}
        for key, (dedup,) in open_keys.items():
            send(key, dedup)
        wait("setup lifecycles", lambda: all(armed(incident_of(k, d)) for k, (d,) in open_keys.items()))
        time.sleep(1.0)
        statuses.clear()
        usage = Usage()
        rng = random.Random(seed)
        new: list[tuple[str, str]] = []
        opening = round(alerts * NEW_SHARE)
        triggers = alerts - opening
        calls_before = len(stack.invoker.calls)
        stored_before = _table_bytes(backend)
        with accounting(backend) as accountant, counting() as counted:
            accountant.quiet = quiet
            for i in range(triggers):
                key = rng.choice(keys)
                if (i + 1) * opening // triggers > i * opening // triggers:
                    dedup = f"new-{uuid.uuid4().hex[:8]}"
                    open_keys[key].append(dedup)
                    new.append((key, dedup))
                else:
                    dedup = rng.choice(open_keys[key])
                send(key, dedup)
            wait("new incidents paged", lambda: all(armed(incident_of(k, d)) for k, d in new))
            opened = [incident_of(k, d) for k, d in new]
            for key, dedup in new:
                send(key, dedup, action="resolve")
            wait("new incidents closed", lambda: all(closed(i) for i in opened if i))
            time.sleep(1.0)
            ledger = accountant.ledger.snapshot()
            with LOCK:
                usage.stored_bytes = _table_bytes(backend) - stored_before
            usage.bus_events = counted.bus_events
            usage.sqs_messages = counted.sqs_messages
            usage.lambda_log_bytes = counted.log_bytes
        usage.alerts = triggers + len(new)
        usage.incidents = len({i for i in opened if i})
        usage.wru = float(sum(ledger.wru.values()))
        usage.rru = float(sum(ledger.rru.values()))
        transitions_each: list[int] = []
        for incident_id in {i for i in opened if i}:
            for execution in stack.executions(incident_id):
                history = stack.history(execution["executionArn"])
                transitions_each.append(sum(1 for e in history if e["type"].endswith("StateEntered")))
                usage.workflow_log_bytes += sum(
                    len(json.dumps(e, default=str).encode()) + LOG_EVENT_OVERHEAD for e in history
                )
        usage.transitions = sum(transitions_each)
        background = stack.invoker.calls[calls_before:]
        for call in background:
            usage.lambda_requests[call.function] += 1
            usage.gb_s += call.result.duration_ms / 1000 * TOPOLOGY.function(call.function).memory_mb / 1024
        usage.lambda_log_bytes += sum(
            platform_log_bytes(TOPOLOGY.function(fn).memory_mb) * n for fn, n in usage.lambda_requests.items()
        )
        usage.access_log_bytes = usage.api_requests * access_log_bytes()
        # trace roots: each API request and each invocation the emulator made outside a workflow, and each execution
        usage.trace_roots = usage.api_requests + len(background) + len(transitions_each)
        scheduled = _scheduled(stack)
        reader = login_as(Role.RESPONDER)
        with accounting(backend) as accountant:
            started = time.monotonic()
            got = call_api("GET", "/incidents?limit=50", headers=reader.headers)
            took = time.monotonic() - started
            assert got.status == 200, got.raw
            person_call = (took * TOPOLOGY.function("api").memory_mb / 1024, float(sum(accountant.ledger.rru.values())))
    return Measured(usage, scheduled, person_call, statuses, transitions_each)


def _scheduled(stack: Any) -> dict[str, tuple[float, float]]:
    """Each schedule's invocations per month and GB-s each, from one invocation now."""
    from datetime import UTC, datetime

    from infra.local.eventbus import scheduled_event
    from infra.topology import TOPOLOGY

    out: dict[str, tuple[float, float]] = {}
    for schedule in TOPOLOGY.schedules:
        fn = TOPOLOGY.function(schedule.function)
        event = scheduled_event(
            event_id=str(uuid.uuid4()),
            rule_arn=f"arn:aws:events:{stack.emulator.region}:{stack.emulator.account}:rule/{schedule.name}",
            at=datetime.now(UTC),
            account=stack.emulator.account,
            region=stack.emulator.region,
        )
        result = stack.invoker.invoke(fn.name, event)
        out[schedule.name] = (_per_month(schedule.expression), result.duration_ms / 1000 * fn.memory_mb / 1024)
    return out


# -- pricing ----------------------------------------------------------------------------------------------------------
@dataclass
class Lines:
    items: dict[str, float] = field(default_factory=dict)

    def add(self, line: str, usd: float) -> None:
        self.items[line] = self.items.get(line, 0.0) + usd

    @property
    def total(self) -> float:
        return sum(self.items.values())


def per_alert(u: Usage, *, storm: bool = True) -> Lines:
    """What one alert of the mix costs (incidents at the mix's share, their lifecycles and pages included)."""
    n = u.alerts
    lines = Lines()
    lines.add("Step Functions transitions", u.transitions * SFN_PER_TRANSITION / n)
    lines.add("Lambda requests", sum(u.lambda_requests.values()) * LAMBDA_PER_REQUEST / n)
    lines.add("Lambda compute (GB-s)", u.gb_s * LAMBDA_PER_GB_S / n)
    lines.add("DynamoDB writes", u.wru * DDB_PER_WRU / n)
    lines.add("DynamoDB reads", u.rru * DDB_PER_RRU / n)
    lines.add("DynamoDB storage + PITR (a month)", max(0, u.stored_bytes) / GB * DDB_PER_GB_MONTH / n)
    lines.add("EventBridge custom events", u.bus_events * EVENTS_PER_EVENT / n)
    lines.add("SQS requests", u.sqs_messages * SQS_REQUESTS_PER_MESSAGE * SQS_PER_REQUEST / n)
    lines.add("HTTP API requests", u.api_requests * HTTP_API_PER_REQUEST / n)
    logged = u.lambda_log_bytes + u.access_log_bytes + u.workflow_log_bytes
    lines.add("CloudWatch Logs ingestion", logged / GB * LOGS_PER_GB / n)
    lines.add("CloudWatch Logs storage (a month)", logged / GB * LOGS_STORED_PER_GB_MONTH / n)
    if storm:
        lines.add("X-Ray traces (5 % sampled)", u.trace_roots * XRAY_SAMPLED_SHARE * XRAY_PER_TRACE / n)
    return lines


def traces_per_month(roots: float) -> float:
    """Lambda's sampling: the first request each second, then 5 %; roots spread evenly over the month."""
    rate = roots / SECONDS_PER_MONTH
    if rate <= 1:
        return roots
    return SECONDS_PER_MONTH * (1 + XRAY_SAMPLED_SHARE * (rate - 1))


def monthly(org: Organisation, m: Measured, *, full: bool = False) -> Lines:
    """The month's bill as deployed by default, or ``full``: with ``oncall:dashboard=true`` (the dashboard and the
    EMF metrics it draws) and ``oncall:alarms=all`` (infra/settings.py)."""
    from infra.topology import TOPOLOGY

    u = m.usage
    alerts = org.alerts_per_day * 30
    lines = Lines()
    for line, usd in per_alert(u, storm=False).items.items():
        lines.add(f"alerts: {line}", usd * alerts)
    roots = u.trace_roots / u.alerts * alerts
    calls = org.people * API_CALLS_PER_PERSON_MONTH
    gb_s, rru = m.person_call
    lines.add("people: HTTP API + Lambda", calls * (HTTP_API_PER_REQUEST + LAMBDA_PER_REQUEST + gb_s * LAMBDA_PER_GB_S))
    lines.add("people: DynamoDB reads", calls * rru * DDB_PER_RRU)
    lines.add("people: CloudWatch Logs", calls * (access_log_bytes() + platform_log_bytes(512)) / GB * LOGS_PER_GB)
    for name, (per_month, each) in m.scheduled.items():
        lines.add(f"schedule {name}: Lambda", per_month * (LAMBDA_PER_REQUEST + each * LAMBDA_PER_GB_S))
        lines.add("schedules: CloudWatch Logs", per_month * platform_log_bytes(256) / GB * LOGS_PER_GB)
    lines.add("X-Ray traces", traces_per_month(roots + calls) * XRAY_PER_TRACE)
    lines.add("SSM SecureString parameters (secrets)", len(TOPOLOGY.secrets) * SSM_STANDARD_PARAMETER_PER_MONTH)
    lines.add("CloudWatch alarms", alarm_count(full=full) * ALARM_PER_MONTH)
    emf = emf_metric_months(org, u.incidents / u.alerts) * METRIC_PER_MONTH if full else 0.0
    lines.add("CloudWatch EMF metrics", emf)
    lines.add("CloudWatch dashboard (free for an account's first 3)", DASHBOARD_PER_MONTH if full else 0.0)
    return lines


def alarm_count(*, full: bool) -> int:
    """The stack's alarms (``infra/constructs/alarms.py``): every dead-letter queue (each declared queue's, the
    stream consumers', the rule targets' and the asynchronous invocations'), each workflow, and the api function,
    or every function with ``oncall:alarms=all``."""
    from infra.topology import TOPOLOGY

    dlqs = len(TOPOLOGY.queues) + sum(1 for t in TOPOLOGY.tables if t.stream_consumer) + 2
    return dlqs + len(TOPOLOGY.state_machines) + (len(TOPOLOGY.functions) if full else 1)


def emf_metric_months(org: Organisation, incidents_per_alert: float) -> float:
    """How many metric-months the functions' EMF lines cost (``oncall.domain.metrics.EMF``): each metric is billed
    for the hours in which it is sent, so one sent at ``rate`` events an hour costs ``1 - exp(-rate)`` of a month.
    Assumed spread, stated: incidents over 2 severities, alerts over 2 sources, pages on 1 channel, each function
    starting cold in most hours (ColdStart, one metric for the stack) and almost never failing (HandlerErrors)."""
    from infra.topology import TOPOLOGY

    def share(per_hour: float) -> float:
        return 1 - math.exp(-per_hour)

    alerts = org.alerts_per_day / 24
    incidents = alerts * incidents_per_alert
    months = 2 * 6 * share(incidents / 2)  # opened, acknowledged, resolved, escalated, time to ack, time to resolve
    months += 2 * 2 * share(alerts / 2)  # received, deduplicated
    months += share(incidents)  # pages sent on the one channel
    months += share(2.0 * len(TOPOLOGY.functions))  # cold starts, one metric for the whole stack
    return months


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=500)
    parser.add_argument("--services", type=int, default=20)
    args = parser.parse_args()
    m = measure(args.alerts, args.services)
    u = m.usage
    n = u.alerts
    print(
        f"mix: {n} alerts through POST /v2/enqueue over {args.services} services: {u.incidents} new ("
        f"{u.incidents / n:.0%}, each opening an incident), their {u.incidents} resolves, the rest repeats of open "
        f"alerts; replies {dict(sorted(m.statuses.items()))}; {u.incidents} incidents paged and closed"
    )
    each = ", ".join(f"{fn} {c / n:.3f}" for fn, c in u.lambda_requests.most_common())
    print(
        f"\nper alert: {u.wru / n:.2f} WRU, {u.rru / n:.2f} RRU, {u.stored_bytes / n:.0f} B stored, "
        f"{u.bus_events / n:.3f} bus events, {u.sqs_messages / n:.3f} SQS messages, "
        f"{(u.lambda_log_bytes + u.access_log_bytes + u.workflow_log_bytes) / n:.0f} B logged, "
        f"{u.gb_s / n * 1000:.1f} mGB-s; Lambda invocations per alert: {each}"
    )
    if u.incidents:
        spread = f"{min(m.transitions_each)}-{max(m.transitions_each)}" if m.transitions_each else "-"
        print(
            f"per incident: {u.transitions / u.incidents:.1f} state transitions ({spread} per execution, "
            f"{len(m.transitions_each)} executions), {u.workflow_log_bytes / u.incidents / 1024:.1f} KB of workflow "
            f"log at level ALL"
        )
    lines = per_alert(u)
    print("\nper 1,000 alerts at 3 % opening incidents (USD, storm rate: X-Ray at 5 %)\n")
    print(f"{'line':<40} | {'USD':>9} | {'share':>6}")
    print("-" * 61)
    for line, usd in sorted(lines.items.items(), key=lambda kv: -kv[1]):
        print(f"{line:<40} | {usd * 1000:>9.5f} | {usd / lines.total:>6.1%}")
    total = lines.total * 1000
    print(f"{'total':<40} | {total:>9.5f} | goal ≤ 0.02: {'met' if total <= 0.02 else 'NOT met'}")

    bills = {org.name: monthly(org, m) for org in ORGANISATIONS}
    print(f"\nmonthly bills (USD; people's use assumes {API_CALLS_PER_PERSON_MONTH} API calls per person a month)\n")
    heads = " | ".join(f"{o.name} ({o.people} people, {o.alerts_per_day:,}/day)".rjust(32) for o in ORGANISATIONS)
    print(f"{'line':<44} | {heads}")
    print("-" * (47 + 35 * len(ORGANISATIONS)))
    names = list(dict.fromkeys(line for b in bills.values() for line in b.items))
    for line in names:
        cells = " | ".join(f"{bills[o.name].items.get(line, 0.0):>32.2f}" for o in ORGANISATIONS)
        print(f"{line:<44} | {cells}")
    print(f"{'total':<44} | " + " | ".join(f"{bills[o.name].total:>32.2f}" for o in ORGANISATIONS))
    per = " | ".join(
        f"{bills[o.name].total / (o.alerts_per_day * 30) * 1000:>32.4f}" if o.alerts_per_day else f"{'-':>32}"
        for o in ORGANISATIONS
    )
    print(f"{'per 1,000 alerts, everything included':<44} | {per}")
    full = {o.name: monthly(o, m, full=True).total for o in ORGANISATIONS}
    label = "total with oncall:dashboard, oncall:alarms=all"
    print(f"{label:<44} | " + " | ".join(f"{full[o.name]:>32.2f}" for o in ORGANISATIONS))
    for name, goal in (("small", 3.0), ("idle", 1.0)):
        verdict = "met" if bills[name].total <= goal else "NOT met"
        print(f"goal: the {name} organisation ≤ ${goal:.2f} a month as deployed by default: {verdict}")


if __name__ == "__main__":
    main()
