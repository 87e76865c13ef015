"""EventBridge delivery the way AWS does it: the real envelope, target input shaping, and per-target dispatch.

moto matches events to rules (its pattern matching is used as is) but delivers only to SQS/logs, with an epoch
``time`` and an extra ``ingestion-time`` key. Here:

- ``envelope`` turns moto's message into the envelope AWS delivers (``version, id, detail-type, source, account,
  time, region, resources, detail``; ``time`` ISO-8601 UTC with second precision).
- ``target_input`` applies a target's ``Input`` (constant JSON), ``InputPath`` (JSONPath into the event) or
  ``InputTransformer`` (paths map + template). moto's transformer pastes raw values into the template, so a string
  holding a quote produces invalid JSON; here a placeholder inside a JSON string literal receives the JSON-escaped
  value and one outside receives the value as JSON, which is what EventBridge does.
- ``Delivery`` dispatches, asynchronously (``PutEvents`` returns before targets run, as in AWS): a Lambda target is
  an asynchronous invocation (two retries on error, like Lambda's async retry policy, at second scale), a Step
  Functions target starts an execution (EventBridge cannot name it, so the name is ``<rule>-<event id>``, which also
  makes a redelivery of the same event a no-op), an SQS target receives the JSON body.

Nothing accepted is dropped by a stop: each asynchronous invocation and each rule delivery is *pending work* from the
moment it is accepted until it has run (or failed for good after its retries). Work the runner could not run because
it was stopping (the queue not reached yet, an invocation refused or killed by the closing worker pools, a retry
waiting on its timer) stays pending; the snapshot keeps it and the next start runs it (``resume``), at least once,
as Lambda's asynchronous queue does. With a journal, acceptance and completion are journaled too (``work+`` /
``work-``), so a runner killed outright resumes it as well.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Executor, Future
from datetime import UTC, datetime
from typing import Any

from infra.local.clock import iso
from infra.local.contracts import Invoker

log = logging.getLogger("oncall.local.events")

_ENVELOPE_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")


def _iso_time(value: Any) -> str:
    if isinstance(value, (int, float)):
        return iso(datetime.fromtimestamp(float(value), UTC))
    if isinstance(value, datetime):
        return iso(value)
    text = str(value)
    try:
        return iso(datetime.fromtimestamp(float(text), UTC))
    except ValueError:
        return text


def envelope(message: dict[str, Any]) -> dict[str, Any]:
    """The event AWS would deliver, from moto's internal message."""
    out = {key: message.get(key) for key in _ENVELOPE_KEYS}
    out["version"] = out["version"] or "0"
    out["time"] = _iso_time(message.get("time"))
    out["resources"] = list(out["resources"] or [])
    out["detail"] = out["detail"] if out["detail"] is not None else {}
    return out


def scheduled_event(*, event_id: str, rule_arn: str, at: datetime, account: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": iso(at),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


_MISSING = object()
_PATH_TOKEN = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\[['\"]([^'\"]+)['\"]\]")


def json_path(document: Any, path: str) -> Any:
    """Resolve EventBridge's JSONPath subset (``$``, ``$.a.b``, ``$.a[0]``, ``$['a-b']``); missing → ``_MISSING``."""
    if not path.startswith("$"):
        raise ValueError(f"not a JSONPath: {path!r}")
    node = document
    rest = path[1:]
    pos = 0
    while pos < len(rest):
        m = _PATH_TOKEN.match(rest, pos)
        if not m:
            raise ValueError(f"unsupported JSONPath: {path!r}")
        pos = m.end()
        key, index, quoted = m.groups()
        if index is not None:
            if not isinstance(node, list) or int(index) >= len(node):
                return _MISSING
            node = node[int(index)]
        else:
            name = key if key is not None else quoted
            if not isinstance(node, dict) or name not in node:
                return _MISSING
            node = node[name]
    return node


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def render_template(template: str, values: dict[str, Any]) -> Any:
    """Fill ``<name>`` placeholders; the result is parsed as JSON when it is JSON, else returned as a string."""
    out: list[str] = []
    in_string = False
    escaped = False
    i = 0
    while i < len(template):
        ch = template[i]
        if ch == "<":
            m = _PLACEHOLDER.match(template, i)
            if m and m.group(1) in values:
                value = values[m.group(1)]
                if in_string:
                    if value is _MISSING or value is None:
                        text = ""
                    else:
                        text = value if isinstance(value, str) else json.dumps(value)
                    out.append(json.dumps(text)[1:-1])
                else:
                    out.append("null" if value is _MISSING else json.dumps(value))
                i = m.end()
                continue
        out.append(ch)
        if escaped:
            escaped = False
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
        i += 1
    text = "".join(out)
    try:
        return json.loads(text)
    except ValueError:
        return text


def target_input(target: dict[str, Any], event: dict[str, Any], *, rule_name: str, rule_arn: str) -> Any:
    """What a target receives for ``event`` (already an AWS envelope)."""
    if target.get("Input") is not None:
        return json.loads(target["Input"])
    if target.get("InputPath"):
        value = json_path(event, target["InputPath"])
        return None if value is _MISSING else value
    transformer = target.get("InputTransformer")
    if transformer:
        values: dict[str, Any] = {
            name: json_path(event, path) for name, path in (transformer.get("InputPathsMap") or {}).items()
        }
        values.setdefault("aws.events.rule-arn", rule_arn)
        values.setdefault("aws.events.rule-name", rule_name)
        values.setdefault("aws.events.event.ingestion-time", event.get("time"))
        values.setdefault("aws.events.event", event)
        values.setdefault("aws.events.event.json", event)
        return render_template(transformer["InputTemplate"], values)
    return event


def arn_parts(arn: str) -> tuple[str, str]:
    """(service, resource name) of a target ARN: function name, state machine ARN, queue name."""
    parts = arn.split(":")
    service = parts[2]
    if service == "lambda":
        return service, parts[6]
    if service == "sqs":
        return service, parts[5]
    return service, arn


def execution_name(rule_name: str, event_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{rule_name[:40]}-{event_id}")[:80]


class Delivery:
    """Dispatches targets on an executor; ``wait=True`` (clock control) runs them before returning."""

    def __init__(
        self,
        *,
        invoker: Invoker,
        clients: Callable[[str], Any],
        executor: Executor,
        retry_delays: tuple[float, ...] = (1.0, 2.0),
        journal: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.invoker = invoker
        self.clients = clients
        self.executor = executor
        self.retry_delays = retry_delays
        self.journal = journal
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._pending: dict[str, dict[str, Any]] = {}
        self.closed = False

    # --- pending work -------------------------------------------------------------------------------------------
    def _accept(self, job: dict[str, Any], work: str | None = None) -> str:
        work = work or uuid.uuid4().hex
        with self._lock:
            self._pending[work] = job
        if self.journal is not None:
            self.journal({"k": "work+", "id": work, "job": job})
        return work

    def _done(self, work: str) -> None:
        with self._lock:
            known = self._pending.pop(work, None) is not None
        if known and self.journal is not None:
            self.journal({"k": "work-", "id": work})

    def _stopping(self) -> bool:
        """The runner is stopping: a failure now is not the work's fault, so the work stays pending."""
        return self.closed or bool(getattr(self.invoker, "closed", False))

    def pending_work(self) -> dict[str, dict[str, Any]]:
        """Accepted and not finished (for the snapshot)."""
        with self._lock:
            return dict(self._pending)

    def resume(self, jobs: dict[str, dict[str, Any]]) -> None:
        """Run work left pending by the previous run (from the snapshot and the journal)."""
        for work, job in jobs.items():
            self._accept(job, work)
            if job.get("kind") == "invoke":
                self.executor.submit(self._invoke_with_retry, job["function"], job["payload"], 0, work)
            elif job.get("kind") == "target":
                self.executor.submit(
                    self._deliver_one, job["rule"], job["target"], job["event"], job["payload"], 0, True, work
                )
        if jobs:
            log.info("resumed %d asynchronous invocations and deliveries left pending by the last run", len(jobs))

    def deliver(
        self,
        *,
        rule_name: str,
        rule_arn: str,
        targets: list[dict[str, Any]],
        event: dict[str, Any],
        wait: bool = False,
    ) -> list[Future[None]]:
        futures = []
        for target in targets:
            payload = target_input(target, event, rule_name=rule_name, rule_arn=rule_arn)
            if wait:
                self._deliver_one(rule_name, target, event, payload, attempt=0, retry=False)
            else:
                job = {"kind": "target", "rule": rule_name, "target": target, "event": event, "payload": payload}
                work = self._accept(job)
                futures.append(
                    self.executor.submit(self._deliver_one, rule_name, target, event, payload, 0, True, work)
                )
        return futures

    def invoke_async(self, function: str, payload: Any) -> None:
        """Lambda's ``Event`` invocation: run later, retry twice on error, then log and drop."""
        if self.closed:
            return
        work = self._accept({"kind": "invoke", "function": function, "payload": payload})
        self.executor.submit(self._invoke_with_retry, function, payload, 0, work)

    def _invoke_with_retry(self, function: str, payload: Any, attempt: int, work: str | None = None) -> None:
        if work is not None and self._stopping():
            return  # kept pending: the snapshot saves it for the next start
        try:
            result = self.invoker.invoke(function, payload)
        except Exception:
            if self._stopping():
                return
            log.exception("async invocation of %s failed", function)
            if work is not None:
                self._done(work)
            return
        if result.ok:
            if work is not None:
                self._done(work)
            return
        if work is not None and self._stopping():
            log.info("async invocation of %s interrupted by the stop; it runs again after the restart", function)
            return
        if attempt < len(self.retry_delays) and not self.closed:
            log.warning(
                "async invocation of %s failed (%s: %s); retry %d in %.1fs",
                function,
                result.error_type,
                result.error_message,
                attempt + 1,
                self.retry_delays[attempt],
            )
            timer = threading.Timer(self.retry_delays[attempt], self._retry, (function, payload, attempt + 1, work))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
        else:
            log.error(
                "async invocation of %s failed for good: %s: %s", function, result.error_type, result.error_message
            )
            if work is not None:
                self._done(work)

    def _retry(self, function: str, payload: Any, attempt: int, work: str | None) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        if self.closed:
            return  # kept pending
        self.executor.submit(self._invoke_with_retry, function, payload, attempt, work)

    def _deliver_one(
        self,
        rule_name: str,
        target: dict[str, Any],
        event: dict[str, Any],
        payload: Any,
        attempt: int,
        retry: bool,
        work: str | None = None,
    ) -> None:
        service, resource = arn_parts(target["Arn"])
        try:
            if service == "lambda":
                if retry:
                    self._invoke_with_retry(resource, payload, attempt, work)
                    return
                result = self.invoker.invoke(resource, payload)
                if not result.ok:
                    log.error("%s → %s failed: %s: %s", rule_name, resource, result.error_type, result.error_message)
            elif service == "states":
                sfn = self.clients("stepfunctions")
                try:
                    sfn.start_execution(
                        stateMachineArn=resource,
                        name=execution_name(rule_name, str(event.get("id"))),
                        input=json.dumps(payload),
                    )
                except sfn.exceptions.ExecutionAlreadyExists:
                    log.info("%s: execution for event %s already started", rule_name, event.get("id"))
            elif service == "sqs":
                sqs = self.clients("sqs")
                url = sqs.get_queue_url(QueueName=resource)["QueueUrl"]
                kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": json.dumps(payload)}
                group = (target.get("SqsParameters") or {}).get("MessageGroupId")
                if group:
                    kwargs["MessageGroupId"] = group
                    kwargs["MessageDeduplicationId"] = str(event.get("id"))
                sqs.send_message(**kwargs)
            else:
                log.error("%s: target kind %s is not delivered locally", rule_name, service)
        except Exception:
            if work is not None and self._stopping():
                return  # kept pending
            log.exception("%s: delivering event %s to %s failed", rule_name, event.get("id"), target["Arn"])
        if work is not None:
            self._done(work)

    def close(self) -> None:
        self.closed = True
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
