"""Step Functions waits on the emulator's clock: a jump ends the task timeouts, ``Wait`` states and retry intervals it
covers, promptly; a jump that falls short ends nothing; real time still counts. First the waits themselves, then
executions of ad-hoc state machines on a running emulator (fixture functions in-process)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from infra.local.clock import ShiftedClock
from infra.local.emulator import Emulator
from infra.local.hooks import ClockHooks
from infra.local.resources import ACCOUNT_ID, REGION, STATES_ROLE
from infra.local.waits import ClockWaits
from tests.fixtures.topology import fixture_topology
from tests.support.invoker import InProcessInvoker

#: how soon a jump must end the waits it covers
PROMPT_S = 0.5


class Waiter:
    """``event.wait(timeout)`` on a thread of its own, as moto's interpreter waits."""

    def __init__(self, waits: ClockWaits, timeout: float) -> None:
        self.event = waits.event()
        self.result: bool | None = None
        self.ended_at = 0.0
        self._thread = threading.Thread(target=self._run, args=(timeout,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 5
        while waits.waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.005)

    def _run(self, timeout: float) -> None:
        self.result = self.event.wait(timeout)
        self.ended_at = time.monotonic()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()


# -- the waits ------------------------------------------------------------------------------------------------------
def test_a_60_second_wait_ends_when_the_clock_moves_61_seconds() -> None:
    clock = ShiftedClock()
    waits = ClockWaits(clock.now)
    clock.subscribe(waits.advanced)
    waiter = Waiter(waits, 60)
    jumped = time.monotonic()
    clock.advance(timedelta(seconds=61))
    assert waiter.join(PROMPT_S), "the jump did not end the wait"
    assert waiter.result is False  # timed out, as the clock says
    assert waiter.ended_at - jumped < PROMPT_S


def test_a_30_second_jump_does_not_end_a_60_second_wait_and_the_rest_is_counted() -> None:
    clock = ShiftedClock()
    waits = ClockWaits(clock.now)
    clock.subscribe(waits.advanced)
    waiter = Waiter(waits, 60)
    clock.advance(timedelta(seconds=30))
    assert not waiter.join(0.3), "a 30 s jump ended a 60 s wait"
    clock.advance(timedelta(seconds=31))
    assert waiter.join(PROMPT_S)
    assert waiter.result is False


def test_real_time_still_ends_short_waits() -> None:
    waits = ClockWaits()
    started = time.monotonic()
    assert waits.event().wait(0.2) is False
    waits.sleep(0.1)
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 0.3 + PROMPT_S
    assert waits.waiting == 0


def test_set_ends_a_wait_even_when_cleared_at_once() -> None:
    waits = ClockWaits()
    answered = Waiter(waits, 60)
    answered.event.set()
    assert answered.join(PROMPT_S) and answered.result is True
    # moto signals a change of an execution's state with set(); clear(): its waiters must still wake
    nudged = Waiter(waits, 60)
    nudged.event.set()
    nudged.event.clear()
    assert nudged.join(PROMPT_S) and nudged.result is True
    assert not nudged.event.is_set()


def test_clock_hooks_replace_the_interpreters_waits_and_uninstall_restores_them() -> None:
    import importlib

    names = {
        "component.state.exec.execute_state": "threading",
        "eval.callback.callback": "Event",
        "eval.environment": "threading",
        "component.state.wait.wait_function.wait_function": "time",
        "component.state.wait.wait_function.timestamp": "datetime",
        "component.common.retry.retrier_decl": "time",
    }
    modules = {m: importlib.import_module("moto.stepfunctions.parser.asl." + m) for m in names}
    before = {m: getattr(modules[m], name) for m, name in names.items()}
    hooks = ClockHooks(ClockWaits())
    hooks.install()
    try:
        assert all(getattr(modules[m], name) is not before[m] for m, name in names.items())
        assert isinstance(modules["eval.callback.callback"].Event(), type(ClockWaits().event()))
    finally:
        hooks.uninstall()
    assert all(getattr(modules[m], name) is before[m] for m, name in names.items())


# -- executions on a running emulator ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def invoker() -> Iterator[InProcessInvoker]:
    # no schedules: a jump of the clock fires nothing, so each test sees only its own execution's waits
    with InProcessInvoker(replace(fixture_topology(), schedules=())) as inv:
        yield inv


@pytest.fixture(scope="module")
def emulator(invoker: InProcessInvoker) -> Iterator[Emulator]:
    emu = Emulator(invoker.topology, invoker, port=0, clock=ShiftedClock(), stream_poll_seconds=0.05)
    emu.start()
    yield emu
    emu.stop()


ECHO = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:oncall-echo"


def _run(emulator: Emulator, name: str, definition: dict[str, Any], payload: dict[str, Any]) -> str:
    sfn = emulator.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=name,
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{ACCOUNT_ID}:role/{STATES_ROLE}",
    )["stateMachineArn"]
    return str(sfn.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))["executionArn"])


def _status(emulator: Emulator, arn: str) -> dict[str, Any]:
    return dict(emulator.client("stepfunctions").describe_execution(executionArn=arn))


def _history(emulator: Emulator, arn: str) -> list[dict[str, Any]]:
    return list(emulator.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"])


def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _finished(emulator: Emulator, arn: str, timeout: float) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        desc = _status(emulator, arn)
        return desc if desc["status"] != "RUNNING" else None

    return dict(_until(ended, timeout, f"{arn} to end"))


def _entered(emulator: Emulator, arn: str, event_type: str, count: int = 1) -> None:
    _until(lambda: sum(e["type"] == event_type for e in _history(emulator, arn)) >= count, 10, event_type)


def test_a_jump_ends_a_wait_state(emulator: Emulator) -> None:
    arn = _run(
        emulator,
        "clock-wait-state",
        {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 600, "End": True}}},
        {"x": 1},
    )
    _entered(emulator, arn, "WaitStateEntered")
    time.sleep(0.2)
    assert _status(emulator, arn)["status"] == "RUNNING"
    emulator.advance_clock(timedelta(seconds=601))
    assert _finished(emulator, arn, PROMPT_S + 1)["status"] == "SUCCEEDED"


def test_a_jump_times_out_a_callback_task(emulator: Emulator, invoker: InProcessInvoker) -> None:
    arn = _run(
        emulator,
        "clock-callback-timeout",
        {
            "StartAt": "Ask",
            "States": {
                "Ask": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {"FunctionName": ECHO, "Payload": {"token.$": "$$.Task.Token"}},
                    "TimeoutSecondsPath": "$.wait_seconds",
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "TimedOut"}],
                    "End": True,
                },
                "TimedOut": {"Type": "Pass", "Parameters": {"timed_out.$": "$.error.Error"}, "End": True},
            },
        },
        {"wait_seconds": 1800},
    )
    _entered(emulator, arn, "TaskSubmitted")  # the function has the token; the 30-minute timeout runs
    emulator.advance_clock(timedelta(minutes=29))
    time.sleep(0.3)
    assert _status(emulator, arn)["status"] == "RUNNING", "29 minutes ended a 30-minute timeout"
    emulator.advance_clock(timedelta(minutes=2))
    done = _finished(emulator, arn, PROMPT_S + 1)
    assert done["status"] == "SUCCEEDED"
    assert json.loads(done["output"]) == {"timed_out": "States.Timeout"}


def test_a_jump_ends_a_retry_interval(emulator: Emulator, invoker: InProcessInvoker) -> None:
    arn = _run(
        emulator,
        "clock-retry",
        {
            "StartAt": "Flaky",
            "States": {
                "Flaky": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": ECHO, "Payload.$": "$"},
                    "Retry": [{"ErrorEquals": ["FlakyError"], "IntervalSeconds": 300, "MaxAttempts": 1}],
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "GaveUp"}],
                    "End": True,
                },
                "GaveUp": {"Type": "Pass", "Parameters": {"gave_up.$": "$.error.Error"}, "End": True},
            },
        },
        {"raise": "FlakyError", "message": "clock-retry"},
    )

    def attempts() -> int:
        return sum(
            1 for c in invoker.calls_to("echo") if isinstance(c.event, dict) and c.event.get("message") == "clock-retry"
        )

    _until(lambda: attempts() == 1, 10, "the first attempt")
    time.sleep(0.3)
    assert attempts() == 1 and _status(emulator, arn)["status"] == "RUNNING"
    emulator.advance_clock(timedelta(seconds=301))
    done = _finished(emulator, arn, PROMPT_S + 1)
    assert attempts() == 2
    assert json.loads(done["output"]) == {"gave_up": "FlakyError"}


def test_a_wait_until_a_timestamp_uses_the_emulators_clock(emulator: Emulator) -> None:
    # the emulator's clock ahead of the wall clock, as after any jump: the timestamp is read on the emulator's
    emulator.advance_clock(timedelta(hours=1))
    until = (emulator.now() + timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    arn = _run(
        emulator,
        "clock-timestamp",
        {"StartAt": "Until", "States": {"Until": {"Type": "Wait", "TimestampPath": "$.until", "End": True}}},
        {"until": until},
    )
    _entered(emulator, arn, "WaitStateEntered")
    time.sleep(0.2)
    assert _status(emulator, arn)["status"] == "RUNNING"
    emulator.advance_clock(timedelta(hours=1, seconds=2))
    assert _finished(emulator, arn, PROMPT_S + 1)["status"] == "SUCCEEDED"
    assert emulator.now() > datetime.fromisoformat(until.replace("Z", "+00:00"))
