"""The runner's configuration: command-line flags over environment variables over defaults.

=============================  ==========================  =========================================================
flag                           variable                    default
=============================  ==========================  =========================================================
``--http-port``                ``ONCALL_HTTP_PORT``        8000 (0 = any free port)
``--https-port``               ``ONCALL_HTTPS_PORT``       8443, self-signed certificate (0 = free port, -1 = off)
``--emulator-port``            ``ONCALL_EMULATOR_PORT``    4566, where ``aws --endpoint-url`` and workers connect
``--data-dir``                 ``ONCALL_DATA_DIR``         ``.oncall-local/`` (state kept across restarts)
``--ephemeral``                                            keep nothing: no restore, no snapshot
``--durability``               ``ONCALL_LOCAL_DURABILITY``  ``fsync``: every change journaled and on disk before the
                                                           API answers; ``write``: journaled (survives kill -9, not
                                                           a power cut); ``off``: snapshots only (``journal``)
``--ready-file PATH``                                      write ``{"http", "https", "emulator", "pid"}`` when up
``--concurrency fn=N,...``     ``ONCALL_LOCAL_CONCURRENCY``  each function's ``local_concurrency``; a bare N sets all
``--topology module:ATTR``                                 ``infra.topology:TOPOLOGY`` (tests add fixture functions)
\\                              ``TELEGRAM_MODE``           ``outbox`` without a token, else ``polling``
\\                              ``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_BOT_USERNAME``, ``TELEGRAM_WEBHOOK_SECRET``,
                               ``TELEGRAM_API_URL``        (default ``https://api.telegram.org``)
\\                              ``SLACK_BOT_TOKEN``         unset: the runner's Slack sandbox; set: real Slack
\\                              ``SLACK_SIGNING_SECRET``    generated for the sandbox; the app's, for real Slack
\\                              ``SLACK_API_URL``           the sandbox without a token, else ``https://slack.com/api``
\\                              ``ONCALL_SMS_ENABLED``      ``true``: SMS land in ``/_local/sms``
\\                              ``ONCALL_SMS_LINK_KEY``     generated per start unless set
\\                              ``ONCALL_ADMIN_USERNAME`` / ``ONCALL_ADMIN_PASSWORD``: the first admin
\\                              ``ONCALL_PUBLIC_URL``       ``http://127.0.0.1:<http port>``: what pages link to
=============================  ==========================  =========================================================

Functions receive, besides what the topology declares, every other ``ONCALL_*`` variable of the runner's environment
(so a setting such as ``ONCALL_WEBHOOK_ALLOWLIST`` reaches them as CDK would set it) and the ``TELEGRAM_*`` and
``SLACK_*`` settings;
runner-only variables (ports, data folder, admin credentials) are not passed on. What is passed on is checked with
the product's settings models first (``oncall/settings.py``): a value a function would refuse stops the runner at
start, naming the variable, instead of failing every invocation.
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from infra.topology import Topology

TelegramMode = Literal["outbox", "webhook", "polling"]

PUBLIC_BOT_API = "https://api.telegram.org"
#: the token the sandbox answers to in outbox mode (Bot API tokens are ``<bot id>:<secret>``)
SANDBOX_TOKEN = "1000000001:local-sandbox-token"  # noqa: S105  # answered only by the local sandbox

PUBLIC_SLACK_API = "https://slack.com/api"
#: the bot token the Slack sandbox answers to when no real one is given
SLACK_SANDBOX_TOKEN = "xoxb-local-sandbox-token"  # noqa: S105  # answered only by the local sandbox

RUNNER_ONLY = frozenset(
    {
        "ONCALL_HTTP_PORT",
        "ONCALL_HTTPS_PORT",
        "ONCALL_EMULATOR_PORT",
        "ONCALL_DATA_DIR",
        "ONCALL_LOCAL_CONCURRENCY",
        "ONCALL_LOCAL_LOG_LEVEL",
        "ONCALL_LOCAL_DURABILITY",
        "ONCALL_ADMIN_USERNAME",
        "ONCALL_ADMIN_PASSWORD",
    }
)

#: the From address of local mail (the emulator verifies its domain in SES)
DEFAULT_MAIL_SENDER = "OnCall Hub <oncall@oncall.local>"


class ConfigError(ValueError):
    pass


@dataclass
class TelegramConfig:
    mode: TelegramMode
    token: str
    bot_username: str
    webhook_secret: str
    #: the Bot API base the functions call; in outbox mode the runner sets it to its own sandbox once it listens
    api_url: str

    def environment(self) -> dict[str, str]:
        return {
            "TELEGRAM_MODE": self.mode,
            "TELEGRAM_BOT_TOKEN": self.token,
            "TELEGRAM_BOT_USERNAME": self.bot_username,
            "TELEGRAM_WEBHOOK_SECRET": self.webhook_secret,
            "TELEGRAM_API_URL": self.api_url,
        }


@dataclass
class SlackConfig:
    #: no real bot token given: the runner's Slack sandbox answers the Web API
    sandboxed: bool
    token: str
    signing_secret: str
    #: the Web API base the functions call; sandboxed, the runner sets it to its own sandbox once it listens
    api_url: str

    def environment(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": self.token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": self.api_url,
        }


@dataclass
class RunnerConfig:
    host: str = "127.0.0.1"
    http_port: int = 8000
    https_port: int | None = 8443
    emulator_port: int = 4566
    data_dir: Path = Path(".oncall-local")
    ephemeral: bool = False
    durability: Literal["fsync", "write", "off"] = "fsync"
    ready_file: Path | None = None
    topology: str = "infra.topology:TOPOLOGY"
    concurrency: dict[str, int] = field(default_factory=dict)
    default_concurrency: int | None = None
    telegram: TelegramConfig = field(
        default_factory=lambda: TelegramConfig("outbox", SANDBOX_TOKEN, "oncall_local_bot", "", PUBLIC_BOT_API)
    )
    slack: SlackConfig = field(
        default_factory=lambda: SlackConfig(True, SLACK_SANDBOX_TOKEN, secrets.token_urlsafe(24), PUBLIC_SLACK_API)
    )
    admin_username: str | None = None
    admin_password: str | None = None
    #: ``ONCALL_*`` settings handed to every function
    passthrough: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, argv: list[str] | None = None, environ: Mapping[str, str] | None = None) -> RunnerConfig:
        env = dict(os.environ if environ is None else environ)
        parser = argparse.ArgumentParser(
            prog="python -m infra.local", description="Run OnCall Hub locally on emulated AWS (no Docker, no account)."
        )
        parser.add_argument("--http-port", type=int, default=_int(env, "ONCALL_HTTP_PORT", 8000))
        parser.add_argument("--https-port", type=int, default=_int(env, "ONCALL_HTTPS_PORT", 8443))
        parser.add_argument("--emulator-port", type=int, default=_int(env, "ONCALL_EMULATOR_PORT", 4566))
        parser.add_argument("--data-dir", type=Path, default=Path(env.get("ONCALL_DATA_DIR") or ".oncall-local"))
        parser.add_argument("--ephemeral", action="store_true", help="start empty and keep nothing")
        parser.add_argument(
            "--durability",
            choices=("fsync", "write", "off"),
            default=env.get("ONCALL_LOCAL_DURABILITY") or "fsync",
            help="how acknowledged changes are kept between snapshots",
        )
        parser.add_argument("--ready-file", type=Path, help="write the URLs as JSON here once everything is up")
        parser.add_argument("--concurrency", default=env.get("ONCALL_LOCAL_CONCURRENCY", ""))
        parser.add_argument("--topology", default="infra.topology:TOPOLOGY", help=argparse.SUPPRESS)
        args = parser.parse_args(argv)

        per_fn, default = _concurrency(args.concurrency)
        telegram = _telegram(env)
        slack = _slack(env)
        for name, port in (("http", args.http_port), ("emulator", args.emulator_port)):
            if not 0 <= port <= 65535:
                raise ConfigError(f"--{name}-port: {port} is not a port (0 picks a free one)")
        config = cls(
            http_port=args.http_port,
            https_port=None if args.https_port < 0 else args.https_port,
            emulator_port=args.emulator_port,
            data_dir=args.data_dir,
            ephemeral=args.ephemeral,
            durability=args.durability,
            ready_file=args.ready_file,
            topology=args.topology,
            concurrency=per_fn,
            default_concurrency=default,
            telegram=telegram,
            slack=slack,
            admin_username=env.get("ONCALL_ADMIN_USERNAME") or None,
            admin_password=env.get("ONCALL_ADMIN_PASSWORD") or None,
            passthrough={
                # mail goes to the emulator's SES (the runner's mail outbox) from this sender unless configured
                "ONCALL_EMAIL_SENDER": DEFAULT_MAIL_SENDER,
                # SMS go to the emulator's SNS (the runner's SMS outbox); ack links are signed with a key of this run
                # unless one is configured (a link sent before a restart then no longer opens)
                "ONCALL_SMS_ENABLED": "true",
                "ONCALL_SMS_LINK_KEY": secrets.token_urlsafe(32),
                # pages link to incidents on the runner's own API unless a public URL is configured; a port picked
                # at start (0) is not known here, and a page without a link beats one with a wrong link
                **({"ONCALL_PUBLIC_URL": f"http://127.0.0.1:{args.http_port}"} if args.http_port else {}),
                **{k: v for k, v in env.items() if k.startswith("ONCALL_") and k not in RUNNER_ONLY},
            },
        )
        from infra.settings import refused

        problems = refused({**config.passthrough, **telegram.environment(), **slack.environment()})
        if problems:
            raise ConfigError("; ".join(problems))
        return config

    def load_topology(self) -> Topology:
        module_name, _, attr = self.topology.partition(":")
        value = getattr(importlib.import_module(module_name), attr or "TOPOLOGY")
        if not isinstance(value, Topology):
            raise ConfigError(f"--topology {self.topology} is not a Topology")
        value.validate()
        return value

    def concurrency_for(self, topology: Topology) -> dict[str, int]:
        unknown = set(self.concurrency) - {f.name for f in topology.functions}
        if unknown:
            raise ConfigError(f"--concurrency names unknown functions: {', '.join(sorted(unknown))}")
        out = {f.name: self.default_concurrency or f.local_concurrency for f in topology.functions}
        out.update(self.concurrency)
        return out


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def _concurrency(spec: str) -> tuple[dict[str, int], int | None]:
    per_fn: dict[str, int] = {}
    default: int | None = None
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.rpartition("=")
        try:
            n = int(value)
        except ValueError:
            raise ConfigError(f"concurrency {part!r}: expected NAME=N or N") from None
        if n < 1:
            raise ConfigError(f"concurrency {part!r}: must be at least 1")
        if sep:
            per_fn[name] = n
        else:
            default = n
    return per_fn, default


def _slack(env: Mapping[str, str]) -> SlackConfig:
    token = env.get("SLACK_BOT_TOKEN") or ""
    secret = env.get("SLACK_SIGNING_SECRET") or ""
    if token and not secret:
        raise ConfigError("SLACK_BOT_TOKEN needs SLACK_SIGNING_SECRET (the app's, from Basic Information)")
    return SlackConfig(
        sandboxed=not token,
        token=token or SLACK_SANDBOX_TOKEN,
        signing_secret=secret or secrets.token_urlsafe(24),
        api_url=(env.get("SLACK_API_URL") or PUBLIC_SLACK_API).rstrip("/"),
    )


def _telegram(env: Mapping[str, str]) -> TelegramConfig:
    token = env.get("TELEGRAM_BOT_TOKEN") or ""
    mode = env.get("TELEGRAM_MODE") or ("polling" if token else "outbox")
    if mode not in ("outbox", "webhook", "polling"):
        raise ConfigError(f"TELEGRAM_MODE={mode!r}: expected outbox, webhook or polling")
    if mode != "outbox" and not token:
        raise ConfigError(f"TELEGRAM_MODE={mode} needs TELEGRAM_BOT_TOKEN (from @BotFather)")
    secret = env.get("TELEGRAM_WEBHOOK_SECRET") or secrets.token_urlsafe(24)
    if mode == "outbox":
        return TelegramConfig(
            mode="outbox",
            token=SANDBOX_TOKEN,
            bot_username=env.get("TELEGRAM_BOT_USERNAME") or "oncall_local_bot",
            webhook_secret=secret,
            api_url="",
        )
    return TelegramConfig(
        mode=mode,  # type: ignore[arg-type]  # checked against the Literal above
        token=token,
        bot_username=env.get("TELEGRAM_BOT_USERNAME") or "",
        webhook_secret=secret,
        api_url=(env.get("TELEGRAM_API_URL") or PUBLIC_BOT_API).rstrip("/"),
    )
