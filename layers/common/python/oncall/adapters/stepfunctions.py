"""Starting executions and answering callback tasks, with the retries-are-fine semantics our callers need.

- ``start_execution``: executions are named (``<incident id>-<generation>``), so a retried start meets
  ``ExecutionAlreadyExists``; that means "already started", which is success for the caller.
- ``send_task_success`` / ``send_task_failure``: an acknowledgement can arrive after the wait it answers has timed out
  or after another channel already answered. AWS then says ``TaskTimedOut`` (moto says ``InvalidToken``), or
  ``TaskDoesNotExist``; none of them is the caller's problem, so they return ``False`` instead of raising.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from botocore.exceptions import ClientError

from oncall.observability import log

LATE_TOKEN_ERRORS = frozenset({"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"})


class StepFunctions(Protocol):
    """The part of a boto3 ``stepfunctions`` client used here."""

    def start_execution(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def send_task_success(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def send_task_failure(self, **kwargs: Any) -> Mapping[str, Any]: ...


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def start_execution(sfn: StepFunctions, *, state_machine_arn: str, name: str, payload: Mapping[str, Any]) -> str:
    """Start ``name`` (idempotent: an existing execution of that name counts as started); returns its ARN."""
    try:
        response = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(dict(payload)))
    except ClientError as exc:
        if _code(exc) != "ExecutionAlreadyExists":
            raise
        log.info("execution %s already exists", name)
        return execution_arn(state_machine_arn, name)
    return str(response["executionArn"])


def send_task_success(sfn: StepFunctions, token: str, output: Mapping[str, Any]) -> bool:
    """Complete the task; ``False`` when the token is no longer waiting (timed out, answered, unknown)."""
    return _answer(lambda: sfn.send_task_success(taskToken=token, output=json.dumps(dict(output))))


def send_task_failure(sfn: StepFunctions, token: str, *, error: str, cause: str = "") -> bool:
    """Fail the task with ``error`` (what the state machine's Catch matches); ``False`` when it is no longer waiting."""
    return _answer(lambda: sfn.send_task_failure(taskToken=token, error=error[:256], cause=cause[:32768]))


def _answer(call: Callable[[], object]) -> bool:
    """A waiting task answered; an answer that comes too late (the token no longer waits) is not an error."""
    try:
        call()
    except ClientError as exc:
        if _code(exc) not in LATE_TOKEN_ERRORS:
            raise
        log.info("late task token ignored (%s)", _code(exc))
        return False
    return True
