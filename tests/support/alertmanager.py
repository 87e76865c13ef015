"""A real Prometheus Alertmanager for the e2e tests, delivering webhooks to the runner over HTTP.

``start_alertmanager(workdir, webhook_url=..., integration_key=...)`` starts the machine's Alertmanager (0.25, as
Debian ships it) on 127.0.0.1 with a free port and one route to one webhook receiver, waits until it is ready and
answers an ``Alertmanager`` that stops it when used as a context manager. Clustering is off
(``--cluster.listen-address=``): otherwise it gossips on 0.0.0.0:9094, which a second instance or the system's
own Alertmanager already holds.

The binary: ``ONCALL_ALERTMANAGER``, else ``prometheus-alertmanager`` (Debian's name) or ``alertmanager`` on PATH.
``make test`` installs Debian's package where apt can (the Makefile's ``alertmanager`` target); the tests never skip
without it, they fail saying so.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import requests

ENV = "ONCALL_ALERTMANAGER"
NAMES = ("prometheus-alertmanager", "alertmanager")
READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
#: a free port picked here can be taken before Alertmanager binds it; a few attempts make that harmless
START_ATTEMPTS = 3
RECEIVER = "oncall"


def alertmanager_binary() -> str:
    named = os.environ.get(ENV)
    if named:
        found = shutil.which(named)
        if not found:
            pytest.fail(f"{ENV}={named} is not an executable Alertmanager", pytrace=False)
        return found
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "No Prometheus Alertmanager found (prometheus-alertmanager or alertmanager on PATH, or ONCALL_ALERTMANAGER): "
        "`make test` installs Debian's prometheus-alertmanager where apt can; elsewhere install Alertmanager 0.25+ "
        f"and put it on PATH or name it in {ENV}.",
        pytrace=False,
    )


def webhook_config(webhook_url: str, integration_key: str, group_by: Sequence[str] = ("alertname",)) -> dict[str, Any]:
    """One route to one webhook receiver. The 1 s group wait/interval make a first notification and a resolution
    arrive within seconds; the hour-long repeat keeps an unchanged group from being delivered again mid-test."""
    return {
        "route": {
            "receiver": RECEIVER,
            "group_by": list(group_by),
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": RECEIVER,
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "max_alerts": 0,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": integration_key}},
                    }
                ],
            }
        ],
    }


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Alertmanager:
    proc: subprocess.Popen[bytes]
    #: e.g. http://127.0.0.1:40123
    url: str
    workdir: Path
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _check(self, resp: requests.Response, what: str) -> Any:
        assert resp.status_code == 200, f"Alertmanager refused {what}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def post_alerts(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """``POST /api/v2/alerts``: each alert has ``labels`` and ``annotations``, optionally ``startsAt``/``endsAt``
        (ISO 8601). Without ``endsAt`` an alert fires until resolved or for ``resolve_timeout`` (5 min)."""
        body = [dict(a) for a in alerts]
        self._check(self.session.post(f"{self.url}/api/v2/alerts", json=body, timeout=10), "the alerts")

    def resolve(self, alerts: Sequence[Mapping[str, Any]]) -> None:
        """The same alerts (same labels: Alertmanager identifies an alert by its label set) ended a moment ago.

        The moment is kept short: an ``endsAt`` before the firing alert's ``startsAt`` would not be merged with it,
        and the stored alert would then report a ``startsAt`` of its resolution."""
        ended = timestamp(datetime.now(UTC) - timedelta(milliseconds=10))
        self.post_alerts([{**a, "endsAt": ended} for a in alerts])

    def alerts(self) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts it holds that are not resolved, each with its ``fingerprint``."""
        got: list[dict[str, Any]] = self._check(self.session.get(f"{self.url}/api/v2/alerts", timeout=10), "a read")
        return got

    def status(self) -> dict[str, Any]:
        """``GET /api/v2/status``: the config it loaded (secrets shown as ``<secret>``), cluster, version, uptime."""
        got: dict[str, Any] = self._check(self.session.get(f"{self.url}/api/v2/status", timeout=10), "a read")
        return got

    def stop(self) -> int:
        """SIGTERM (it exits in well under a second), SIGKILL if it has not after ``STOP_TIMEOUT_S``."""
        self.session.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def __enter__(self) -> Alertmanager:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _dies_with_parent() -> Callable[[], None] | None:
    """What the child runs before exec on Linux: the kernel then sends it SIGTERM when the test process dies, even by
    SIGKILL, where no ``finally`` gets to stop it. The parent is the forking *thread*: start it from the test's own.
    prctl is looked up here, before the fork, so the child only calls it."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


def _start(binary: str, workdir: Path, config: Path, attempt: int) -> tuple[Alertmanager, str | None]:
    """Alertmanager when it answers ``/-/ready``; otherwise None and why (the process is stopped)."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"alertmanager-{attempt}.log"
    cmd = [
        binary,
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=_dies_with_parent(),
        )
    am = Alertmanager(proc=proc, url=url, workdir=workdir, log_path=log_path)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return am, f"exited with {proc.returncode}"
        try:
            if am.session.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return am, None
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    am.stop()
    return am, f"not ready in {READY_TIMEOUT_S:.0f}s"


def start_alertmanager(
    workdir: Path, *, webhook_url: str, integration_key: str, group_by: Sequence[str] = ("alertname",)
) -> Alertmanager:
    """A running Alertmanager in ``workdir`` (config, storage, log) notifying ``webhook_url`` with
    ``Authorization: Bearer <integration_key>``. Stop it with ``stop()`` or use it as a context manager."""
    binary = alertmanager_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    # JSON is YAML: no YAML library needed to write the config
    config.write_text(json.dumps(webhook_config(webhook_url, integration_key, group_by), indent=2))
    why = ""
    for attempt in range(1, START_ATTEMPTS + 1):
        am, failed = _start(binary, workdir, config, attempt)
        if failed is None:
            return am
        am.stop()
        log = am.log()
        why = f"Alertmanager ({binary}) {failed}:\n{log[-4000:]}"
        if "address already in use" not in log:
            break
    pytest.fail(why, pytrace=False)
