"""Fixtures for the e2e tests: a runner subprocess shared by a test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.launch import Runner, start_runner


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """One ephemeral runner (product + fixture functions) shared by a test module."""
    r = start_runner(tmp_path_factory.mktemp("runner"))
    try:
        yield r
    finally:
        r.stop()
