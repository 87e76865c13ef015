"""Driving the product's paging through a runner as a person would: users linked to Telegram in the sandbox, a
two-level policy, incidents, the sandbox outbox, and where an incident's execution is waiting."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from tests.e2e.launch import Runner, ok

#: cheap password hashing (the runner hands ONCALL_* settings to the functions), so logins cost milliseconds
FAST_KDF = {"ONCALL_ARGON2_TIME_COST": "1", "ONCALL_ARGON2_MEMORY_KIB": "1024"}


def signed_in(runner: Runner, credentials: dict[str, str]) -> dict[str, str]:
    token = ok(runner.post("/auth/login", credentials))["access_token"]
    return {"Authorization": f"Bearer {token}"}


def linked_responder(runner: Runner, admin: dict[str, str], name: str, chat: int) -> str:
    body = {"username": name, "password": f"{name} passphrase!", "role": "responder", "display_name": name.title()}
    user = ok(runner.post("/users", body, headers=admin), 201)
    code = ok(runner.post(f"/users/{user['id']}/telegram-link", headers=admin), 201)["code"]
    reply = ok(runner.post("/_local/telegram/send", {"chat_id": chat, "text": f"/start {code}"}))
    assert reply["webhook_status"] == 200, reply
    return str(user["id"])


def two_level_service(
    runner: Runner, admin: dict[str, str], first: str, second: str, *, level_seconds: int, auto_close_seconds: int
) -> str:
    """A service whose policy pages ``first``, then ``second``, each for ``level_seconds``."""
    levels = [
        {"targets": [{"type": "user", "id": first}], "timeout_seconds": level_seconds},
        {"targets": [{"type": "user", "id": second}], "timeout_seconds": level_seconds},
    ]
    body = {"name": f"two-levels-{time.monotonic_ns()}", "levels": levels, "auto_close_seconds": auto_close_seconds}
    policy = ok(runner.post("/escalation-policies", body, headers=admin), 201)
    service = {"name": f"svc-{time.monotonic_ns()}", "escalation_policy_id": policy["id"]}
    return str(ok(runner.post("/services", service, headers=admin), 201)["id"])


def open_incident(runner: Runner, admin: dict[str, str], service_id: str, title: str) -> str:
    body = {"title": title, "service_id": service_id, "severity": "critical"}
    return str(ok(runner.post("/incidents", body, headers=admin), 201)["id"])


def pages(runner: Runner, chat: int, incident_id: str) -> list[dict[str, Any]]:
    """Messages sent to ``chat`` about the incident: its own page, or a digest of several whose buttons name it."""
    items = ok(runner.get("/_local/telegram/outbox", params={"chat_id": chat}))["items"]
    return [m for m in items if m["method"] == "sendMessage" and incident_id in json.dumps(m)]


def waiting_in(runner: Runner, incident_id: str, state: str, generation: int = 1) -> bool:
    """The incident's execution is in the callback task ``state`` and its Lambda has answered: the task's timeout
    is running, so an advance from now on counts against it."""
    from infra.local.resources import ACCOUNT_ID, REGION, state_machine_arn

    machine = state_machine_arn("incident-lifecycle", ACCOUNT_ID, REGION)
    arn = machine.replace(":stateMachine:", ":execution:") + f":{incident_id}-{generation}"
    sfn = runner.client("stepfunctions")
    try:
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    except sfn.exceptions.ExecutionDoesNotExist:
        return False
    submitted = False
    for event in reversed(events):
        if event["type"] == "TaskSubmitted":
            submitted = True
        elif event["type"] == "TaskStateEntered":
            return submitted and event["stateEnteredEventDetails"]["name"] == state
    return False


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def advance(runner: Runner, duration: str) -> datetime:
    """Jump the runner's clock ahead; returns its time just before the jump."""
    before = at(ok(runner.get("/_local/clock"))["now"])
    ok(runner.post("/_local/clock", {"advance": duration}))
    return before
