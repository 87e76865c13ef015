"""Usernames stay unique under real concurrency: 20 threads create the same name at once; the stored items decide.

moto's DynamoDB is not atomic under threads, so the emulator's lock shim (``infra.local.dynamo_lock``, what the
local runner installs) is on, as it is in the runner: the race is between our transaction and itself, not moto's.
"""

from __future__ import annotations

import threading

import boto3

from oncall.domain.users import Role, UsernameTaken
from tests.support.identity import PASSWORD

THREADS = 20


def _race(create) -> tuple[list[object], list[BaseException]]:
    barrier = threading.Barrier(THREADS)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        try:
            out = create(i)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(out)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def _stored(table: str) -> list[dict]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items += page["Items"]
    return items


def test_twenty_parallel_creates_of_one_username_store_exactly_one_user(locked_aws, aws):
    from oncall import wiring
    from oncall.services.users import NewUser

    service = wiring.core.user_service()
    results, errors = _race(
        lambda i: service.provision(
            NewUser(username="samename", password=PASSWORD, role=Role.RESPONDER, display_name=f"racer {i}")
        )
    )
    assert len(results) == 1, (results, errors)
    assert len(errors) == THREADS - 1
    assert all(isinstance(e, UsernameTaken) for e in errors), errors

    items = _stored(aws["ONCALL_TABLE_USERS"])
    users = [i for i in items if i["sk"]["S"] == "PROFILE" and i["username"]["S"] == "samename"]
    guards = [i for i in items if i["pk"]["S"] == "USERNAME#samename"]
    assert len(users) == 1, users  # no orphan rows from cancelled transactions either
    assert len(guards) == 1
    assert guards[0]["user_id"]["S"] == users[0]["id"]["S"] == results[0].id  # type: ignore[attr-defined]
    assert len([i for i in items if i["sk"]["S"] == "PROFILE"]) == 1


def test_parallel_refresh_of_one_token_yields_one_successor(locked_aws, aws):
    """Two tabs x10: every concurrent refresh of one token gets the same successor; the family stays alive."""
    from oncall import wiring
    from oncall.services.users import NewUser

    wiring.core.user_service().provision(NewUser(username="tabs", password=PASSWORD))
    auth = wiring.core.auth_service()
    pair = auth.login("tabs", PASSWORD, "127.0.0.1")
    results, errors = _race(lambda _: auth.refresh(pair.refresh_token))
    assert not errors, errors
    assert len({(p.access_token, p.refresh_token) for p in results}) == 1  # type: ignore[attr-defined]
    successor = results[0]
    assert auth.authenticate(successor.access_token).user.username == "tabs"  # type: ignore[attr-defined]
    items = _stored(aws["ONCALL_TABLE_AUTH"])
    tokens = [i for i in items if i["pk"]["S"].startswith("REFRESH#")]
    assert sorted(i["state"]["S"] for i in tokens) == ["active", "rotated"]
