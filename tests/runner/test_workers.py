"""Worker pools behave like Lambda execution environments: real processes, warm reuse, Lambda's failure modes."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest

from infra.local.clock import OffsetFile
from infra.local.contracts import InvokeResult
from infra.local.resources import function_environment
from infra.local.workers import WorkerPools
from tests.e2e.fixtures.topology import TOPOLOGY


@pytest.fixture(scope="module")
def log_lines() -> list[tuple[str, str]]:
    return []


@pytest.fixture(scope="module")
def pools(log_lines: list[tuple[str, str]]) -> Iterator[WorkerPools]:
    lock = threading.Lock()

    def sink(function: str, line: str) -> None:
        with lock:
            log_lines.append((function, line))

    with WorkerPools(
        TOPOLOGY,
        lambda fn: {**function_environment(fn), "FIXTURE_MARK": fn.name},
        "http://127.0.0.1:1",
        log=sink,
    ) as p:
        yield p


def test_first_invocation_is_cold_then_warm_in_the_same_process(pools: WorkerPools) -> None:
    first = pools.invoke("fixture-echo", {"action": "echo", "n": 1})
    second = pools.invoke("fixture-echo", {"action": "echo", "n": 2})
    assert first.ok, first.payload
    assert first.cold and not second.cold
    assert first.worker_pid == second.worker_pid == first.payload["pid"] == second.payload["pid"]
    # the module was imported once: the warm invocation sees the same init timestamp
    assert first.payload["loaded_at"] == second.payload["loaded_at"]
    assert second.payload["event"] == {"action": "echo", "n": 2}
    assert first.payload["request_id"] != second.payload["request_id"]
    # the ARN of the function as the emulator registered it (same account and region)
    assert first.payload["function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:oncall-fixture-echo"
    assert 0 < second.payload["remaining_ms"] <= 3000


def test_worker_sees_a_lambda_environment_not_the_runners(pools: WorkerPools, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "developer-profile-must-not-leak")
    pools.close_idle("fixture-echo")
    names = [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "ONCALL_TABLE_FIXTURE",
        "FIXTURE_MARK",
        "AWS_PROFILE",
    ]
    echo = pools.invoke("fixture-echo", {"action": "echo", "env": names})
    env = echo.payload["env"]
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_ACCOUNT_ID_ENDPOINT_MODE"] == "disabled"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "oncall-fixture-echo"
    assert env["FIXTURE_MARK"] == "fixture-echo"
    assert env["AWS_PROFILE"] is None
    # the handler's code folder is its cwd and first on sys.path, the common layer next to it
    assert echo.payload["cwd"].endswith("functions/echo")
    assert echo.payload["sys_path"][0].endswith("functions/echo")
    assert echo.payload["sys_path"][1].endswith("layers/common/python")


def test_handler_exception_is_an_error_result_and_the_worker_stays_warm(pools: WorkerPools) -> None:
    warm = pools.invoke("fixture-echo", {"action": "echo"})
    failed = pools.invoke("fixture-echo", {"action": "raise", "message": "bad input"})
    after = pools.invoke("fixture-echo", {"action": "echo"})
    assert failed.error_type == "ValueError"
    assert failed.error_message == "bad input"
    assert failed.payload["errorType"] == "ValueError"
    assert any("raise ValueError" in frame for frame in failed.payload["stackTrace"])
    assert after.ok and after.worker_pid == warm.worker_pid == failed.worker_pid


def test_worker_that_dies_is_reported_and_replaced(pools: WorkerPools) -> None:
    died = pools.invoke("fixture-echo", {"action": "exit", "code": 7})
    assert died.error_type == "Runtime.ExitError"
    assert "exit status 7" in (died.error_message or "")
    again = pools.invoke("fixture-echo", {"action": "echo"})
    assert again.ok
    assert again.worker_pid != died.worker_pid


def test_worker_killed_while_idle_is_replaced_without_failing_an_invocation(pools: WorkerPools) -> None:
    warm = pools.invoke("fixture-echo", {"action": "echo"})
    os.kill(warm.worker_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(warm.worker_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    after = pools.invoke("fixture-echo", {"action": "echo"})
    assert after.ok, after.payload
    assert after.cold and after.worker_pid != warm.worker_pid


def test_timeout_kills_the_worker(pools: WorkerPools) -> None:
    started = time.monotonic()
    result = pools.invoke("fixture-echo", {"action": "sleep", "seconds": 30})  # function timeout is 3 s
    assert time.monotonic() - started < 10
    assert result.error_type == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in (result.error_message or "")
    assert result.worker_pid not in next(s for s in pools.stats() if s.function == "fixture-echo").pids
    assert pools.invoke("fixture-echo", {"action": "echo"}).ok


def test_stdout_logs_are_forwarded_and_never_mixed_into_results(
    pools: WorkerPools, log_lines: list[tuple[str, str]]
) -> None:
    result = pools.invoke("fixture-echo", {"action": "log", "lines": 500})
    assert result.ok and result.payload == {"logged": 500}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        mine = [line for fn, line in log_lines if fn == "fixture-echo"]
        if '{"level": "INFO", "message": "line 499", "result": "not this"}' in mine and "to stderr" in mine:
            break
        time.sleep(0.05)
    else:
        pytest.fail("worker output was not forwarded to the runner's log")


def test_unserializable_result_is_a_marshal_error(pools: WorkerPools) -> None:
    result = pools.invoke("fixture-echo", {"action": "unmarshallable"})
    assert result.error_type == "Runtime.MarshalError"
    assert pools.invoke("fixture-echo", {"action": "echo"}).ok


def test_import_failure_is_reported_like_lambda(pools: WorkerPools) -> None:
    for _ in range(2):
        result = pools.invoke("fixture-broken", {})
        assert result.error_type == "Runtime.ImportModuleError"
        assert "not_a_module_anyone_installed" in (result.error_message or "")
    assert next(s for s in pools.stats() if s.function == "fixture-broken").workers == 0


def test_events_over_lambdas_6_mb_limit_are_refused_before_reaching_a_worker(pools: WorkerPools) -> None:
    result = pools.invoke("fixture-echo", {"action": "echo", "blob": "x" * (6 * 1024 * 1024)})
    assert result.error_type == "RequestEntityTooLargeException"
    assert result.worker_pid == 0


def test_cold_starts_are_reported_in_the_log(pools: WorkerPools, log_lines: list[tuple[str, str]]) -> None:
    pools.close_idle("fixture-echo")
    cold = pools.invoke("fixture-echo", {"action": "echo"})
    assert cold.cold
    assert any(
        fn == "fixture-echo" and line.startswith(f"INIT worker pid {cold.worker_pid}: Init Duration: ")
        for fn, line in log_lines
    )


def test_unknown_function(pools: WorkerPools) -> None:
    assert pools.invoke("nope", {}).error_type == "ResourceNotFoundException"


def test_concurrent_invocations_run_in_parallel_processes_up_to_the_pool_size(pools: WorkerPools) -> None:
    # fixture-echo allows 3 workers: 6 sleeps of 0.5 s take two rounds, in three distinct processes at most
    with ThreadPoolExecutor(max_workers=6) as ex:
        results = list(ex.map(lambda _: pools.invoke("fixture-echo", {"action": "sleep", "seconds": 0.5}), range(6)))
    assert all(r.ok for r in results), [r.payload for r in results]
    pids = {r.payload["pid"] for r in results}
    assert 2 <= len(pids) <= 3
    spans = sorted((r.payload["start"], r.payload["end"], r.payload["pid"]) for r in results)
    overlapping = [
        (a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if a[2] != b[2] and b[0] < a[1] and a[0] < b[1]
    ]
    assert overlapping, "invocations on different workers should overlap in time"
    # never more than the pool's capacity at once
    for start, _, _ in spans:
        running = sum(1 for s, e, _ in spans if s <= start < e)
        assert running <= 3


def test_close_stops_every_worker() -> None:
    pools = WorkerPools(TOPOLOGY, function_environment, "http://127.0.0.1:1", log=lambda fn, line: None)
    with ThreadPoolExecutor(max_workers=3) as ex:
        results = list(ex.map(lambda _: pools.invoke("fixture-echo", {"action": "sleep", "seconds": 0.3}), range(3)))
    pids = {r.worker_pid for r in results}
    assert all(r.ok for r in results)
    pools.close()
    for pid in pids:
        assert not _alive(pid)
    assert pools.invoke("fixture-echo", {}).error_type == "ServiceException"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_beyond_capacity_invocations_wait_then_throttle_after_the_function_timeout() -> None:
    # one worker, a 3 s timeout: A holds it 2 s; of B and C, one gets it when A ends, the other gives up at 3 s
    with WorkerPools(
        TOPOLOGY, function_environment, "http://127.0.0.1:1", concurrency={"fixture-echo": 1}, log=lambda fn, line: None
    ) as pools:
        assert pools.invoke("fixture-echo", {"action": "echo"}).ok  # warm, so A's hold is just its sleep
        with ThreadPoolExecutor(max_workers=3) as ex:
            a = ex.submit(pools.invoke, "fixture-echo", {"action": "sleep", "seconds": 2})
            time.sleep(0.2)
            others = [ex.submit(pools.invoke, "fixture-echo", {"action": "sleep", "seconds": 2}) for _ in range(2)]
            results = [a.result(), *(f.result() for f in others)]
    kinds = sorted(r.error_type or "ok" for r in results)
    assert kinds == ["TooManyRequestsException", "ok", "ok"], [r.payload for r in results]
    assert len({r.worker_pid for r in results if r.ok}) == 1


# -- a worker's environment is complete and current ------------------------------------------------------------------
def test_a_worker_whose_environment_changed_is_replaced_at_its_next_invocation() -> None:
    settings = {"FIXTURE_SANDBOX_URL": ""}
    lines: list[tuple[str, str]] = []
    with WorkerPools(
        TOPOLOGY,
        lambda fn: {**function_environment(fn), **settings},
        "http://127.0.0.1:1",
        log=lambda fn, line: lines.append((fn, line)),
    ) as pools:
        ask = {"action": "echo", "env": ["FIXTURE_SANDBOX_URL"]}
        before = pools.invoke("fixture-echo", ask)
        assert before.ok and before.payload["env"]["FIXTURE_SANDBOX_URL"] == ""
        settings["FIXTURE_SANDBOX_URL"] = "http://127.0.0.1:8000/_local/telegram"
        after = pools.invoke("fixture-echo", ask)
        again = pools.invoke("fixture-echo", ask)
    assert after.ok and after.payload["env"]["FIXTURE_SANDBOX_URL"] == "http://127.0.0.1:8000/_local/telegram"
    assert after.cold and after.worker_pid != before.worker_pid
    assert not _alive(before.worker_pid)
    # an unchanged environment keeps the worker warm
    assert not again.cold and again.worker_pid == after.worker_pid
    # the log names what changed, never the values (they may be secrets)
    recycled = [line for fn, line in lines if line.startswith(f"RECYCLE worker pid {before.worker_pid}")]
    assert recycled == [f"RECYCLE worker pid {before.worker_pid}: its environment changed (FIXTURE_SANDBOX_URL)"]


def test_invocations_before_the_pools_are_ready_wait_for_them_and_start_no_worker_early() -> None:
    settings: dict[str, str] = {}
    with (
        WorkerPools(
            TOPOLOGY,
            lambda fn: {**function_environment(fn), **settings},
            "",
            log=lambda fn, line: None,
            ready=False,
        ) as pools,
        ThreadPoolExecutor(max_workers=1) as ex,
    ):
        early = ex.submit(pools.invoke, "fixture-echo", {"action": "echo", "env": ["FIXTURE_SANDBOX_URL"]})
        time.sleep(0.5)
        assert not early.done()
        assert next(s for s in pools.stats() if s.function == "fixture-echo").workers == 0
        # what the runner learns while starting: the emulator's endpoint, the sandbox's address
        pools.endpoint_url = "http://127.0.0.1:1"
        settings["FIXTURE_SANDBOX_URL"] = "http://127.0.0.1:8000/_local/telegram"
        pools.mark_ready()
        result = early.result(timeout=30)
    assert result.ok, result.payload
    assert result.payload["env"]["FIXTURE_SANDBOX_URL"] == "http://127.0.0.1:8000/_local/telegram"


def test_waiting_for_readiness_is_bounded_by_the_function_timeout() -> None:
    with WorkerPools(TOPOLOGY, function_environment, "", log=lambda fn, line: None, ready=False) as pools:
        started = time.monotonic()
        result = pools.invoke("fixture-echo", {"action": "echo"})  # fixture-echo's timeout is 3 s
        waited = time.monotonic() - started
        assert result.error_type == "ServiceException" and "still starting" in (result.error_message or "")
        assert 2.5 < waited < 6
        assert next(s for s in pools.stats() if s.function == "fixture-echo").workers == 0
        # closing releases whoever is still waiting, refused as shutting down
        with ThreadPoolExecutor(max_workers=1) as ex:
            pending = ex.submit(pools.invoke, "fixture-echo", {"action": "echo"})
            time.sleep(0.2)
            pools.close()
            assert pending.result(timeout=5).error_type == "ServiceException"


def test_a_workers_now_follows_the_runners_clock_offset(tmp_path: Path) -> None:
    offset = OffsetFile.create(tmp_path / "clock-offset")
    try:
        with WorkerPools(
            TOPOLOGY, function_environment, "http://127.0.0.1:1", log=lambda fn, line: None, clock_file=offset.path
        ) as pools:
            first = pools.invoke("fixture-echo", {"action": "now"})
            offset.write(3600.0)
            second = pools.invoke("fixture-echo", {"action": "now"})
    finally:
        offset.close()
    assert first.ok and second.ok, (first.payload, second.payload)
    assert second.worker_pid == first.worker_pid  # a warm worker sees the advance on its next call

    def skew(result: InvokeResult) -> float:
        return datetime.fromisoformat(result.payload["now"]).timestamp() - result.payload["wall"]

    assert abs(skew(first)) < 1
    assert abs(skew(second) - 3600) < 1


def test_cold_starts_take_turns_when_init_slots_are_few(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three cold starts at once with one init slot: each worker starts (process spawned) only once the previous one
    is ready, so their starts never overlap and a warm worker keeps the cores. Each start's window is read from the
    runner's own INIT line, stamped when it is logged (the worker is ready) and saying how long the start took; with
    three slots the three windows overlap almost entirely (the test fails so)."""
    from infra.local import workers

    monkeypatch.setattr(workers, "MAX_CONCURRENT_INITS", 1)
    windows: dict[int, tuple[float, float]] = {}

    def sink(function: str, line: str) -> None:
        if function == "fixture-echo" and line.startswith("INIT worker pid "):
            ready = time.monotonic()
            pid = int(line.split()[3].rstrip(":"))
            took = float(line.split("(started in ")[1].split()[0]) / 1000
            windows[pid] = (ready - took, ready)

    with (
        WorkerPools(TOPOLOGY, function_environment, "http://127.0.0.1:1", log=sink) as p,
        ThreadPoolExecutor(max_workers=3) as ex,
    ):
        # each holds its worker until all three have started: a worker released sooner would serve a later one
        results = list(ex.map(lambda _: p.invoke("fixture-echo", {"action": "sleep", "seconds": 2.0}), range(3)))
    assert all(r.ok and r.cold for r in results), [r.payload for r in results]
    assert sorted(windows) == sorted(r.worker_pid for r in results)
    ordered = sorted(windows.values())
    for (_, ready_a), (start_b, _) in itertools.pairwise(ordered):
        assert start_b >= ready_a - 0.005, ordered  # the next start began after the previous one was ready


def test_a_growing_pool_serves_an_invocation_from_a_worker_freed_before_its_new_one_has_started() -> None:
    """The fourth click of a burst does not wait for a process start when a busy worker frees sooner: the new
    worker starts anyway, joins the pool when ready and takes its own first invocation cold. Starts here take over a
    second (the fixture sleeps at import), the busy worker frees after 0.3 s."""
    init = {"FIXTURE_INIT_SLEEP": "1.2"}
    with WorkerPools(TOPOLOGY, lambda fn: {**function_environment(fn), **init}, "http://127.0.0.1:1") as p:
        first = p.invoke("fixture-echo", {"action": "echo"})
        assert first.ok and first.cold
        with ThreadPoolExecutor(max_workers=1) as ex:
            busy = ex.submit(p.invoke, "fixture-echo", {"action": "sleep", "seconds": 0.3})
            time.sleep(0.1)
            began = time.monotonic()
            second = p.invoke("fixture-echo", {"action": "echo"})
            waited = time.monotonic() - began
            assert busy.result().ok
        assert second.ok and not second.cold and second.worker_pid == first.worker_pid
        assert waited < 1.0, waited
        # the worker started for it joins the pool and is the next one a concurrent burst finds cold
        deadline = time.monotonic() + 10
        while next(s for s in p.stats() if s.function == "fixture-echo").idle < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        with ThreadPoolExecutor(max_workers=2) as ex:
            pair = list(ex.map(lambda _: p.invoke("fixture-echo", {"action": "sleep", "seconds": 0.3}), range(2)))
        assert {r.worker_pid for r in pair} - {first.worker_pid} and any(r.cold for r in pair), pair
        assert next(s for s in p.stats() if s.function == "fixture-echo").cold_starts == 2
