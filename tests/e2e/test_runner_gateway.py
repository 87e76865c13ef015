"""The runner's front door behaves like API Gateway where a plain ``http.server`` does not, and keeps its control
endpoints to this machine: served on a real socket, with a recording invoker standing in for the worker pools."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local.contracts import InvokeResult
from infra.local.gateway import Gateway
from tests.e2e.fixtures.topology import TOPOLOGY


class RecordingInvoker:
    """The ``Invoker`` port: answers 200 and records what it was asked to run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def invoke(self, function: str, event: Any) -> InvokeResult:
        self.calls.append((function, event))
        return InvokeResult(payload={"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"})


class Clock:
    """The ``ClockControl`` port: records each advance."""

    def __init__(self) -> None:
        self.advanced: list[dt.timedelta] = []
        self.catch_ups: list[int | None] = []

    def now(self) -> dt.datetime:
        return dt.datetime(2030, 1, 1, tzinfo=dt.UTC) + sum(self.advanced, dt.timedelta())

    def advance_clock(self, delta: dt.timedelta, catch_up: int | None = None) -> list[str]:
        self.advanced.append(delta)
        self.catch_ups.append(catch_up)
        return []


@pytest.fixture
def front(tmp_path: Path) -> Iterator[tuple[Gateway, RecordingInvoker, Clock]]:
    invoker, clock = RecordingInvoker(), Clock()
    gateway = Gateway(
        TOPOLOGY,
        invoker,
        port=0,
        https_port=0,
        cert_dir=tmp_path / "tls",
        clock=clock,
        idle_timeout=0.5,
    )
    gateway.start()
    try:
        yield gateway, invoker, clock
    finally:
        gateway.stop()


def _port(gateway: Gateway) -> int:
    return int(gateway.url.rsplit(":", 1)[1])


def _raw(gateway: Gateway, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", _port(gateway)), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):  # the server closes: the whole answer, and proof the connection ended
            chunks.append(chunk)
    return b"".join(chunks)


def _envelope(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    error = json.loads(body)["error"]
    assert {"code", "message", "details"} <= set(error)
    return status, error


@pytest.mark.parametrize("method", ["TRACE", "PROPFIND", "BREW"])
def test_unknown_methods_get_the_json_envelope_not_an_html_501(
    front: tuple[Gateway, RecordingInvoker, Clock], method: str
) -> None:
    gateway, _, _ = front
    resp = requests.request(method, f"{gateway.url}/health", timeout=5)
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/json"
    assert resp.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("length", [b"-1", b"+5", b"1_0", b"0x10", b"5\r\nContent-Length: 6"])
def test_an_invalid_content_length_is_a_400_and_nothing_runs(
    front: tuple[Gateway, RecordingInvoker, Clock], length: bytes
) -> None:
    gateway, invoker, _ = front
    answer = _raw(
        gateway, b"POST /_fixture/write/k HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\nabcdef"
    )
    status, error = _envelope(answer)
    assert status == 400
    assert error["details"] == {"field": "Content-Length"}
    assert invoker.calls == []


def test_what_the_parser_refuses_is_answered_in_the_envelope(front: tuple[Gateway, RecordingInvoker, Clock]) -> None:
    gateway, invoker, _ = front
    status, _ = _envelope(_raw(gateway, b"GET /health HTTP/1.1 extra\r\n\r\n"))
    assert status == 400
    assert invoker.calls == []


def test_idle_keep_alive_connections_are_closed(front: tuple[Gateway, RecordingInvoker, Clock]) -> None:
    gateway, invoker, _ = front
    with socket.create_connection(("127.0.0.1", _port(gateway)), timeout=5) as sock:
        sock.sendall(b"POST /_fixture/write/k HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the server, not by our 5 s timeout
        assert time.monotonic() - started < 3
    assert len(invoker.calls) == 1


def test_connections_beyond_the_cap_are_refused_with_a_503(front: tuple[Gateway, RecordingInvoker, Clock]) -> None:
    gateway, _, _ = front
    for listener in gateway._servers:
        listener.max_connections = 3
    held = [socket.create_connection(("127.0.0.1", _port(gateway)), timeout=5) for _ in range(3)]
    try:
        time.sleep(0.1)  # the accept loop has taken all three
        status, error = _envelope(_raw(gateway, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert status == 503
        assert error["code"] == "service_unavailable"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert requests.get(f"{gateway.url}/_fixture/echo/x", timeout=5).status_code == 200


def _control(gateway: Gateway, headers: dict[str, str], body: bytes = b'{"advance": "PT1M"}') -> requests.Response:
    return requests.post(f"{gateway.url}/_local/clock", data=body, headers=headers, timeout=5)


def test_control_endpoints_answer_a_loopback_host_with_the_runners_port(
    front: tuple[Gateway, RecordingInvoker, Clock],
) -> None:
    gateway, _, clock = front
    port = _port(gateway)
    json_type = {"content-type": "application/json"}
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert _control(gateway, {**json_type, "host": host}).status_code == 200, host
    assert len(clock.advanced) == 3
    for host in (f"rebound.example:{port}", "127.0.0.1", f"127.0.0.1:{port + 1}", f"127.0.0.1.example:{port}"):
        resp = _control(gateway, {**json_type, "host": host})
        assert resp.status_code == 403, host
        assert resp.json()["error"]["details"] == {"field": "Host"}
    assert len(clock.advanced) == 3
    host = {**json_type, "host": f"127.0.0.1:{port}"}
    assert _control(gateway, host, b'{"advance": "PT7H", "catch_up": 1}').status_code == 200
    for bad in (b"0", b"-2", b"true", b'"1"'):
        refused = _control(gateway, host, b'{"advance": "PT1M", "catch_up": ' + bad + b"}")
        assert refused.status_code == 422 and refused.json()["error"]["details"] == {"field": "catch_up"}
    assert clock.catch_ups == [None, None, None, 1]


def test_control_endpoints_refuse_cross_origin_and_simple_posts(
    front: tuple[Gateway, RecordingInvoker, Clock],
) -> None:
    gateway, _, clock = front
    port = _port(gateway)
    json_type = {"content-type": "application/json"}
    crossed = _control(gateway, {**json_type, "origin": "https://evil.example"})
    assert crossed.status_code == 403
    assert crossed.json()["error"]["details"] == {"field": "Origin"}
    for simple in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"):
        resp = _control(gateway, {"content-type": simple})
        assert resp.status_code == 415, simple
    assert _control(gateway, {}).status_code == 415  # a body without a type
    assert clock.advanced == []
    same = _control(gateway, {**json_type, "origin": f"http://localhost:{port}"})
    assert same.status_code == 200
    assert requests.get(f"{gateway.url}/_local/clock", timeout=5).status_code == 200


def test_the_https_certificate_is_a_leaf_that_verifies_as_itself(
    front: tuple[Gateway, RecordingInvoker, Clock],
) -> None:
    from cryptography import x509

    gateway, _, _ = front
    assert gateway.cert_path is not None and gateway.https_url is not None
    cert = x509.load_pem_x509_certificate(gateway.cert_path.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign is False
    # the strict default context of current Pythons accepts it as its own trust anchor
    context = ssl.create_default_context(cafile=str(gateway.cert_path))
    host, port = "localhost", int(gateway.https_url.rsplit(":", 1)[1])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host),
    ):
        pass


def test_a_kept_ca_certificate_is_replaced_by_a_leaf(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from infra.local.tls import ensure_certificate

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old runner")])
    now = dt.datetime.now(dt.UTC)
    old = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(old.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "cert.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    kept = x509.load_pem_x509_certificate(ensure_certificate(tmp_path).read_bytes())
    assert kept.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    again = ensure_certificate(tmp_path).read_bytes()
    assert x509.load_pem_x509_certificate(again).serial_number == kept.serial_number  # a leaf is kept


def test_threads_are_not_held_by_idle_connections(front: tuple[Gateway, RecordingInvoker, Clock]) -> None:
    gateway, _, _ = front
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", _port(gateway)), timeout=5) for _ in range(3)]
    time.sleep(1.5)  # past the idle timeout
    try:
        assert all(sock.recv(1) == b"" for sock in idle)
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)
    assert threading.active_count() <= before
