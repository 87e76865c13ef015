"""Teams under real concurrency (threads against the emulator, made atomic per request as the runner makes it:
``locked_aws``), judged on what is stored afterwards: a team deleted while others put objects and members into it
leaves no object and no member behind it, and memberships changed at once keep their two copies in agreement."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3

from oncall.domain.errors import DomainError
from oncall.domain.teams import TeamRole
from oncall.domain.users import Role
from tests.support.identity import make_user

THREADS = 20


def race(jobs: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(job: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            out = job()
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(out)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def stored(table: str) -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items += page["Items"]
    return items


def test_a_team_deleted_while_others_fill_it_leaves_nothing_behind(locked_aws: dict[str, str]) -> None:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    teams = wiring.incidents.team_service()
    schedules = wiring.core.schedule_service()
    for round_ in range(4):
        # even rounds race schedules and members into the team; odd rounds members only, so the delete can win
        team = teams.create(admin, name=f"Doomed {round_}", description=None)
        people = [make_user(Role.RESPONDER, teams={}) for _ in range(4 if round_ % 2 == 0 else THREADS - 1)]
        jobs: list[Callable[[], Any]] = [lambda tid=team.id: teams.delete(admin, tid)]
        if round_ % 2 == 0:
            jobs += [
                lambda i=i, tid=team.id: schedules.create_schedule(admin, name=f"S{i}", timezone="UTC", team_id=tid)
                for i in range(THREADS - 1 - len(people))
            ]
        jobs += [lambda p=p, tid=team.id: teams.put_member(admin, tid, p.id, TeamRole.RESPONDER) for p in people]
        _, errors = race(jobs)
        assert all(isinstance(e, DomainError) for e in errors), errors  # refused, never a crash

        catalog = stored(locked_aws["ONCALL_TABLE_CATALOG"])
        exists = any(i["pk"]["S"] == f"TEAM#{team.id}" and i["sk"]["S"] == "META" for i in catalog)
        owned = [i for i in stored(locked_aws["ONCALL_TABLE_SCHEDULES"]) if i.get("team_id", {}).get("S") == team.id]
        members = [i for i in catalog if i["pk"]["S"] == f"TEAM#{team.id}" and i["sk"]["S"].startswith("MEMBER#")]
        profiles = {
            i["id"]["S"]: i.get("teams", {}).get("M", {})
            for i in stored(locked_aws["ONCALL_TABLE_USERS"])
            if i["sk"]["S"] == "PROFILE"
        }
        if exists:  # the delete lost: it saw the team owning something and said so
            assert owned, "a delete refused for an empty team"
            assert any("team_not_empty" in str(getattr(e, "code", "")) for e in errors)
        else:  # the delete won: nothing was put into the team after its mark, nothing stayed
            assert owned == [] and members == []
            assert all(team.id not in teams_of for teams_of in profiles.values())
        if round_ % 2:
            assert not exists, "a team that could own nothing was deleted, its racing members with it"
        # the team's two copies of each membership agree, whoever won
        assert {i["user_id"]["S"] for i in members} == {u for u, t in profiles.items() if team.id in t}


def test_memberships_changed_at_once_keep_both_copies_in_agreement(locked_aws: dict[str, str]) -> None:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    teams = wiring.incidents.team_service()
    many = [teams.create(admin, name=f"T{i}", description=None) for i in range(THREADS)]
    person = make_user(Role.RESPONDER, teams={})
    roles = list(TeamRole)
    _, errors = race(
        [lambda t=t, i=i: teams.put_member(admin, t.id, person.id, roles[i % 3]) for i, t in enumerate(many)]
    )
    assert errors == []
    stored_user = wiring.core.user_store().get(person.id)
    assert stored_user is not None
    assert stored_user.teams == {t.id: roles[i % 3].value for i, t in enumerate(many)}

    # half of them removed while the other half are changed, at once
    jobs: list[Callable[[], Any]] = [lambda t=t: teams.remove_member(admin, t.id, person.id) for t in many[::2]]
    jobs += [lambda t=t: teams.put_member(admin, t.id, person.id, TeamRole.MANAGER) for t in many[1::2]]
    _, errors = race(jobs)
    assert errors == []
    stored_user = wiring.core.user_store().get(person.id)
    assert stored_user is not None and stored_user.teams == {t.id: "manager" for t in many[1::2]}
    records = {
        i["pk"]["S"][5:]: i["role"]["S"]
        for i in stored(locked_aws["ONCALL_TABLE_CATALOG"])
        if i["sk"]["S"] == f"MEMBER#{person.id}"
    }
    assert records == stored_user.teams
