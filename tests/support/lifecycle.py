"""The product on the emulator with Step Functions executing the real incident-lifecycle ASL, Lambda tasks run
in-process, and the fake Telegram Bot API on 127.0.0.1 receiving the pages."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from infra.local.emulator import Emulator
from infra.topology import TOPOLOGY
from tests.support.fake_telegram import FakeTelegram
from tests.support.invoker import InProcessInvoker
from tests.support.telegram import SECRET


@dataclass
class Stack:
    emulator: Emulator
    invoker: InProcessInvoker
    telegram: FakeTelegram

    @property
    def sfn(self) -> Any:
        return self.emulator.client("stepfunctions")

    @property
    def state_machine_arn(self) -> str:
        return self.emulator.state_machine_arn("incident-lifecycle")

    def executions(self, incident_id: str) -> list[dict[str, Any]]:
        out = self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return sorted((e for e in out if e["name"].startswith(incident_id + "-")), key=lambda e: e["name"])

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        return list(self.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"])


def wait_until[T](predicate: Callable[[], T], timeout: float = 15.0, every: float = 0.05, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(every)


@contextmanager
def lifecycle_stack(env: Mapping[str, str] | None = None) -> Iterator[Stack]:
    """One emulator for a test module: starting one costs about a second. ``env``: settings the module adds (a
    channel's sandbox, a public URL), set for the stack's life and restored after it."""
    from oncall import wiring
    from oncall.settings import get_settings

    fake = FakeTelegram()
    env = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        **(env or {}),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    invoker = InProcessInvoker(TOPOLOGY)
    emulator = Emulator(
        TOPOLOGY,
        invoker,
        port=0,
        scheduler_tick_seconds=3600,  # nothing here is about schedules
        stream_poll_seconds=0.05,
        stream_retry_delays=(0.05, 0.05, 0.05),
        lambda_retry_delays=(0.2, 0.4),
    )
    try:
        with invoker:
            emulator.start()
            wiring.reset()
            get_settings.cache_clear()
            try:
                yield Stack(emulator, invoker, fake)
            finally:
                emulator.stop()  # stops every running execution first
                wiring.reset()
    finally:
        fake.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
