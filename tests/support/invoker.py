"""An in-process ``Invoker`` for emulator tests that are not about concurrency.

Handlers are imported the way ``infra.local.loader`` does it (code folder and the common layer on ``sys.path``), from
the topology the test runs (fixture functions live under ``tests/fixtures/functions``). Invocations are serialised:
powertools keeps per-invocation state at class level, so handlers must not overlap in one process
(docs/architecture.md, "Invariants"); the runner's worker pools are the concurrent invoker. Every invocation is
recorded for assertions.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.local.context import LambdaContext
from infra.local.contracts import InvokeResult
from infra.local.loader import load_function
from infra.local.resources import function_environment
from infra.topology import Function, Topology


@dataclass(frozen=True)
class Call:
    function: str
    event: Any
    result: InvokeResult
    started: float


class InProcessInvoker:
    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.calls: list[Call] = []
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._lock = threading.RLock()
        self._changed = threading.Condition(threading.Lock())
        self._saved_env: dict[str, str | None] = {}

    # the functions read their resources from the environment, as in Lambda; one process serves them all here
    def __enter__(self) -> InProcessInvoker:
        env: dict[str, str] = {}
        for fn in self.topology.functions:
            env.update(function_environment(fn, topology=self.topology))
        for key, value in env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        self._clear_settings()
        return self

    def __exit__(self, *exc: object) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._clear_settings()

    @staticmethod
    def _clear_settings() -> None:
        from oncall.settings import get_settings

        get_settings.cache_clear()

    def _load(self, fn: Function) -> Callable[[Any, Any], Any]:
        handler = self._handlers.get(fn.name)
        if handler is None:
            handler = load_function(fn)
            self._handlers[fn.name] = handler
        return handler

    def invoke(self, function: str, event: Any) -> InvokeResult:
        fn = self.topology.function(function)
        with self._lock:
            started = time.monotonic()
            try:
                payload = self._load(fn)(event, LambdaContext(function_name=fn.name, timeout_s=fn.timeout_s))
                result = InvokeResult(payload=payload, duration_ms=(time.monotonic() - started) * 1000)
            except Exception as exc:
                result = InvokeResult(
                    payload={
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "stackTrace": traceback.format_exception(exc),
                    },
                    error_type=type(exc).__name__,
                    error_message=str(exc),
                    duration_ms=(time.monotonic() - started) * 1000,
                )
        with self._changed:
            self.calls.append(Call(function, event, result, started))
            self._changed.notify_all()
        return result

    def calls_to(self, function: str) -> list[Call]:
        with self._changed:
            return [c for c in self.calls if c.function == function]

    def wait_for(
        self, function: str, predicate: Callable[[Call], bool] = lambda c: True, timeout: float = 10.0
    ) -> Call:
        """The first recorded call of ``function`` matching ``predicate``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for call in self.calls:
                    if call.function == function and predicate(call):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [c.function for c in self.calls]
                    raise AssertionError(f"no matching call of {function} within {timeout}s (calls: {seen})")
                self._changed.wait(left)
