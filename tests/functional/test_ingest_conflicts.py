"""Alerts meeting DynamoDB transaction conflicts never become a 5xx.

In DynamoDB two writes racing on one item (identical alerts on one incident, a join while the incident opens) end in
``TransactionCanceledException`` with reason ``TransactionConflict`` for a transaction, ``TransactionConflictException``
for a single write beside a transaction; the SDK retries neither. The emulator serialises every request, so it never
answers so by itself: a fault at moto's backend answers the first writes with exactly those errors, and the alerts
are judged on the replies and on what is stored."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.support.alerts import alertmanager_body, incident_metas, new_service, pd_body
from tests.support.identity import Session, login_as
from tests.support.lambdas import call_api

PD_HEADERS = {"content-type": "application/json", "user-agent": "python-pagerduty/7.2.0"}


class Conflicts:
    """How many of the next transactions and single updates DynamoDB answers with a conflict, and how many it did."""

    def __init__(self) -> None:
        self.transactions = 0
        self.updates = 0
        self.answered: Counter[str] = Counter()


@pytest.fixture
def conflicts(monkeypatch: pytest.MonkeyPatch) -> Conflicts:
    from moto.dynamodb.exceptions import DynamodbException, TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    state = Conflicts()
    transact, update = DynamoDBBackend.transact_write_items, DynamoDBBackend.update_item

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        if state.transactions > 0:
            state.transactions -= 1
            state.answered["transaction"] += 1
            reasons: list[Any] = [("TransactionConflict", "Transaction is ongoing for the item", None)]
            raise TransactionCanceledException(reasons + [(None, None, None)] * (len(transact_items) - 1))
        transact(self, transact_items)

    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        if state.updates > 0:
            state.updates -= 1
            state.answered["update"] += 1
            raise DynamodbException(
                "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                "Transaction is ongoing for the item",
            )
        return update(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", transact_write_items)
    monkeypatch.setattr(DynamoDBBackend, "update_item", update_item)
    return state


@pytest.fixture
def svc(admin: Session) -> tuple[str, str]:
    return new_service(admin, login_as("responder"))


def test_identical_pagerduty_alerts_meeting_conflicts_are_accepted_and_counted(
    svc: tuple[str, str], conflicts: Conflicts
) -> None:
    _, key = svc
    conflicts.transactions = 3  # the opening transaction, three times
    first = call_api("POST", "/v2/enqueue", headers=PD_HEADERS, body=json.dumps(pd_body("trigger", key)))
    conflicts.updates = 3  # the repeat's count, three times
    second = call_api("POST", "/v2/enqueue", headers=PD_HEADERS, body=json.dumps(pd_body("trigger", key)))

    assert (first.status, second.status) == (202, 202), (first.raw, second.raw)
    assert conflicts.answered == Counter({"transaction": 3, "update": 3}), "the faults were met"
    [meta] = incident_metas()
    assert meta["dedup_key"]["S"] == "payments-5xx"
    got = call_api("GET", f"/incidents/{meta['id']['S']}", headers=login_as("admin").headers)
    assert got.json["alert_count"] == 2


def test_an_alertmanager_group_joining_through_conflicts_is_applied_whole(
    svc: tuple[str, str], conflicts: Conflicts
) -> None:
    _, key = svc
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    conflicts.transactions, conflicts.updates = 2, 2
    got = call_api("POST", "/integrations/alertmanager", headers=headers, body=json.dumps(alertmanager_body()))
    assert got.status == 200, got.raw
    assert [r["result"] for r in got.json["results"]] == ["created", "attached"]
    resolved = alertmanager_body("partially-resolved")
    resolved["alerts"][1]["status"] = "resolved"
    conflicts.updates = 2  # each release meets one
    done = call_api("POST", "/integrations/alertmanager", headers=headers, body=json.dumps(resolved))
    assert done.status == 200, done.raw
    assert [r["result"] for r in done.json["results"]] == ["released", "resolved"]
    assert [m["incident_status"]["S"] for m in incident_metas()] == ["resolved"]


def test_an_alert_whose_writes_keep_conflicting_past_the_sdk_rounds_is_decided_again_not_a_5xx(
    svc: tuple[str, str], conflicts: Conflicts
) -> None:
    _, key = svc
    conflicts.transactions = 12  # more than the kit's rounds, twice over: the use case decides the alert again
    got = call_api("POST", "/v2/enqueue", headers=PD_HEADERS, body=json.dumps(pd_body("trigger", key)))
    assert got.status == 202, got.raw
    assert conflicts.answered["transaction"] == 12
    [meta] = incident_metas()
    assert meta["dedup_key"]["S"] == "payments-5xx"
