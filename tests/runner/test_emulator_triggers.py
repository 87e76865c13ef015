"""Every trigger path of the emulator, with fixture functions run in-process (``tests/support/invoker.py``).

One emulator serves the module (starting one costs about a second); each test uses its own names and events, and
the clock is a ``ManualClock`` so scheduled times are exact.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from infra.local.clock import ManualClock
from infra.local.emulator import Emulator
from tests.fixtures.topology import fixture_topology
from tests.support.invoker import InProcessInvoker

START = datetime(2026, 1, 5, 8, 58, 30, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="module")
def invoker() -> Iterator[InProcessInvoker]:
    with InProcessInvoker(fixture_topology()) as inv:
        yield inv


@pytest.fixture(scope="module")
def emulator(invoker: InProcessInvoker) -> Iterator[Emulator]:
    emu = Emulator(
        invoker.topology,
        invoker,
        port=0,
        clock=ManualClock(START),
        scheduler_tick_seconds=0.05,
        stream_poll_seconds=0.05,
        stream_retry_delays=(0.05, 0.05, 0.05),
        lambda_retry_delays=(0.05, 0.05),
    )
    emu.start()
    yield emu
    emu.stop()


def client(emulator: Emulator, service: str, *, http: bool = False) -> Any:
    """In-process (through mock_aws) by default; ``http=True`` goes through the emulator's port like a worker."""
    if http:
        return boto3.client(service, region_name="us-east-1", endpoint_url=emulator.endpoint_url)
    return emulator.client(service)


def wait_execution(sfn: Any, arn: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            return dict(desc)
        time.sleep(0.05)
    raise AssertionError(f"{arn} still running after {timeout}s")


def put(
    emulator: Emulator, detail_type: str, detail: dict[str, Any], *, source: str = "oncall.test", bus: str = "oncall"
) -> str:
    out = client(emulator, "events").put_events(
        Entries=[{"Source": source, "DetailType": detail_type, "Detail": json.dumps(detail), "EventBusName": bus}]
    )
    assert out["FailedEntryCount"] == 0
    return str(out["Entries"][0]["EventId"])


ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}


# --- schedules ------------------------------------------------------------------------------------------------------
def test_advance_clock_fires_due_schedules_in_order_with_their_due_time(
    emulator: Emulator, invoker: InProcessInvoker
) -> None:
    before = emulator.now()
    # the product's own schedules fire too; this test is about the fixture ones
    fired = [f for f in emulator.advance_clock(timedelta(minutes=3)) if "-fixture-" in f]
    assert emulator.now() == before + timedelta(minutes=3)
    # 08:58:30 + 3 min: every minute at 08:59, 09:00, 09:01; the weekday cron at 09:00 (a Monday)
    assert fired == [
        "oncall-fixture-every-minute@2026-01-05T08:59:00Z",
        "oncall-fixture-every-minute@2026-01-05T09:00:00Z",
        "oncall-fixture-weekdays-9@2026-01-05T09:00:00Z",
        "oncall-fixture-every-minute@2026-01-05T09:01:00Z",
    ]
    scheduled = [c.event for c in invoker.calls_to("echo") if c.event.get("detail-type") == "Scheduled Event"]
    assert [(e["time"], e["resources"][0].rsplit("/", 1)[1]) for e in scheduled[-4:]] == [
        ("2026-01-05T08:59:00Z", "oncall-fixture-every-minute"),
        ("2026-01-05T09:00:00Z", "oncall-fixture-every-minute"),
        ("2026-01-05T09:00:00Z", "oncall-fixture-weekdays-9"),
        ("2026-01-05T09:01:00Z", "oncall-fixture-every-minute"),
    ]
    event = scheduled[-1]
    assert set(event) == ENVELOPE_KEYS
    assert event["source"] == "aws.events"
    assert event["detail"] == {}
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/oncall-fixture-every-minute"]
    # nothing is due again until the next minute
    assert [f for f in emulator.advance_clock(timedelta(seconds=10)) if "-fixture-" in f] == []


def test_put_events_does_not_trigger_schedule_only_rules(emulator: Emulator, invoker: InProcessInvoker) -> None:
    marker = f"m-{time.monotonic_ns()}"
    put(emulator, "nothing.matches", {"marker": marker})
    put(emulator, "echo.me", {"marker": marker})
    invoker.wait_for("echo", lambda c: c.event.get("detail", {}).get("marker") == marker)
    time.sleep(0.2)
    got = [c.event for c in invoker.calls_to("echo") if c.event.get("detail", {}).get("marker") == marker]
    # only the echo.me rule: the schedule rules' empty patterns would match everything in moto
    assert [e["detail-type"] for e in got] == ["echo.me"]


# --- EventBridge → Lambda / Step Functions ---------------------------------------------------------------------
def test_bus_event_reaches_lambda_with_the_real_envelope(emulator: Emulator, invoker: InProcessInvoker) -> None:
    detail = {"quote": 'say "hi"', "n": 1.5, "nested": {"list": [1, 2]}}
    event_id = put(emulator, "echo.me", detail)
    event = invoker.wait_for("echo", lambda c: c.event.get("id") == event_id).event
    assert set(event) == ENVELOPE_KEYS
    assert event["detail"] == detail
    assert event["source"] == "oncall.test"
    assert event["account"] == "123456789012"
    assert event["region"] == "us-east-1"
    # ISO time from the emulator's clock (a ManualClock here), not moto's epoch seconds
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) <= emulator.now()
    assert event["time"] == emulator.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def test_default_bus_alarm_rule_reaches_lambda(emulator: Emulator, invoker: InProcessInvoker) -> None:
    event_id = put(
        emulator,
        "CloudWatch Alarm State Change",
        {"alarmName": "api-5xx", "state": {"value": "ALARM"}},
        source="aws.cloudwatch",
        bus="default",
    )
    event = invoker.wait_for("echo", lambda c: c.event.get("id") == event_id).event
    assert event["detail"]["alarmName"] == "api-5xx"


def test_bus_event_starts_a_named_execution(emulator: Emulator, invoker: InProcessInvoker) -> None:
    sfn = client(emulator, "stepfunctions")
    event_id = put(emulator, "run.machine", {"incident": "01J0000000000000000000000A"})
    machine = emulator.state_machine_arn("fixture-simple")
    deadline = time.monotonic() + 10
    execs: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not execs:
        execs = [e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if event_id in e["name"]]
        time.sleep(0.05)
    assert execs, "no execution started"
    assert execs[0]["name"] == f"oncall-fixture-to-machine-{event_id}"
    desc = wait_execution(sfn, execs[0]["executionArn"])
    assert desc["status"] == "SUCCEEDED"
    output = json.loads(desc["output"])
    # the task saw the EventBridge envelope as the execution input
    assert output["echo"]["id"] == event_id
    assert output["echo"]["detail"] == {"incident": "01J0000000000000000000000A"}


def test_input_transformer_escapes_strings(emulator: Emulator, invoker: InProcessInvoker) -> None:
    events = client(emulator, "events")
    events.put_rule(
        Name="adhoc-transform", EventBusName="oncall", EventPattern=json.dumps({"detail-type": ["transform.me"]})
    )
    events.put_targets(
        Rule="adhoc-transform",
        EventBusName="oncall",
        Targets=[
            {
                "Id": "t",
                "Arn": "arn:aws:lambda:us-east-1:123456789012:function:oncall-echo",
                "InputTransformer": {
                    "InputPathsMap": {"title": "$.detail.title", "count": "$.detail.count", "id": "$.id"},
                    "InputTemplate": '{"text": "Incident <title> (<count>)", "count": <count>, "event": "<id>"}',
                },
            }
        ],
    )
    try:
        event_id = put(emulator, "transform.me", {"title": 'DB "primary" down\\now', "count": 3})
        got = invoker.wait_for("echo", lambda c: c.event.get("event") == event_id).event
        assert got == {"text": 'Incident DB "primary" down\\now (3)', "count": 3, "event": event_id}
    finally:
        events.remove_targets(Rule="adhoc-transform", EventBusName="oncall", Ids=["t"])
        events.delete_rule(Name="adhoc-transform", EventBusName="oncall")


# --- Lambda invoke and Step Functions --------------------------------------------------------------------------
def test_direct_invoke_over_http_returns_lambda_error_document(emulator: Emulator) -> None:
    lam = client(emulator, "lambda", http=True)
    ok = lam.invoke(FunctionName="oncall-echo", Payload=json.dumps({"hello": "world"}))
    assert "FunctionError" not in ok
    assert json.loads(ok["Payload"].read())["echo"] == {"hello": "world"}
    bad = lam.invoke(FunctionName="oncall-echo", Payload=json.dumps({"raise": "BoomError", "message": "no"}))
    assert bad["FunctionError"] == "Unhandled"
    doc = json.loads(bad["Payload"].read())
    assert doc["errorType"] == "BoomError"
    assert doc["errorMessage"] == "no"
    assert isinstance(doc["stackTrace"], list)


def test_declared_functions_exist_in_lambda(emulator: Emulator) -> None:
    names = {f["FunctionName"] for f in client(emulator, "lambda", http=True).list_functions()["Functions"]}
    assert {"oncall-api", "oncall-publisher", "oncall-echo", "oncall-stream_sink"} <= names


def test_wait_task_and_catch_on_error_type(emulator: Emulator) -> None:
    sfn = client(emulator, "stepfunctions")
    machine = emulator.state_machine_arn("fixture-wait-catch")
    started = time.monotonic()
    ok = sfn.start_execution(stateMachineArn=machine, name="wait-ok", input=json.dumps({"x": 1}))
    boom = sfn.start_execution(stateMachineArn=machine, name="wait-boom", input=json.dumps({"raise": "BoomError"}))
    ok_desc = wait_execution(sfn, ok["executionArn"])
    boom_desc = wait_execution(sfn, boom["executionArn"])
    assert time.monotonic() - started >= 1.0  # the Wait state really waited
    assert ok_desc["status"] == "SUCCEEDED"
    assert json.loads(ok_desc["output"]) == {"echo": {"x": 1}}
    assert boom_desc["status"] == "SUCCEEDED"
    caught = json.loads(boom_desc["output"])
    assert caught["caught"] == "BoomError"
    assert json.loads(caught["cause"])["errorMessage"] == "asked to fail"


def _callback_token(invoker: InProcessInvoker, marker: str) -> str:
    call = invoker.wait_for("echo", lambda c: c.event.get("request", {}).get("marker") == marker)
    return str(call.event["token"])


def test_callback_task_success(emulator: Emulator, invoker: InProcessInvoker) -> None:
    """Started and answered over the port, the way a worker process does it."""
    from oncall.adapters.stepfunctions import send_task_success

    sfn = client(emulator, "stepfunctions", http=True)
    run = sfn.start_execution(
        stateMachineArn=emulator.state_machine_arn("fixture-callback"),
        name="cb-ok",
        input=json.dumps({"marker": "cb-ok"}),
    )
    token = _callback_token(invoker, "cb-ok")
    assert send_task_success(sfn, token, {"acknowledged_by": "alice"}) is True
    desc = wait_execution(sfn, run["executionArn"])
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"acknowledged_by": "alice"}
    # a second (late) answer is a no-op for the caller
    assert send_task_success(sfn, token, {"acknowledged_by": "bob"}) is False


def test_callback_task_failure(emulator: Emulator, invoker: InProcessInvoker) -> None:
    from oncall.adapters.stepfunctions import send_task_failure

    sfn = client(emulator, "stepfunctions")
    run = sfn.start_execution(
        stateMachineArn=emulator.state_machine_arn("fixture-callback"),
        name="cb-no",
        input=json.dumps({"marker": "cb-no"}),
    )
    token = _callback_token(invoker, "cb-no")
    assert send_task_failure(sfn, token, error="Declined", cause="not mine") is True
    desc = wait_execution(sfn, run["executionArn"])
    assert desc["status"] == "FAILED"
    assert desc.get("error") == "Declined"


def test_callback_task_timeout_then_late_answer(emulator: Emulator, invoker: InProcessInvoker) -> None:
    from oncall.adapters.stepfunctions import send_task_success

    sfn = client(emulator, "stepfunctions")
    run = sfn.start_execution(
        stateMachineArn=emulator.state_machine_arn("fixture-callback"),
        name="cb-late",
        input=json.dumps({"marker": "cb-late"}),
    )
    token = _callback_token(invoker, "cb-late")
    desc = wait_execution(sfn, run["executionArn"])  # TimeoutSeconds = 2
    assert desc["status"] == "SUCCEEDED"
    assert json.loads(desc["output"]) == {"timed_out": True, "error": "States.Timeout"}
    assert send_task_success(sfn, token, {"acknowledged_by": "carol"}) is False


def test_start_execution_helper_is_idempotent(emulator: Emulator) -> None:
    from oncall.adapters.stepfunctions import start_execution

    sfn = client(emulator, "stepfunctions")
    machine = emulator.state_machine_arn("fixture-simple")
    first = start_execution(sfn, state_machine_arn=machine, name="inc-1-1", payload={"a": 1})
    # same name, different input: AWS answers ExecutionAlreadyExists, which the helper treats as started
    again = start_execution(sfn, state_machine_arn=machine, name="inc-1-1", payload={"a": 2})
    assert first == again
    assert wait_execution(sfn, first)["status"] == "SUCCEEDED"


# --- asynchronous invocations ------------------------------------------------------------------------------------
def test_failing_lambda_target_is_retried_twice_like_async_invoke(
    emulator: Emulator, invoker: InProcessInvoker
) -> None:
    events = client(emulator, "events")
    events.put_rule(Name="adhoc-retry", EventBusName="oncall", EventPattern=json.dumps({"detail-type": ["retry.me"]}))
    events.put_targets(
        Rule="adhoc-retry",
        EventBusName="oncall",
        Targets=[
            {"Id": "t", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:oncall-echo", "InputPath": "$.detail"}
        ],
    )
    try:
        marker = f"r-{time.monotonic_ns()}"
        put(emulator, "retry.me", {"raise": "FlakyError", "message": marker})

        def attempts() -> list[Any]:
            return [
                c for c in invoker.calls_to("echo") if isinstance(c.event, dict) and c.event.get("message") == marker
            ]

        deadline = time.monotonic() + 10
        while len(attempts()) < 3:
            assert time.monotonic() < deadline, f"only {len(attempts())} attempts"
            time.sleep(0.02)
        time.sleep(0.3)
        assert len(attempts()) == 3  # the first try and two retries, then dropped
        assert all(c.result.error_type == "FlakyError" for c in attempts())
    finally:
        events.remove_targets(Rule="adhoc-retry", EventBusName="oncall", Ids=["t"])
        events.delete_rule(Name="adhoc-retry", EventBusName="oncall")


def test_event_invocation_returns_202_and_runs_later(emulator: Emulator, invoker: InProcessInvoker) -> None:
    lam = client(emulator, "lambda", http=True)
    marker = f"ev-{time.monotonic_ns()}"
    out = lam.invoke(FunctionName="oncall-echo", InvocationType="Event", Payload=json.dumps({"marker": marker}))
    assert out["StatusCode"] == 202
    call = invoker.wait_for("echo", lambda c: isinstance(c.event, dict) and c.event.get("marker") == marker)
    assert call.result.ok


def test_undeclared_function_gets_an_error_document(emulator: Emulator) -> None:
    lam = client(emulator, "lambda")
    lam.create_function(
        FunctionName="made-by-hand",
        Runtime="python3.13",
        Role="arn:aws:iam::123456789012:role/oncall-local-lambda",
        Handler="handler.handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )
    out = lam.invoke(FunctionName="made-by-hand", Payload=b"{}")
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out["Payload"].read())["errorType"] == "Runtime.HandlerNotFound"


def test_only_one_emulator_per_process(emulator: Emulator, invoker: InProcessInvoker) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        Emulator(invoker.topology, invoker, port=0).start()
    assert emulator.running
