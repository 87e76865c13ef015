"""Where the emulator reaches into moto 5.2.5, all in one place, pinned and verified.

moto emulates the AWS APIs but cannot run our Lambda code (it wants Docker) and does not deliver EventBridge events to
Lambda or Step Functions targets. The emulator patches a few moto internals, on ``install`` and back on
``uninstall``, and routes those calls to a ``Routes`` object (the running ``Emulator``):

=====================================================================  ================================================
hook point (moto 5.2.5)                                                what we do there
=====================================================================  ================================================
``moto.awslambda.models.LambdaFunction.invoke(self, body,              run the function through the ``Invoker``; an
request_headers, response_headers)``                                   exception becomes ``x-amz-function-error:
                                                                       Unhandled`` + {errorMessage, errorType,
                                                                       stackTrace}, so Step Functions Retry/Catch on
                                                                       ``errorType`` works; ``Event`` invocations run
                                                                       in the background (202)
``moto.awslambda_simple.models.LambdaSimpleBackend.invoke``            the docker-free backend answers with a canned
                                                                       string; route it to ``LambdaBackend.invoke``,
                                                                       which finds the function and calls the above
``moto.events.models.Rule.send_to_targets(self, original_event,        Lambda / Step Functions / SQS targets are
transform_input=True)``                                                delivered by ``Routes.deliver`` (real envelope,
                                                                       our input transformation, asynchronously);
                                                                       other target kinds go to moto as before;
                                                                       schedule-only rules (moto matches their empty
                                                                       pattern against every event) and disabled rules
                                                                       are skipped
``moto.events.models.EventsBackend.put_events(self, events)``          an entry without ``Time`` gets the emulator's
                                                                       clock, so a shifted clock shows in ``time``
``moto.stepfunctions.parser.models.StepFunctionsParserBackend          ``faults.FAULTS`` may refuse it with
.start_execution(self, state_machine_arn, name, execution_input,        ``ThrottlingException`` (off by default; the
trace_header)``                                                        invoke hook above also asks it whether a task
                                                                       is to fail)
``DynamoHandler.call_action`` / ``DynamoDBStreamsHandler.call_action``  one lock (see ``dynamo_lock``)
``moto.dynamodbstreams.models.DynamoDBStreamsBackend.get_shard_iterator  read by ``streams`` (GetRecords semantics
/ get_records / shard_iterators``                                      without the HTTP round trip)
``moto.moto_server.werkzeug_app.DomainDispatcherApplication            remembered per host (moto lists its package
.get_backend_for_host(self, host)``                                    directory and tries every URL pattern each time)
``moto.core.responses.method_names_from_class(clazz)``                 remembered per class (moto lists a handler's
                                                                       methods with ``inspect`` on every request)
``moto.dynamodb.models.DynamoDBBackend.transact_write_items(self,      items remembered one by one instead of a deep
transact_items)``                                                      copy of every table it names (``dynamo_txn``)
``StreamShard`` (``id``, ``starting_sequence_number``), ``Table``       the poller finds a table's shard and stream
(``stream_shard``, ``latest_stream_label``, ``table_arn``)              ARN (instance attributes: checked in source)
=====================================================================  ================================================

``ClockHooks`` makes Step Functions wait on the runner's clock (``waits.ClockWaits``) by replacing names the
interpreter's modules imported, under ``moto.stepfunctions.parser.asl``; the methods that use them are checked in
source (``SOURCE_USES``), so a moto that waits some other way fails loudly instead of silently waiting in real time:

=====================================================================  ================================================
name replaced (module)                                                 the wait it moves onto the runner's clock
=====================================================================  ================================================
``threading`` (``component.state.exec.execute_state``)                 a task's ``TimeoutSeconds[Path]``
                                                                       (``ExecutionState._evaluate_with_timeout``)
``Event`` (``eval.callback.callback``)                                 a ``.waitForTaskToken`` task's wait for its
                                                                       answer, heartbeats
``threading`` (``eval.environment``)                                   ``program_state_event``, which ``Wait`` states
                                                                       wait on
``time`` (``component.state.wait.wait_function.wait_function``)        how long a ``Wait`` state has waited
``datetime`` (``component.state.wait.wait_function.timestamp``)        ``Timestamp``/``TimestampPath`` waits' "now"
``time`` (``component.common.retry.retrier_decl``)                     ``Retry`` intervals (``time.sleep``)
=====================================================================  ================================================

Long because every moto internal the emulator touches is listed, verified and patched here, in one place, so a
moto upgrade is checked against one file.

``verify_hook_points`` fails loudly (at emulator start, and in ``tests/functional/test_emulator_hooks.py``) when the
moto version or any of these signatures moves, instead of letting the runner silently stop delivering.
"""

from __future__ import annotations

import inspect
import json
import logging
import traceback
from collections.abc import Callable
from typing import Any, Protocol

from infra.local.contracts import InvokeResult
from infra.local.faults import FAULTS
from infra.local.resources import PREFIX
from infra.local.waits import ClockWaits

log = logging.getLogger("oncall.local.hooks")

MOTO_VERSION = "5.2.5"
_SFN = "moto.stepfunctions.parser.asl."

#: (module, qualified attribute, expected parameter names or None when only existence matters)
HOOK_POINTS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("moto.awslambda.models", "LambdaFunction.invoke", ("self", "body", "request_headers", "response_headers")),
    (
        "moto.awslambda.models",
        "LambdaBackend.invoke",
        ("self", "function_name", "qualifier", "body", "headers", "response_headers"),
    ),
    (
        "moto.awslambda_simple.models",
        "LambdaSimpleBackend.invoke",
        ("self", "function_name", "qualifier", "body", "headers", "response_headers"),
    ),
    ("moto.events.models", "Rule.send_to_targets", ("self", "original_event", "transform_input")),
    ("moto.events.models", "Rule.scheduled_expression", None),
    ("moto.events.models", "EventPattern.get_pattern", ("self",)),
    ("moto.events.models", "EventsBackend.put_events", ("self", "events")),
    (
        "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend.start_execution",
        ("self", "state_machine_arn", "name", "execution_input", "trace_header"),
    ),
    ("moto.dynamodb.responses", "DynamoHandler.call_action", ("self",)),
    (
        "moto.sqs.models",
        "SQSBackend.send_message",
        (
            "self",
            "queue_name",
            "message_body",
            "message_attributes",
            "delay_seconds",
            "deduplication_id",
            "group_id",
            "system_attributes",
            "validate_group_id",
        ),
    ),
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication.get_backend_for_host", ("self", "host")),
    ("moto.core.responses", "method_names_from_class", ("clazz",)),
    ("moto.dynamodbstreams.responses", "DynamoDBStreamsHandler.call_action", ("self",)),
    (
        "moto.dynamodbstreams.models",
        "DynamoDBStreamsBackend.get_shard_iterator",
        ("self", "arn", "shard_id", "shard_iterator_type", "sequence_number"),
    ),
    ("moto.dynamodbstreams.models", "DynamoDBStreamsBackend.get_records", ("self", "iterator_arn", "limit")),
    # served by the runner's own listener (``motoserver``), as moto's development server serves them
    ("moto.moto_server.werkzeug_app", "create_backend_app", ("service",)),
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication.__call__", ("self", "environ", "start_response")),
    ("moto.core.request", "environ_key_for_header", ("header_name",)),
    ("moto.core.request", "should_preserve_original_header_name", ("header_name",)),
    ("moto.core.request", "PRESERVED_HEADER_NAMES_ENVIRON_KEY", None),
    ("moto.settings", "moto_server_port", ()),
    (_SFN + "component.state.exec.execute_state", "threading", None),
    (_SFN + "component.state.exec.execute_state", "ExecutionState._evaluate_with_timeout", ("self", "env")),
    (_SFN + "eval.callback.callback", "Event", None),
    (_SFN + "eval.callback.callback", "CallbackEndpoint.wait", ("self", "timeout")),
    (_SFN + "eval.environment", "threading", None),
    (_SFN + "component.state.wait.wait_function.wait_function", "time", None),
    (
        _SFN + "component.state.wait.wait_function.wait_function",
        "WaitFunction._wait_interval",
        ("self", "env", "wait_seconds"),
    ),
    (_SFN + "component.state.wait.wait_function.timestamp", "datetime", None),
    (_SFN + "component.state.wait.wait_function.timestamp", "Timestamp._get_wait_seconds", ("self", "env")),
    (_SFN + "component.common.retry.retrier_decl", "time", None),
    (_SFN + "component.common.retry.retrier_decl", "RetrierDecl._eval_body", ("self", "env")),
)

#: where the Step Functions interpreter waits, and how (source that must still be there for ``ClockHooks`` to work)
SOURCE_USES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        _SFN + "component.state.exec.execute_state",
        "ExecutionState._evaluate_with_timeout",
        ("threading.Event()", ".wait(timeout_seconds)"),
    ),
    (_SFN + "eval.callback.callback", "CallbackEndpoint.__init__", ("self._notify_event = Event()",)),
    (_SFN + "eval.callback.callback", "CallbackEndpoint.wait", ("self._notify_event.wait(timeout=timeout)",)),
    (_SFN + "eval.callback.callback", "HeartbeatEndpoint.__init__", ("Event()",)),
    (_SFN + "eval.environment", "Environment.__init__", ("self.program_state_event = threading.Event()",)),
    (
        _SFN + "component.state.wait.wait_function.wait_function",
        "WaitFunction._wait_interval",
        ("time.time()", "env.program_state_event.wait(wait_seconds)"),
    ),
    (
        _SFN + "component.state.wait.wait_function.timestamp",
        "Timestamp._get_wait_seconds",
        ("datetime.datetime.now()",),
    ),
    (_SFN + "component.common.retry.retrier_decl", "RetrierDecl._eval_body", ("time.sleep(interval_seconds)",)),
    # dynamo_txn binds ``copy`` to an identity in this method: its one use must stay the backup of whole tables
    (
        "moto.dynamodb.models",
        "DynamoDBBackend.transact_write_items",
        ("original_table_state[table_name] = copy.deepcopy(", "self.tables[table_name] = original_table_state"),
    ),
)


class HookPointMoved(RuntimeError):
    pass


def verify_hook_points() -> None:
    """Raise ``HookPointMoved`` naming every hook point that no longer looks the way the emulator expects."""
    import importlib

    import moto

    problems: list[str] = []
    if moto.__version__ != MOTO_VERSION:
        problems.append(f"moto {moto.__version__} installed, the emulator is pinned to {MOTO_VERSION}")
    for module_name, qualname, params in HOOK_POINTS:
        try:
            obj: Any = importlib.import_module(module_name)
        except ImportError as exc:
            problems.append(f"{module_name}: {exc}")
            continue
        owner_name, _, attr = qualname.rpartition(".")
        owner = getattr(obj, owner_name, None) if owner_name else obj
        if owner is None:
            problems.append(f"{module_name}.{owner_name} is gone")
            continue
        if attr == "scheduled_expression":
            # an instance attribute: check the constructor still sets it
            if "schedule_exp" not in inspect.signature(owner.__init__).parameters:
                problems.append(f"{module_name}.{owner_name}.__init__ no longer takes schedule_exp")
            continue
        target = inspect.getattr_static(owner, attr, None)
        if target is None:
            problems.append(f"{module_name}.{qualname} is gone")
            continue
        if params is not None:
            fn = getattr(target, "__wrapped__", target)
            fn = getattr(fn, "__func__", fn)
            got = tuple(inspect.signature(fn).parameters)
            if got != params:
                problems.append(f"{module_name}.{qualname}{got} != expected {params}")
    problems.extend(_instance_attributes())
    problems.extend(_source_uses())
    if problems:
        raise HookPointMoved("moto internals the local runner hooks have moved:\n  " + "\n  ".join(problems))


#: instance attributes the streams poller reads: (module, class, attribute names its ``__init__`` must assign)
INSTANCE_ATTRIBUTES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("moto.dynamodb.models.table", "StreamShard", ("id", "starting_sequence_number", "items", "table")),
    ("moto.dynamodb.models.table", "Table", ("stream_shard", "latest_stream_label", "name", "table_arn")),
)


def _instance_attributes() -> list[str]:
    import importlib

    problems = []
    for module_name, cls_name, attrs in INSTANCE_ATTRIBUTES:
        cls = getattr(importlib.import_module(module_name), cls_name, None)
        if cls is None:
            problems.append(f"{module_name}.{cls_name} is gone")
            continue
        source = inspect.getsource(cls)
        problems.extend(f"{module_name}.{cls_name} no longer sets .{a}" for a in attrs if f"self.{a} =" not in source)
    return problems


def _source_uses() -> list[str]:
    import importlib

    problems = []
    for module_name, qualname, snippets in SOURCE_USES:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if obj is None:
            problems.append(f"{module_name}.{qualname} is gone")
            continue
        source = inspect.getsource(obj)
        problems.extend(f"{module_name}.{qualname} no longer uses {s}" for s in snippets if s not in source)
    return problems


class Routes(Protocol):
    """What the hooks hand work to (implemented by ``routing.FunctionRoutes``)."""

    def invoke_function(self, function: str, event: Any) -> InvokeResult: ...

    def invoke_function_async(self, function: str, event: Any) -> None: ...

    def deliver(self, rule: Any, targets: list[dict[str, Any]], event: dict[str, Any]) -> None: ...

    def event_time(self) -> float: ...


def error_document(result: InvokeResult) -> dict[str, Any]:
    """Lambda's error payload for a failed invocation."""
    payload = result.payload
    if isinstance(payload, dict) and "errorType" in payload:
        doc = dict(payload)
        doc.setdefault("stackTrace", [])
        return doc
    return {
        "errorMessage": result.error_message or "",
        "errorType": result.error_type or "Exception",
        "stackTrace": [],
    }


def _header(headers: Any, name: str) -> str | None:
    """Case-insensitive header lookup over werkzeug headers or a plain dict."""
    for key, value in (headers or {}).items():
        if str(key).lower() == name:
            return str(value)
    return None


class _Patches:
    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def _patch(self, owner: Any, name: str, replacement: Any) -> None:
        self._saved.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, replacement)

    def uninstall(self) -> None:
        while self._saved:
            owner, name, original = self._saved.pop()
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


class Hooks(_Patches):
    """Installs the patches for one ``Routes`` (only one emulator per process can own moto's backends)."""

    def __init__(self, routes: Routes) -> None:
        super().__init__()
        self.routes = routes

    def install(self) -> None:
        from moto.awslambda.models import LambdaBackend, LambdaFunction
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.core.exceptions import AWSError
        from moto.events.models import EventsBackend, Rule
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend

        routes = self.routes
        original_send: Callable[..., None] = Rule.send_to_targets
        original_put_events: Callable[..., list[dict[str, Any]]] = EventsBackend.put_events
        original_start: Callable[..., Any] = StepFunctionsParserBackend.start_execution

        def lambda_invoke(fn: Any, body: Any, request_headers: Any, response_headers: Any) -> bytes:
            name = fn.function_name
            if isinstance(body, bytes):
                body = body.decode()
            event = json.loads(body) if body else {}
            kind = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
            if kind == "DryRun":
                return b""
            if kind == "Event":
                routes.invoke_function_async(name, event)
                return b""
            injected = FAULTS.task_error(name.removeprefix(PREFIX), event)
            if injected is not None:
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(injected).encode()
            try:
                result = routes.invoke_function(name, event)
            except Exception as exc:  # the invoker itself failed: Lambda reports a service error the same way
                log.exception("invoking %s failed", name)
                result = InvokeResult(
                    payload={
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "stackTrace": traceback.format_exception(exc),
                    },
                    error_type=type(exc).__name__,
                    error_message=str(exc),
                )
            if result.ok:
                return json.dumps(result.payload).encode()
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(error_document(result)).encode()

        def simple_invoke(
            backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
        ) -> Any:
            return LambdaBackend.invoke(backend, function_name, qualifier, body, headers, response_headers)

        def send_to_targets(rule: Any, original_event: dict[str, Any], transform_input: bool = True) -> None:
            if rule.scheduled_expression and not rule.event_pattern.get_pattern():
                return  # schedule-only: fired by our scheduler, never by put_events
            if rule.state != "ENABLED" or not rule.event_pattern.matches_event(original_event):
                return
            ours = [t for t in rule.targets if _service(t["Arn"]) in ("lambda", "states", "sqs")]
            others = [t for t in rule.targets if t not in ours]
            if ours:
                routes.deliver(rule, ours, original_event)
            if others:
                import copy

                shadow = copy.copy(rule)
                shadow.targets = others
                original_send(shadow, original_event, transform_input)

        def put_events(backend: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            stamped = [e if e.get("Time") is not None else {**e, "Time": routes.event_time()} for e in events]
            return original_put_events(backend, stamped)

        self._patch(LambdaFunction, "invoke", lambda_invoke)
        self._patch(LambdaSimpleBackend, "invoke", simple_invoke)
        self._patch(Rule, "send_to_targets", send_to_targets)

        def start_execution(backend: Any, *args: Any, **kwargs: Any) -> Any:
            if not FAULTS.start_allowed():
                raise AWSError("Rate exceeded", "ThrottlingException", 400)
            return original_start(backend, *args, **kwargs)

        self._patch(EventsBackend, "put_events", put_events)
        self._patch(StepFunctionsParserBackend, "start_execution", start_execution)

        # The server looks a request's host up by listing moto's package directory and trying every service's URL
        # patterns, twice per request (the endpoint's host, then the one read from the signature): a tenth of the
        # emulator's CPU under load. The answer depends on the host alone, and the hosts are a handful.
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        original_lookup: Callable[..., Any] = DomainDispatcherApplication.get_backend_for_host
        backend_of: dict[str | None, Any] = {}

        def get_backend_for_host(app: Any, host: str | None) -> Any:
            if host not in backend_of:
                backend_of[host] = original_lookup(app, host)
            return backend_of[host]

        self._patch(DomainDispatcherApplication, "get_backend_for_host", get_backend_for_host)

        # Every request lists its handler class's methods (``inspect.getmembers``) to check the action is one of
        # them: a few hundred microseconds of the emulator's one interpreter per call, for an answer fixed per class.
        import moto.core.responses as moto_responses
        from moto.core.utils import method_names_from_class as original_names

        names_of: dict[Any, frozenset[str]] = {}

        def method_names_from_class(clazz: Any) -> frozenset[str]:
            names = names_of.get(clazz)
            if names is None:
                names = names_of[clazz] = frozenset(original_names(clazz))
            return names

        self._patch(moto_responses, "method_names_from_class", method_names_from_class)


class ClockHooks(_Patches):
    """Step Functions waits on ``waits`` (the runner's clock) instead of the wall clock; see the table above.

    Module names are replaced rather than methods, so moto's own code keeps running unchanged; only what it waits
    with is different. Executions started before ``install`` keep the events they already made.
    """

    def __init__(self, waits: ClockWaits) -> None:
        super().__init__()
        self.waits = waits

    def install(self) -> None:
        import importlib

        def module(name: str) -> Any:
            return importlib.import_module(_SFN + name)

        waits = self.waits
        self._patch(module("component.state.exec.execute_state"), "threading", waits.threading_module())
        self._patch(module("eval.callback.callback"), "Event", waits.event)
        self._patch(module("eval.environment"), "threading", waits.threading_module())
        self._patch(module("component.state.wait.wait_function.wait_function"), "time", waits.time_module())
        self._patch(module("component.state.wait.wait_function.timestamp"), "datetime", waits.datetime_module())
        self._patch(module("component.common.retry.retrier_decl"), "time", waits.time_module())


def _service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 else ""
