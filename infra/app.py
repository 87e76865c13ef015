"""The CDK app (``cdk.json``: ``python -m infra.app``): one ``OnCallStack`` from ``infra.topology.TOPOLOGY``, checked
by cdk-nag's AwsSolutions pack during synthesis (a finding without a justified acknowledgment fails the synth).

Context (cdk.json, or ``-c key=value``):
- ``oncall:stackName`` (``OnCallHub``)
- ``oncall:logRetentionDays`` (30), ``oncall:throttleRate`` (50 req/s), ``oncall:throttleBurst`` (100)
- ``oncall:emailSender`` (unset: no mail): the From address of notification mail, a verified SES identity
- ``oncall:telegramBotUsername`` (unset): the bot's public @username, for ``t.me`` deep links in link codes (not a
  secret, so a plain environment variable; the token itself stays in Secrets Manager)
- ``oncall:allowMissingDepsLayer`` (false): template tests only; synthesizes with a stand-in dependency layer.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Tags, Validations
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks

from infra.constructs.layers import DepsLayerMissingError
from infra.stacks.oncall import OnCallStack
from infra.topology import TOPOLOGY, Topology

DEFAULT_STACK_NAME = "OnCallHub"


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in {"1", "true", "yes"})


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
}


def _retention(days: int) -> logs.RetentionDays:
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"oncall:logRetentionDays must be one of {sorted(_RETENTION)}, not {days}") from None


def build_app(
    stacks: Mapping[str, Topology] | None = None,
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    env: Environment | None = None,
) -> App:
    """The app with one stack per (name → topology); the CLI builds ``{stackName: TOPOLOGY}``."""
    app = App(context=dict(context or {}), outdir=outdir)
    node = app.node
    if stacks is None:
        stacks = {str(node.try_get_context("oncall:stackName") or DEFAULT_STACK_NAME): TOPOLOGY}
    for name, topology in stacks.items():
        OnCallStack(
            app,
            name,
            topology=topology,
            env=env,
            description="OnCall Hub: on-call schedules, incidents, escalation and notifications (serverless)",
            allow_missing_deps_layer=_truthy(node.try_get_context("oncall:allowMissingDepsLayer")),
            log_retention=_retention(int(node.try_get_context("oncall:logRetentionDays") or 30)),
            throttle_rate=float(node.try_get_context("oncall:throttleRate") or 50),
            throttle_burst=int(node.try_get_context("oncall:throttleBurst") or 100),
            email_sender=str(node.try_get_context("oncall:emailSender") or "") or None,
            telegram_bot_username=str(node.try_get_context("oncall:telegramBotUsername") or "") or None,
        )
    Tags.of(app).add("project", "oncall-hub")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


def main() -> None:
    try:
        app = build_app()
    except DepsLayerMissingError as exc:
        sys.exit(f"error: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
