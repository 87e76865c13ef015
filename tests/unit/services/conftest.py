"""Services over in-memory fakes of their ports (``tests.support.fakes``): one clock per test, shared by every part."""

from __future__ import annotations

import pytest

from tests.support.fakes import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()
