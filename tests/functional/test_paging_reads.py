"""What one page costs in DynamoDB, pinned: the lifecycle's Page task reads the incident's service once (not once per
person paged and once more for the channel post), each paged person's profile once on the lifecycle's side, and the
notification rules are one read for the rules and their copies (docs/architecture.md, "Reads per page"). The tasks
run by hand on moto, people and the service's channel on the Slack sandbox on 127.0.0.1; every DynamoDB request of
every client is recorded with the item it names, so a read added back on this path fails here."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from infra.local.slack.server import SlackApiServer
from oncall.domain.escalation import Level, Target, TargetType
from oncall.domain.incidents import Severity
from oncall.domain.users import Role
from tests.support.identity import FakeClock, Session, make_user
from tests.support.incidents import ok
from tests.support.lambdas import call_api
from tests.support.slack import ENV, TOKEN, linked_member
from tests.support.telegram import telegram_env

#: DynamoDB reads of one Page task paging two people and posting to the service's channel: the incident (with its
#: alerts), its service, its policy, each person's profile on the lifecycle's side, then per person the notification
#: service's profile read and one Query of their partition (rules, flags, linked addresses). Was 14: the service once
#: more per page and for the channel post, each profile once more for the timeline's name. Writes are not pinned:
#: the shared rate windows' conditional updates retry with timing.
PAGE_TASK_READS = 9


@contextmanager
def dynamodb_requests() -> Iterator[list[tuple[str, str, str]]]:
    """Every DynamoDB request of every client, as (operation, table, the item or partition it names)."""
    from botocore.client import BaseClient

    seen: list[tuple[str, str, str]] = []
    lock = threading.Lock()
    real = BaseClient._make_api_call

    def recording(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            key = params.get("Key") or {}
            named = "/".join(str(next(iter(v.values()))) for v in key.values()) if key else ""
            if operation == "Query":
                named = str(sorted(str(next(iter(v.values()))) for v in params["ExpressionAttributeValues"].values()))
            with lock:
                seen.append((operation, str(params.get("TableName", "")), named))
        return real(self, operation, params)

    BaseClient._make_api_call = recording  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        BaseClient._make_api_call = real  # type: ignore[method-assign]


@pytest.fixture
def slack(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[SlackApiServer]:
    """The Slack sandbox the people and the channel are on (Telegram configured too, as deployed, and unused)."""
    from oncall import wiring

    with SlackApiServer(TOKEN) as server, telegram_env(monkeypatch):
        for name, value in {**ENV, "SLACK_API_URL": server.url}.items():
            monkeypatch.setenv(name, value)
        wiring.override(clock=clock)  # the Telegram set-up rebuilt the wiring
        yield server


def reads(seen: list[tuple[str, str, str]]) -> Counter[tuple[str, str]]:
    return Counter((table, named) for op, table, named in seen if op in ("GetItem", "Query"))


def test_a_page_task_reads_the_service_once_and_each_person_once_on_its_side(
    slack: SlackApiServer, clock: FakeClock
) -> None:
    from oncall import wiring
    from oncall.services.escalation import initial_state

    admin = make_user(Role.ADMIN)
    (alice, alice_member), (bob, bob_member) = linked_member(slack), linked_member(slack)
    channel = slack.add_channel("payments-incidents")
    catalog = wiring.incidents.catalog_service()
    level = Level((Target(TargetType.USER, alice.id), Target(TargetType.USER, bob.id)), 300)
    policy = catalog.create_policy(admin, name="payments", levels=[level])
    service, _ = catalog.create_service(admin, name="payments", escalation_policy_id=policy.id, slack_channel=channel)
    incident = wiring.incidents.incident_service().create(
        admin, title="Checkout returns 502", service_id=service.id, severity=Severity.HIGH
    )
    escalation = wiring.incidents.escalation_service()
    state = escalation.plan(initial_state(incident.id, incident.generation), advance=False)

    with dynamodb_requests() as seen:
        assert escalation.page_level(state, "token-1") == {"paged": 2, "queued": 0}

    # everyone got the page and the channel its message: the fewer reads lost nothing
    assert len(slack.outbox(slack.dm_of(alice_member))) == len(slack.outbox(slack.dm_of(bob_member))) == 1
    assert len(slack.outbox(channel)) == 1
    read = reads(seen)
    service_reads = {k: n for k, n in read.items() if k[1] == f"SVC#{service.id}/META"}
    assert list(service_reads.values()) == [1], seen
    for person in (alice, bob):
        # once by the lifecycle (active? name?), once by the notification service (addresses); rules and flags with
        # one Query of the person's partition
        assert read[("oncall-users", f"USER#{person.id}/PROFILE")] == 2, seen
        assert read[("oncall-notifications", str([f"PERSON#{person.id}"]))] == 1, seen
    assert not [(table, named) for (table, named), n in read.items() if n > 1 and "PROFILE" not in named], seen
    assert sum(read.values()) == PAGE_TASK_READS, seen
    pages = wiring.incidents.incident_store().page_entries(incident.id)
    assert {e.data.get("user_id") for e in pages} >= {alice.id, bob.id}


def test_notification_rules_and_their_copies_are_one_read(admin: Session) -> None:
    rules = {"page": ["telegram", "email"], "escalation": ["telegram"]}
    body = {"rules": rules, "also": {"page": ["email"]}}
    ok(call_api("PUT", "/me/notification-rules", headers=admin.headers, body=body))
    rules_item = ("oncall-notifications", f"PERSON#{admin.user.id}/RULES")

    with dynamodb_requests() as seen:
        got = ok(call_api("GET", "/me/notification-rules", headers=admin.headers))
    assert got["rules"]["page"] == ["telegram", "email"] and got["also"] == {"page": ["email"]}
    assert reads(seen)[rules_item] == 1, seen

    # a PUT that keeps the copies reads the item once too, and keeps them
    with dynamodb_requests() as seen:
        kept = ok(call_api("PUT", "/me/notification-rules", headers=admin.headers, body={"rules": rules}))
    assert kept["also"] == {"page": ["email"]}
    assert reads(seen)[rules_item] == 1, seen
