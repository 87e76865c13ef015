"""Lint the incident-lifecycle ASL.

Linter: cfn-lint's rule E3601, which validates an ``AWS::StepFunctions::StateMachine`` ``Definition`` against the
Amazon States Language JSON schema cfn-lint ships (``cfnlint/data/schemas/other/step_functions/statemachine.json``):
state types, required and unknown fields, Next/End, Retry/Catch shapes, TimeoutSeconds vs TimeoutSecondsPath. The npm
``asl-validator`` is not installable offline in CI; cfn-lint is already a (deploy-group) dependency. On top of the
schema, graph checks the schema cannot express: every target exists, every state is reachable, every state can reach
the end, and each callback wait has a timeout from the state and a Catch for it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.local.resources import state_machine_definition
from infra.topology import TOPOLOGY

SM = TOPOLOGY.state_machine("incident-lifecycle")


def definition() -> dict[str, Any]:
    return json.loads(state_machine_definition(SM))  # type: ignore[no-any-return]


def lint(asl: dict[str, Any]) -> list[str]:
    from cfnlint.api import ManualArgs
    from cfnlint.api import lint as cfn_lint

    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Lifecycle": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/states",
                    "StateMachineType": "STANDARD",
                    "Definition": asl,
                },
            }
        },
    }
    matches = cfn_lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))
    return [f"{m.rule.id}: {m.message}" for m in matches]


def targets(state: dict[str, Any]) -> set[str]:
    out = {state["Next"]} if "Next" in state else set()
    out |= {c["Next"] for c in state.get("Catch", [])}
    out |= {c["Next"] for c in state.get("Choices", [])}
    if "Default" in state:
        out.add(state["Default"])
    return out


def test_the_schema_linter_accepts_the_definition() -> None:
    assert lint(definition()) == []


def test_the_linter_is_real_it_rejects_a_broken_definition() -> None:
    broken = definition()
    broken["States"]["Page"]["TimeoutSeconds"] = 5  # both TimeoutSeconds and TimeoutSecondsPath
    broken["States"]["Plan"]["Nxt"] = broken["States"]["Plan"].pop("Next")
    problems = lint(broken)
    assert any("E3601" in p for p in problems), problems


def test_every_target_exists_every_state_is_reachable_and_can_finish() -> None:
    asl = definition()
    states: dict[str, dict[str, Any]] = asl["States"]
    for name, state in states.items():
        assert targets(state) <= set(states), f"{name} points at an unknown state"
    reachable = {asl["StartAt"]}
    frontier = [asl["StartAt"]]
    while frontier:
        for nxt in targets(states[frontier.pop()]):
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(states)
    finishing = {n for n, s in states.items() if s["Type"] in ("Succeed", "Fail") or s.get("End")}
    changed = True
    while changed:
        changed = False
        for name, state in states.items():
            if name not in finishing and targets(state) & finishing:
                finishing.add(name)
                changed = True
    assert finishing == set(states)


@pytest.mark.parametrize("name", ["Page", "Hold"])
def test_callback_waits_take_their_timeout_from_the_state_and_catch_it(name: str) -> None:
    state = definition()["States"][name]
    assert state["Resource"] == "arn:aws:states:::lambda:invoke.waitForTaskToken"
    assert state["TimeoutSecondsPath"] == "$.wait_seconds" and "TimeoutSeconds" not in state
    assert state["Parameters"]["Payload"]["token.$"] == "$$.Task.Token"
    catches = [c for c in state["Catch"] if "States.Timeout" in c["ErrorEquals"]]
    assert catches and catches[0]["Next"] in ("Escalate", "HoldTimedOut")
    # IncidentMoved is caught before the States.ALL catch-all (order matters in Catch)
    names = [e for c in state["Catch"] for e in c["ErrorEquals"]]
    assert names.index("IncidentMoved") < names.index("States.ALL") and names[-1] == "States.ALL"


def test_substitutions_are_all_function_arns_and_the_machine_is_standard_friendly() -> None:
    text = state_machine_definition(SM)
    assert "${" not in text
    assert text.count("arn:aws:lambda:us-east-1:123456789012:function:oncall-escalation") == 6
    # no polling loop: no Wait except the back-off after an unexpected failure
    waits = [n for n, s in definition()["States"].items() if s["Type"] == "Wait"]
    assert waits == ["Recover"]


@pytest.mark.parametrize("name", ["Page", "Hold"])
def test_transient_task_failures_are_retried_but_decisions_are_not(name: str) -> None:
    """A throttled read inside a page must not skip a level; NobodyReachable / IncidentMoved are decisions, caught
    at once. Retriers apply in order (the first match wins), so the no-retry one comes first."""
    retry = definition()["States"][name]["Retry"]
    assert retry[0] == {"ErrorEquals": ["NobodyReachable", "IncidentMoved"], "MaxAttempts": 0}
    assert any(r["ErrorEquals"] == ["States.TaskFailed"] and r["MaxAttempts"] >= 1 for r in retry[1:])
    assert all("States.Timeout" not in r["ErrorEquals"] and "States.ALL" not in r["ErrorEquals"] for r in retry)


def test_every_task_catches_everything_so_no_failure_ends_the_lifecycle_unpaged() -> None:
    """A task that still fails after its retries goes to the fallback (which pages everyone); only the fallback
    failing too ends the execution, in a Fail state the lifecycle sweep notices (docs/architecture.md, "How a page
    flows")."""
    states = definition()["States"]
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        catch_all = [c for c in state.get("Catch", []) if c["ErrorEquals"] == ["States.ALL"]]
        assert catch_all, f"{name} has no catch-all"
        if name == "Fallback":
            assert catch_all[0]["Next"] == "LifecycleFailed" and states["LifecycleFailed"]["Type"] == "Fail"
        elif name not in ("Page", "Hold"):  # their failures escalate / re-plan, whose own failures fall back
            assert catch_all[0]["Next"] == "Fallback", name
    assert states["Fallback"]["Next"] == "Route"
    assert any(r["ErrorEquals"] == ["States.TaskFailed"] and r["MaxAttempts"] >= 3 for r in states["Fallback"]["Retry"])
    # a missing policy is a decision, not a transient failure: straight to the fallback
    for name in ("Plan", "Escalate"):
        assert states[name]["Retry"][0] == {"ErrorEquals": ["PolicyUnavailable"], "MaxAttempts": 0}
