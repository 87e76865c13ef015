"""Synthesize the CDK app ONCE per test run (jsii start-up alone is several seconds) and share the result.

One app, two stacks: ``OnCallHub`` from the product topology exactly as ``cdk synth`` builds it (same cdk.json
context), and ``OnCallHubFixture`` from that topology extended with one of everything (fixtures/topology.py).
cdk-nag runs as part of that synth, as it does for ``cdk synth``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

from infra.topology import ROOT, TOPOLOGY, Topology
from tests.infra.fixtures.topology import fixture_topology

PRODUCT = "OnCallHub"
FIXTURE = "OnCallHubFixture"

#: what the tests add to cdk.json's context: no bundling, no asset copies, a stand-in dependency layer if unbuilt
TEST_CONTEXT = {
    "aws:cdk:bundling-stacks": [],
    "aws:cdk:disable-asset-staging": True,
    "oncall:allowMissingDepsLayer": True,
    # mail on, so the SES grants (scoped to the sender's identities) are synthesized and checked
    "oncall:emailSender": "OnCall Hub <oncall@mail.example.com>",
    # the bot's public name, so link codes carry a t.me deep link in AWS too
    "oncall:telegramBotUsername": "@oncall_hub_bot",
    # operator settings, one as a JSON number and one as a string, as cdk.json and -c give them
    "oncall:alertsRatePerMinute": 60,
    "oncall:webhookRetrySchedule": "5,60",
}


#: the fixture stack is synthesized with everything optional turned on, the product stack with the defaults
FULL_CONTEXT = {"oncall:dashboard": True, "oncall:alarms": "all"}


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    templates: dict[str, dict[str, Any]]
    topologies: dict[str, Topology]
    validation_report: dict[str, Any]
    seconds: float


def cdk_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    return {**context, **TEST_CONTEXT}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    topologies = {PRODUCT: TOPOLOGY, FIXTURE: fixture_topology()}
    started = time.perf_counter()
    app = build_app(topologies, context=cdk_context(), outdir=str(outdir), overrides={FIXTURE: FULL_CONTEXT})
    app.synth()
    seconds = time.perf_counter() - started
    templates = {name: json.loads((outdir / f"{name}.template.json").read_text()) for name in topologies}
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    return Synthesized(outdir, templates, topologies, report, seconds)


@pytest.fixture(params=[PRODUCT, FIXTURE])
def stack(request: pytest.FixtureRequest, synthesized: Synthesized) -> tuple[dict[str, Any], Topology, str]:
    name: str = request.param
    return synthesized.templates[name], synthesized.topologies[name], name
