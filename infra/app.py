"""The CDK app (``cdk.json``: ``python -m infra.app``): one ``OnCallStack`` from ``infra.topology.TOPOLOGY``, checked
by cdk-nag's AwsSolutions pack during synthesis (a finding without a justified acknowledgment fails the synth).

Settings come from CDK context (``cdk.json``'s ``context``, or ``-c key=value``; ``make deploy ARGS=...`` passes
them on), read and validated by ``infra/settings.py``: the stack's knobs (``oncall:stackName``,
``oncall:logRetentionDays``, the throttles, reserved concurrency, tracing and workflow logging;
``oncall:allowMissingDepsLayer`` for template tests) and every product setting as
``oncall:<camelCase of its variable>``. README "Configuration" and "Deploy to AWS" list them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, Environment, Tags, Validations
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks

from infra.constructs.layers import DepsLayerMissingError
from infra.settings import DeploySettingsError, from_context
from infra.stacks.oncall import OnCallStack
from infra.topology import TOPOLOGY, Topology

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


def build_app(
    stacks: Mapping[str, Topology] | None = None,
    *,
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    env: Environment | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> App:
    """The app with one stack per (name → topology); the CLI builds ``{stackName: TOPOLOGY}``. ``overrides`` gives
    a stack context values over the app's (the template tests synthesize a lean and a full stack in one app)."""
    app = App(context=dict(context or {}), outdir=outdir)
    base = app.node.get_all_context()
    if stacks is None:
        stacks = {from_context(base).stack.stack_name: TOPOLOGY}
    for name, topology in stacks.items():
        settings = from_context({**base, **(overrides or {}).get(name, {})})
        knobs = settings.stack
        OnCallStack(
            app,
            name,
            topology=topology,
            env=env,
            description="OnCall Hub: on-call schedules, incidents, escalation and notifications (serverless)",
            allow_missing_deps_layer=knobs.allow_missing_deps_layer,
            log_retention=_RETENTION[knobs.log_retention_days],
            knobs=knobs,
            settings=settings.environment,
        )
    Tags.of(app).add("project", "oncall-hub")
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app


def main() -> None:
    try:
        app = build_app()
    except (DepsLayerMissingError, DeploySettingsError) as exc:
        sys.exit(f"error: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
