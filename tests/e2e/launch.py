"""Start the local runner as a user would (``python -m infra.local``): used by the e2e tests and ``bench/runner.py``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_TOPOLOGY = "tests.e2e.fixtures.topology:TOPOLOGY"
PRODUCT_TOPOLOGY = "infra.topology:TOPOLOGY"
#: a fresh start must be up in under 60 s
STARTUP_BUDGET_S = 60.0


@dataclass
class Runner:
    proc: subprocess.Popen[bytes]
    info: dict[str, Any]
    log_path: Path
    #: wall time from process start to the ready file, measured from outside
    startup_s: float
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def http(self) -> str:
        return str(self.info["http"])

    @property
    def emulator(self) -> str:
        return str(self.info["emulator"])

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.http + path, timeout=30, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(self.http + path, json=body, timeout=30, **kwargs)

    def put(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.put(self.http + path, json=body, timeout=30, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.delete(self.http + path, timeout=30, **kwargs)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.emulator,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def timed_out(self, response: Any) -> bool:
        """Whether ``response`` is the 500 of an invocation the runner timed out (as Lambda does, wall clock): its
        outcome is unknown to the client. On 2 cores a burst of cold workers can starve a warm one that long."""
        if response.status_code != 500:
            return False
        rid = response.json()["error"].get("details", {}).get("request_id")
        return bool(rid) and f"failed (request {rid}): Sandbox.Timedout" in self.log()

    def descendants(self) -> set[int]:
        return descendants(self.proc.pid)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30, *, group: bool = False) -> int:
        """Signal the runner (``group``: its whole process group, as a terminal's Ctrl-C does) and wait."""
        if self.proc.poll() is None:
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"runner ignored signal {sig} for {timeout}s\n{self.log()[-3000:]}") from None


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may contain spaces: fields start after the last ')'
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


def start_runner(
    workdir: Path,
    *,
    topology: str = FIXTURE_TOPOLOGY,
    data_dir: Path | None = None,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
) -> Runner:
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / "ready.json"
    ready.unlink(missing_ok=True)
    log_path = workdir / f"runner-{time.monotonic_ns()}.log"
    cmd = [
        sys.executable,
        "-m",
        "infra.local",
        "--http-port=0",
        "--https-port=0",
        "--emulator-port=0",
        f"--ready-file={ready}",
        f"--topology={topology}",
        *args,
    ]
    cmd += [f"--data-dir={data_dir}"] if data_dir else ["--ephemeral"]
    full_env = {**os.environ, "ONCALL_LOCAL_LOG_LEVEL": "INFO", **(env or {})}
    full_env.pop("AWS_ENDPOINT_URL", None)
    started = time.monotonic()
    with log_path.open("wb") as log_file:
        # its own process group, so a test can deliver Ctrl-C the way a terminal does without hitting pytest
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=full_env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"runner exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        if time.monotonic() - started > STARTUP_BUDGET_S:
            proc.kill()
            raise AssertionError(f"runner not ready in {STARTUP_BUDGET_S}s:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.05)
    info = json.loads(ready.read_text())
    return Runner(proc=proc, info=info, log_path=log_path, startup_s=time.monotonic() - started)


def eventually[T](check: Callable[[], T], timeout: float = 45.0, what: str = "", every: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy: asynchronous paths (bus, queues, workflows) settle in their
    own time, and a test waits for the outcome rather than for a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


def ok(resp: Any, status: int = 200) -> Any:
    """The JSON body of ``resp`` after checking its status (the body is shown when it differs)."""
    assert resp.status_code == status, resp.text
    return resp.json()
