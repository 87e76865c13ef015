"""moto's HTTP server on ``host:port`` (what worker processes and external tools talk to), and the process
environment the emulator sets while it runs so that in-process clients and moto itself find the same account.

Both are process-wide: the environment is restored exactly as it was on ``restore()``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from infra.local.resources import REGION

#: what every client of the emulator needs besides the endpoint (moto accepts any credentials)
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_SESSION_TOKEN": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # current botocore routes DynamoDB (Streams) to account-id endpoints moto does not serve
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


def start_server(host: str, port: int) -> tuple[Any, int]:
    """Start moto's threaded server; returns it and the port it listens on (``port`` 0 picks a free one)."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    _check_port_free(host, port)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server, int(server.get_host_and_port()[1])


def _check_port_free(host: str, port: int) -> None:
    """ThreadedMotoServer binds in its own thread and start() then waits forever if the bind failed: fail here."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise RuntimeError(
                f"cannot serve the emulator on {host}:{port} ({exc.strerror}); another runner, LocalStack or Floci "
                "may be using it: stop it or choose another port (ONCALL_EMULATOR_PORT)"
            ) from exc


class ProcessEnvironment:
    """Variables set for as long as the emulator runs; ``restore()`` puts back what was there before."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved = {}
