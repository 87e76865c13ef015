"""The readiness check's own rules, with plain callables as probes: probes run side by side, a hung one is cut off at
the deadline, each is timed, and a failure is reported as a short code, never as the text of an error."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from oncall.services.readiness import TIMEOUT, Probe, ReadinessCheck


def ok() -> object:
    return None


def refused() -> object:
    raise PermissionError("arn:aws:iam::123456789012:role/secret-name is not authorized\nTraceback ...")


def test_every_probe_answering_is_ready_in_the_order_given() -> None:
    result = ReadinessCheck([Probe("table:users", ok), Probe("bus", ok)]).run()
    assert result.ready
    assert [(c.name, c.ok, c.error) for c in result.checks] == [("table:users", True, None), ("bus", True, None)]
    assert all(c.latency_ms >= 0 for c in result.checks)


def test_nothing_to_check_is_ready() -> None:
    assert ReadinessCheck([]).run().ready


def test_latency_is_measured_by_the_timer_in_milliseconds() -> None:
    readings = iter([10.0, 10.0042])
    (check,) = ReadinessCheck([Probe("bus", ok)], timer=lambda: next(readings)).run().checks
    assert check.latency_ms == 4.2


def test_a_failure_is_its_class_name_and_never_its_message() -> None:
    result = ReadinessCheck([Probe("table:users", ok), Probe("bus", refused)]).run()
    assert not result.ready
    bus = result.checks[1]
    assert (bus.ok, bus.error) == (False, "PermissionError")


def test_a_code_that_is_not_an_identifier_becomes_the_class_name() -> None:
    def chatty(exc: BaseException) -> str:
        return f"AccessDenied: {exc}"

    for describe in (chatty, lambda exc: "", lambda exc: "A" * 65, lambda exc: "arn:aws:events:us-east-1:1:bus/x"):
        (check,) = ReadinessCheck([Probe("bus", refused)], describe=describe).run().checks
        assert check.error == "PermissionError", describe
    (check,) = ReadinessCheck([Probe("bus", refused)], describe=lambda exc: "AccessDeniedException").run().checks
    assert check.error == "AccessDeniedException"


def test_a_describer_that_fails_falls_back_to_the_class_name() -> None:
    def broken(exc: BaseException) -> str:
        raise RuntimeError("boom")

    (check,) = ReadinessCheck([Probe("bus", refused)], describe=broken).run().checks
    assert check.error == "PermissionError"


def test_probes_run_at_the_same_time() -> None:
    # each probe waits for all the others: run one after another, the first would wait alone and fail
    barrier = threading.Barrier(8, timeout=2)
    result = ReadinessCheck([Probe(f"table:{i}", barrier.wait) for i in range(8)]).run()
    assert result.ready, result.checks


@pytest.fixture
def hang() -> Iterator[threading.Event]:
    released = threading.Event()
    yield released
    released.set()  # let the abandoned thread finish


def test_a_hung_probe_is_cut_off_at_the_deadline(hang: threading.Event) -> None:
    check = ReadinessCheck([Probe("table:users", ok), Probe("bus", hang.wait)], deadline_s=0.2)
    started = time.monotonic()
    result = check.run()
    took = time.monotonic() - started
    assert took < 1.0, took
    assert not result.ready
    users, bus = result.checks
    assert users.ok
    assert (bus.ok, bus.error, bus.latency_ms) == (False, TIMEOUT, 200.0)
