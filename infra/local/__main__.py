"""``python -m infra.local`` (what ``make run`` runs): OnCall Hub on this machine, no Docker, no AWS account.

Starts, in this order: the gateway's listening sockets (HTTP API on 127.0.0.1:8000, runner endpoints under
``/_local/``; the Telegram sandbox's address is known from here on), the emulator (moto, 127.0.0.1:4566, resources
from the topology, state restored from the data folder, interrupted executions resumed), the worker pools the
emulator and the gateway invoke functions through, then the gateway serves, the first admin is checked, and Telegram
polling starts when configured. Prints a banner, writes ``--ready-file``, and on Ctrl-C / SIGTERM stops in reverse
order: gateway, workers, then the emulator (which writes its snapshot). Configuration: ``infra/local/config.py``.

The pools start no worker until they are marked ready, after the emulator's port and the sandbox's address are
known: what the emulator resumes as it starts (executions, stream backlogs, schedules) waits for that instead of
starting workers whose environment lacks them. A worker whose environment changes later is replaced.

One clock (``clock.ShiftedClock``, moved by ``POST /_local/clock``) drives schedules, Step Functions' waits and every
function's ``now``; its offset reaches the workers through a small shared file (``clock.OffsetFile``).
"""

from __future__ import annotations

import time

_STARTED = time.monotonic()

import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from infra.local.collector import QuietCollector  # noqa: E402
from infra.local.config import ConfigError, RunnerConfig  # noqa: E402
from infra.local.gateway import Gateway  # noqa: E402
from infra.local.mail import MailOutbox  # noqa: E402
from infra.local.slack.sandbox import SlackSandbox  # noqa: E402
from infra.local.telegram.poller import TelegramPoller  # noqa: E402
from infra.local.telegram.sandbox import TelegramSandbox  # noqa: E402
from infra.local.workers import WorkerPools  # noqa: E402
from infra.topology import Function  # noqa: E402

log = logging.getLogger("oncall.local")
#: the Telegram sandbox's chats, kept next to the emulator's snapshot
SANDBOX_FILE = "telegram-sandbox.json"
#: the clock offset the workers read (the snapshot keeps the offset itself)
CLOCK_FILE = "clock-offset"
SANDBOX_SAVE_SECONDS = 30.0
fn_log = logging.getLogger("oncall.fn")


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    root = logging.getLogger("oncall")
    root.addHandler(handler)
    root.setLevel(os.environ.get("ONCALL_LOCAL_LOG_LEVEL", "INFO").upper())
    root.propagate = False
    for noisy in ("werkzeug", "moto", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _function_line(function: str, line: str) -> None:
    fn_log.info("%12s | %s", function, line)


def main(argv: list[str] | None = None) -> int:
    _setup_logging()
    try:
        cfg = RunnerConfig.load(argv)
        topology = cfg.load_topology()
        concurrency = cfg.concurrency_for(topology)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    from infra.local.clock import OffsetFile, ShiftedClock
    from infra.local.emulator import Emulator

    busy = [
        (name, port)
        for name, port in (("http", cfg.http_port), ("emulator", cfg.emulator_port))
        if _in_use(cfg.host, port)
    ]
    if busy:
        for name, port in busy:
            hint = " (LocalStack or Floci?)" if name == "emulator" else ""
            print(
                f"port {port} is in use{hint}: stop what holds it, or choose another with "
                f"ONCALL_{name.upper()}_PORT / --{name}-port (0 picks a free port)",
                file=sys.stderr,
            )
        return 1

    # Until everything is up, SIGTERM interrupts start-up like Ctrl-C does, so the cleanup below still runs.
    signal.signal(signal.SIGTERM, _interrupt)
    stop = threading.Event()

    data_dir = None if cfg.ephemeral else cfg.data_dir.resolve()
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    telegram = cfg.telegram
    slack = cfg.slack

    def env_for(fn: Function) -> dict[str, str]:
        return {
            **cfg.passthrough,
            **telegram.environment(),
            **slack.environment(),
            **emulator.worker_environment(fn.name),
        }

    # An ephemeral run keeps nothing, not even its certificate.
    scratch = tempfile.TemporaryDirectory(prefix="oncall-local-") if data_dir is None else None
    state_dir = data_dir or Path(scratch.name if scratch else ".")
    clock = ShiftedClock()
    offset_file = OffsetFile.create(state_dir / CLOCK_FILE)
    # subscribed before the emulator restores the saved offset, so workers see it from their first call
    clock.subscribe(lambda _delta: offset_file.write(clock.offset.total_seconds()))
    pools = WorkerPools(
        topology,
        env_for,
        endpoint_url="",
        concurrency=concurrency,
        log=_function_line,
        ready=False,
        clock_file=offset_file.path,
    )
    emulator = Emulator(
        topology,
        pools,
        host=cfg.host,
        port=cfg.emulator_port,
        data_dir=data_dir,
        clock=clock,
        durability=cfg.durability,
    )
    gateway: Gateway | None = None
    poller: TelegramPoller | None = None
    collector = QuietCollector()
    try:
        sandbox = TelegramSandbox(telegram.token, telegram.bot_username) if telegram.mode == "outbox" else None
        if sandbox is not None and data_dir is not None:
            sandbox.load(data_dir / SANDBOX_FILE)
        gateway = Gateway(
            topology,
            pools,
            host=cfg.host,
            port=cfg.http_port,
            https_port=cfg.https_port,
            cert_dir=state_dir / "tls",
            clock=emulator,
            telegram=sandbox,
            telegram_secret=telegram.webhook_secret,
            slack=SlackSandbox(slack.token, lenient=True) if slack.sandboxed else None,
            slack_secret=slack.signing_secret,
            mail=MailOutbox(),
            workers=pools,
            sync=emulator.journal.sync,
        )
        gateway.bind()
        if sandbox is not None:
            telegram.api_url = f"{gateway.url}/_local/telegram"
        if slack.sandboxed:
            slack.api_url = f"{gateway.url}/_local/slack/api"
        t_emulator = time.monotonic()
        emulator.start()
        log.info("emulator up in %.1f s (%s)", time.monotonic() - t_emulator, emulator.endpoint_url)
        pools.endpoint_url = emulator.endpoint_url
        # Every part of a worker's environment is known from here on; what the emulator resumed has been waiting.
        pools.mark_ready()
        gateway.serve()
        collector.start()
        t_admin = time.monotonic()
        admin = _bootstrap_admin(cfg, emulator.endpoint_url)
        log.info("first admin checked in %.1f s", time.monotonic() - t_admin)
        if telegram.mode == "polling":
            gw = gateway

            def deliver(update: dict[str, Any]) -> int:
                return gw.deliver_update(update)[0]

            poller = TelegramPoller(telegram.api_url, telegram.token, deliver)
            poller.start()
        elapsed = time.monotonic() - _STARTED
        _banner(cfg, gateway, emulator.endpoint_url, data_dir, admin, elapsed)
        if cfg.ready_file:
            _write_ready(cfg.ready_file, gateway, emulator.endpoint_url, elapsed)

        first_signal: list[float] = []

        def request_stop(signum: int, frame: Any) -> None:
            # Ctrl-C reaches every process of the terminal's group, and `uv run` may forward it as well: a repeat
            # within a second is the same keypress, not an impatient second one.
            if first_signal and time.monotonic() - first_signal[0] < 1.0:
                return
            first_signal.append(time.monotonic())
            if stop.is_set():
                # A second Ctrl-C: the user will not wait for a snapshot.
                log.warning("forced exit: killing workers, state since the last snapshot is lost")
                pools.kill_all()
                os._exit(130)
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        saved = sandbox.changes if sandbox is not None else 0
        while not stop.wait(SANDBOX_SAVE_SECONDS):
            # Like the emulator's periodic snapshot: a runner that is killed outright loses little.
            if sandbox is not None and data_dir is not None and sandbox.changes != saved:
                saved = sandbox.changes
                sandbox.save(data_dir / SANDBOX_FILE)
        log.info("stopping…")
    except KeyboardInterrupt:
        log.info("interrupted during start-up; cleaning up")
        return 130
    finally:
        collector.stop()
        if poller is not None:
            poller.stop()
        if gateway is not None:
            gateway.stop()
            if gateway.telegram is not None and data_dir is not None:
                gateway.telegram.save(data_dir / SANDBOX_FILE)
        pools.close()
        emulator.stop()
        offset_file.close()
        offset_file.path.unlink(missing_ok=True)
        if scratch is not None:
            scratch.cleanup()
        if cfg.ready_file:
            with contextlib.suppress(FileNotFoundError):
                cfg.ready_file.unlink()
        log.info("stopped%s", f"; state saved in {data_dir}" if data_dir else "")
    return 0


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _in_use(host: str, port: int) -> bool:
    if port == 0:
        return False
    with socket.socket() as probe:
        # like the servers themselves: a port whose old connections linger in TIME_WAIT is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _bootstrap_admin(cfg: RunnerConfig, endpoint_url: str) -> dict[str, str] | None:
    """The first admin (identity's ``bootstrap``): the configured one, or a generated password when none exists."""
    from infra.local.bootstrap import ensure_first_admin

    return ensure_first_admin(endpoint_url, username=cfg.admin_username, password=cfg.admin_password)


def _banner(
    cfg: RunnerConfig,
    gateway: Gateway,
    emulator_url: str,
    data_dir: Path | None,
    admin: dict[str, str] | None,
    elapsed: float,
) -> None:
    api = gateway.url
    lines = [
        "",
        f"OnCall Hub is running locally on emulated AWS (no account needed); up in {elapsed:.1f} s",
        "",
        f"  Console     {api}/   (sign in with the admin below; `make demo` fills it with a small organisation)",
        f"  API         {api}" + (f"   and {gateway.https_url} (self-signed)" if gateway.https_url else ""),
        f"  API docs    {api}/docs   (OpenAPI: {api}/openapi.json)",
        f"  Emulator    {emulator_url}   e.g. AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
        f"aws --region us-east-1 --endpoint-url {emulator_url} dynamodb list-tables",
    ]
    if gateway.cert_path:
        lines.append(f"  TLS cert    {gateway.cert_path}   (trust it: REQUESTS_CA_BUNDLE / curl --cacert)")
    login = (
        f'curl -s {api}/auth/login -H \'content-type: application/json\' -d \'{{"username": "%s", "password": "%s"}}\''
    )
    if admin and admin.get("password"):
        who = admin["username"]
        lines.append(f"  Log in      {who} / {admin['password']}   (generated now and shown once: save it)")
        lines.append("              " + login % (who, admin["password"]))
    elif admin:
        lines.append(f"  Log in      {admin['username']} with ONCALL_ADMIN_PASSWORD")
        # double quotes so the shell expands the variable inside the JSON body
        lines.append(
            f'              curl -s {api}/auth/login -H "content-type: application/json" '
            f'-d "{{\\"username\\": \\"{admin["username"]}\\", \\"password\\": \\"$ONCALL_ADMIN_PASSWORD\\"}}"'
        )
    else:
        lines.append(
            f"  Log in      with the admin kept in {data_dir} (its password was shown at the first start; "
            "set ONCALL_ADMIN_USERNAME/ONCALL_ADMIN_PASSWORD to reset it)"
        )
    tg = cfg.telegram
    if tg.mode == "outbox":
        lines.append(f"  Telegram    sandbox: sent messages at {api}/_local/telegram/outbox (and in this log);")
        lines.append('              act as a user: make tg TEXT="/help" CHAT=1')
    elif tg.mode == "polling":
        lines.append(f"  Telegram    polling {tg.api_url} for @{tg.bot_username or 'your bot'}")
    else:
        lines.append(
            "  Telegram    webhook mode: expose /telegram/webhook over public HTTPS, then register it:\n"
            f"              curl {tg.api_url}/bot<TOKEN>/setWebhook -d url=https://<public host>/telegram/webhook "
            "-d secret_token=$TELEGRAM_WEBHOOK_SECRET"
        )
    if cfg.slack.sandboxed:
        lines.append(f"  Slack       sandbox: sent messages at {api}/_local/slack/outbox; add a member with POST")
        lines.append(
            f"              {api}/_local/slack/users, then act as them: POST {api}/_local/slack/command "
            """'{"user": "U…", "command": "/oncall", "text": "link"}' and /_local/slack/press"""
        )
    else:
        lines.append(
            f"  Slack       {cfg.slack.api_url}; request URLs {api}/integrations/slack/{{commands,interactions,events}}"
        )
    lines += [
        f"  SMS         {api}/_local/sms   (PUT /me/phone texts a code; numbers ending in 99 count as opted out)",
        f"  Mail        {api}/_local/mail",
        f"  Clock       curl -X POST {api}/_local/clock -H 'content-type: application/json' "
        + """-d '{"advance": "PT10M"}'""",
        "              jumps ahead: fires due schedules, ends escalation timeouts, ack timeouts and auto-close",
        "              waits it covers, and moves the API's and every function's now",
        f"  Data        {data_dir} (kept across restarts)" if data_dir else "  Data        ephemeral (nothing kept)",
        "  Stop        Ctrl-C",
        "",
    ]
    print("\n".join(lines), flush=True)


def _write_ready(path: Path, gateway: Gateway, emulator_url: str, elapsed: float) -> None:
    info = {
        "http": gateway.url,
        "https": gateway.https_url,
        "cert": str(gateway.cert_path) if gateway.cert_path else None,
        "emulator": emulator_url,
        "pid": os.getpid(),
        "startup_s": round(elapsed, 3),
    }
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
