"""50 concurrent transitions on one incident: one winner per legal move, a timeline and an event stream that replay.

Real threads against moto with the emulator's DynamoDB lock shim (moto alone is not atomic under threads,
docs/architecture.md "Invariants"), calling the service the API routes call (powertools' resolver keeps per-request
state at class level, so handlers must not run concurrently in one process; the runner e2e covers the HTTP path with
worker processes).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from typing import Any

import boto3

from oncall.domain.errors import ConcurrentUpdate
from oncall.domain.escalation import Level, Target, TargetType
from oncall.domain.incidents import Action, IllegalTransition, Severity, Status
from oncall.domain.users import Role, User
from tests.support.identity import make_user

THREADS = 50


def setup_incident() -> tuple[Any, User, str]:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    responder = make_user(Role.RESPONDER)
    catalog = wiring.incidents.catalog_service()
    policy = catalog.create_policy(admin, name="p", levels=[Level((Target(TargetType.USER, responder.id),), 60)])
    service, _ = catalog.create_service(admin, name="svc", escalation_policy_id=policy.id)
    service_api = wiring.incidents.incident_service()
    inc = service_api.create(responder, title="Checkout returns 502", service_id=service.id, severity=Severity.HIGH)
    return service_api, responder, inc.id


def race(service: Any, actor: User, incident_id: str, actions: list[Action]) -> Counter[str]:
    barrier = threading.Barrier(len(actions))
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def run(action: Action) -> None:
        barrier.wait()
        try:
            service.act(actor, incident_id, action)
            result = f"won:{action.value}"
        except IllegalTransition:
            result = "illegal"
        except ConcurrentUpdate:
            result = "gave_up"
        with lock:
            outcomes[result] += 1

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(outcomes.values()) == len(actions)
    return outcomes


def replay(service: Any, incident_id: str) -> tuple[Status, list[int]]:
    """Walk the stored timeline's transitions in version order from ``triggered``: each must be legal."""
    from oncall.domain.incidents import MOVES

    entries, _ = service.store.timeline(incident_id, 1000, None)
    moves = sorted((e for e in entries if "previous" in e.data), key=lambda e: e.data["version"])
    status = Status.TRIGGERED
    for e in moves:
        assert Status(e.data["previous"]) is status, f"{e.kind} from {e.data['previous']} but the status was {status}"
        status = MOVES[(status, Action(e.kind))]
        assert Status(e.data["status"]) is status
    return status, [e.data["version"] for e in moves]


def outbox_versions(env: dict[str, str], incident_id: str) -> list[tuple[int, str]]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    items = ddb.query(
        TableName=env["ONCALL_TABLE_OUTBOX"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"incident#{incident_id}"}},
    )["Items"]
    return [(int(i["version"]["N"]), i["detail_type"]["S"]) for i in items]


def test_fifty_identical_moves_have_exactly_one_winner_each(locked_aws: dict[str, str]) -> None:
    service, actor, incident_id = setup_incident()
    for action in (Action.ACKNOWLEDGE, Action.RESOLVE, Action.REOPEN, Action.RESOLVE, Action.CLOSE):
        outcomes = race(service, actor, incident_id, [action] * THREADS)
        assert outcomes[f"won:{action.value}"] == 1, outcomes
        assert outcomes["illegal"] == THREADS - 1, outcomes
    final, versions = replay(service, incident_id)
    stored = service.get(incident_id)
    assert final is stored.status is Status.CLOSED
    assert versions == list(range(2, stored.version + 1))  # one entry per change, no gaps, no duplicates
    assert outbox_versions(locked_aws, incident_id) == [
        (1, "incident.triggered"),
        (2, "incident.acknowledged"),
        (3, "incident.resolved"),
        (4, "incident.reopened"),
        (5, "incident.resolved"),
        (6, "incident.closed"),
    ]


def test_fifty_mixed_moves_leave_a_timeline_that_replays(locked_aws: dict[str, str]) -> None:
    service, actor, incident_id = setup_incident()
    rng = random.Random(7)
    public = [Action.ACKNOWLEDGE, Action.UNACKNOWLEDGE, Action.RESOLVE, Action.REOPEN]
    actions = [rng.choice(public) for _ in range(THREADS)]
    outcomes = race(service, actor, incident_id, actions)
    wins = sum(n for k, n in outcomes.items() if k.startswith("won:"))
    assert wins >= 1 and outcomes["gave_up"] == 0
    final, versions = replay(service, incident_id)
    stored = service.get(incident_id)
    assert final is stored.status
    assert len(versions) == wins  # every win is one timeline transition and nothing else is
    assert versions == list(range(2, stored.version + 1))
    events = outbox_versions(locked_aws, incident_id)
    assert [v for v, _ in events] == list(range(1, stored.version + 1))
