"""The webhook HTTP sender against real servers on 127.0.0.1: it connects to the address it checked (one DNS answer
per attempt, so a rebinding resolver cannot move it), keeps the host name for Host and TLS (SNI and certificate
verification), and never lets a receiver hold an attempt past the timeout."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from infra.local.tls import ensure_certificate
from oncall.adapters.ssrf import Allowlist
from oncall.adapters.webhooks import HttpSender


class TlsServer:
    """HTTPS on 127.0.0.1 with the runner's self-signed certificate (names: localhost, 127.0.0.1); records the SNI
    name and the Host header of each request."""

    def __init__(self, cert_dir: Path) -> None:
        self.cert = ensure_certificate(cert_dir)
        self.sni: list[str | None] = []
        self.hosts: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                server.hosts.append(self.headers.get("host", ""))
                self.send_response(204)
                self.end_headers()

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.cert.with_name("cert.key"))

        def remember(sock: ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
            server.sni.append(name)

        context.sni_callback = remember
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[TlsServer]:
    server = TlsServer(tmp_path)
    yield server
    server.close()


class CountingResolver:
    def __init__(self, *answers: Sequence[str]) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls += 1
        return self.answers[min(self.calls, len(self.answers)) - 1]


def test_https_keeps_the_name_for_sni_and_host_while_connecting_to_the_checked_address(tls: TlsServer) -> None:
    trust = ssl.create_default_context(cafile=str(tls.cert))
    resolver = CountingResolver(["127.0.0.1"])
    sender = HttpSender(Allowlist.parse("127.0.0.1/32"), resolve=resolver, tls=trust)
    result = sender.send(f"https://localhost:{tls.port}/in", {"webhook-id": "msg_1"}, b"{}", timeout=5)
    assert result.status == 204, result.detail
    assert tls.sni == ["localhost"]
    assert tls.hosts == [f"localhost:{tls.port}"]
    assert resolver.calls == 1


def test_a_certificate_that_does_not_verify_is_a_failed_attempt(tls: TlsServer) -> None:
    sender = HttpSender(Allowlist.parse("127.0.0.1/32"), resolve=CountingResolver(["127.0.0.1"]))
    result = sender.send(f"https://localhost:{tls.port}/in", {}, b"{}", timeout=5)
    assert result.status is None and "CERTIFICATE_VERIFY_FAILED" in result.detail


def test_a_rebinding_name_is_resolved_once_and_an_internal_answer_refused() -> None:
    """First answer internal: refused without connecting anywhere. The guard never asks DNS a second time for the
    connection, so a name answering public-then-internal cannot slip through between check and connect."""
    rebinding = CountingResolver(["127.0.0.1"], ["93.184.216.34"])
    sender = HttpSender(Allowlist(), resolve=rebinding)
    result = sender.send("http://rebind.example/hook", {}, b"{}", timeout=2)
    assert result.status is None and result.detail.startswith("refused:")
    assert rebinding.calls == 1


def test_a_receiver_trickling_its_answer_is_cut_at_the_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            while not stop.is_set():
                try:
                    conn.sendall(b"x")
                except OSError:
                    return
                time.sleep(0.2)  # each byte well inside a per-read timeout: only a total deadline stops this

    threading.Thread(target=trickle, daemon=True).start()
    sender = HttpSender(Allowlist.parse("127.0.0.1/32"))
    started = time.monotonic()
    result = sender.send(f"http://127.0.0.1:{port}/slow", {}, b"{}", timeout=1.0)
    elapsed = time.monotonic() - started
    stop.set()
    listener.close()
    assert result.status is None and "timed out" in result.detail
    assert elapsed < 2.0
