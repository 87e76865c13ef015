"""Fixtures the functional modules share: the wiring's clock, moved by hand, and logged-in people of each role."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from oncall.domain.users import Role
from tests.support.identity import FakeClock, Session, login_as


@pytest.fixture
def clock_start() -> datetime | None:
    """Where ``clock`` starts: the real now, or the instant a module names by overriding this fixture."""
    return None


@pytest.fixture
def clock(aws: dict[str, str], clock_start: datetime | None) -> Iterator[FakeClock]:
    """What every service the wiring builds takes as now (expiry, windows, grace without sleeping); the wiring is
    rebuilt on both sides so no service keeps the real clock or another test's settings."""
    from oncall import wiring
    from oncall.settings import get_settings

    wiring.reset()
    fake = FakeClock(clock_start)
    wiring.override(clock=fake)
    yield fake
    wiring.reset()
    get_settings.cache_clear()


@pytest.fixture
def admin(clock: FakeClock) -> Session:
    return login_as(Role.ADMIN)


@pytest.fixture
def responder(clock: FakeClock) -> Session:
    return login_as(Role.RESPONDER)
