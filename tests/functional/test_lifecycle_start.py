"""An incident's lifecycle is started off the outbox stream by the publisher, with no bus rule and no other
function on the way to its page: the real incident-lifecycle ASL on the emulator's Step Functions, tasks in-process,
pages to a fake Telegram Bot API on 127.0.0.1. (A start Step Functions refuses is the sweep's:
``test_lifecycle_fallback``.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.topology import TOPOLOGY
from oncall.domain.users import Role, User
from tests.functional.test_lifecycle_fallback import open_incident, pages_to, person, service_with
from tests.support.identity import make_user
from tests.support.lifecycle import Stack, lifecycle_stack, wait_until


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with lifecycle_stack() as s:
        yield s


@pytest.fixture(scope="module")
def admin(stack: Stack) -> User:
    return make_user(Role.ADMIN)


def test_no_rule_on_the_bus_starts_lifecycles() -> None:
    # the starter is the sweep's now: nothing on the bus invokes it (it is on a schedule only)
    assert not [rule.name for rule in TOPOLOGY.rules if any(t.name == "incident_starter" for t in rule.targets)]
    assert [s.name for s in TOPOLOGY.schedules if s.function == "incident_starter"] == ["lifecycle-sweep"]


def test_a_new_incident_is_started_by_the_publisher_once_and_paged(stack: Stack, admin: User) -> None:
    _, chat, level1 = person(3600)
    service = service_with(admin, [level1])
    inc = open_incident(service)
    wait_until(lambda: pages_to(stack, chat, inc["id"]), what="the page")
    assert [e["name"] for e in stack.executions(inc["id"])] == [f"{inc['id']}-1"]
    called = {c.function for c in stack.invoker.calls if inc["id"] in str(c.event)}
    assert "publisher" in called and "incident_starter" not in called
    assert len(pages_to(stack, chat, inc["id"])) == 1
