"""moto's app served over HTTP on ``host:port`` (what worker processes and external tools talk to), and the process
environment the emulator sets while it runs so that in-process clients and moto itself find the same account.

Both are process-wide: the environment is restored exactly as it was on ``restore()``.
"""

from __future__ import annotations

import io
import os
import socket
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_to_bytes

from infra.local.httpd import Handle, Listener, Response, handler_class, serve_in_background
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
    """Serve moto's app on ``host:port`` (0 picks a free port); returns the server and the port it listens on."""
    _check_port_free(host, port)
    server = EmulatorServer(host, port)
    return server, server.port


class EmulatorServer:
    """moto's WSGI app on the runner's own HTTP/1.1 listener (``httpd``), which keeps connections open.

    moto's ``ThreadedMotoServer`` runs werkzeug's development server, which closes the connection after every
    response (and, after each, waits 10 ms for a body the app may not have read): every SDK call of every worker
    opened a TCP connection and the runner's main process started a thread for it, which under load cost that
    process more than DynamoDB itself (docs/architecture.md, "Invariants": the runner's latency). The listener here
    reads each body whole before the app runs, so a connection is always at its next request, and serves it again.
    """

    def __init__(self, host: str, port: int) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        handler = handler_class(
            wsgi(DomainDispatcherApplication(create_backend_app)),
            max_body=MAX_UPLOAD,
            name="oncall-emulator",
            access_log=False,
            chunked=True,
        )
        self._listener = Listener((host, port), handler, max_connections=MAX_EMULATOR_CONNECTIONS)
        self.port = int(self._listener.server_address[1])
        self._thread = serve_in_background(self._listener)

    def stop(self) -> None:
        self._listener.shutdown()
        self._listener.server_close()
        self._thread.join()


#: what one request to the emulator may carry (deploy assets go to its S3 in one PUT)
MAX_UPLOAD = 1 << 30
#: every worker keeps a few SDK connections open; more than this at once is answered 503, which SDKs retry
MAX_EMULATOR_CONNECTIONS = 1024


def wsgi(app: Callable[..., Any]) -> Handle:
    """A ``Handle`` that runs a WSGI app: the environ a WSGI server would build, the response collected whole."""

    from moto.core.request import (
        PRESERVED_HEADER_NAMES_ENVIRON_KEY,
        environ_key_for_header,
        should_preserve_original_header_name,
    )

    def handle(method: str, target: str, headers: list[tuple[str, str]], body: bytes, client: str) -> Response:
        path, _, query = target.partition("?")
        host = next((value for name, value in headers if name.lower() == "host"), "127.0.0.1")
        name, _, port = host.rpartition(":")
        server_name, server_port = (name, port) if port.isdigit() else (host, "80")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": target,
            "REQUEST_URI": target,
            "SERVER_NAME": server_name,
            "SERVER_PORT": server_port,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": client,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        names: dict[str, str] = {}
        values: dict[str, list[str]] = {}
        dashed = {environ_key_for_header(name) for name, _ in headers if "_" not in name}
        for name, value in headers:
            key = environ_key_for_header(name)
            if key in ("CONTENT_LENGTH", "HTTP_TRANSFER_ENCODING"):
                continue  # the body is whole by now
            if "_" in name:
                # WSGI cannot tell X_Foo from X-Foo: as moto's own server, keep underscored names only where S3
                # needs them (object metadata) and never let one stand in for a dashed header
                if key in dashed or not should_preserve_original_header_name(name):
                    continue
                names.setdefault(key, name)
            values.setdefault(key, []).append(value)
        environ.update({key: ",".join(vals) for key, vals in values.items()})
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names
        started: list[Any] = []

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [int(status.split(" ", 1)[0]), response_headers]
            return lambda data: chunks.append(data)

        chunks: list[bytes] = []
        result = app(environ, start_response)
        try:
            chunks.extend(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return started[0], list(started[1]), b"".join(chunks)

    return handle


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
