"""cdk-nag (AwsSolutions, run by the synth itself) and cfn-lint are clean, and cdk-nag is really wired in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.conftest import FIXTURE, PRODUCT, Synthesized, cdk_context
from tests.infra.fixtures.topology import fixture_topology

pytestmark = pytest.mark.infra

#: each has its reason in code (infra/constructs): Lambda runtime pin, authorization in the app, wildcard-only IAM
#: actions, DLQs that are DLQs, secrets without rotation schedules
EXPECTED_ACKNOWLEDGMENTS = {
    "AwsSolutions-L1",
    "AwsSolutions-APIG4",
    "AwsSolutions-IAM5[Resource::*]",
    "AwsSolutions-SQS3",
}


def test_cdk_nag_reports_no_unacknowledged_finding(synthesized: Synthesized) -> None:
    # the synth would have raised on a finding; the report says so too
    failures = [r for r in synthesized.validation_report.get("pluginReports", []) if r.get("conclusion") == "failure"]
    assert failures == []


def test_cdk_nag_fails_the_synth_on_an_unacknowledged_finding(tmp_path: Path) -> None:
    """Proves the plugin is registered by ``build_app`` (a clean report alone could mean nag never ran)."""
    from aws_cdk import aws_sqs as sqs

    from infra.app import build_app
    from infra.topology import Topology

    fixture = fixture_topology()
    # the smallest stack build_app accepts keeps this second synth to about a second
    probe = Topology((fixture.function("fx-notifier"),), (), (), (), (), (), ())
    app = build_app({"NagProbe": probe}, context=cdk_context(), outdir=str(tmp_path))
    stack = app.node.find_child("NagProbe")
    sqs.Queue(stack, "PlainQueue")  # no DLQ, no TLS enforcement: AwsSolutions-SQS3 and -SQS4
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-SQS3" in report
    assert "AwsSolutions-SQS4" in report
    assert "NagProbe/PlainQueue" in report
    assert "NagProbe/Functions" not in report, "only the probe queue may be reported"


#: cfn-lint checks we skip on CDK output, each with the reason
CFN_LINT_IGNORED = {
    # CDK makes a function (and a state machine) depend on its role *construct*, which renders as DependsOn on the
    # role and on its DefaultPolicy. The policy half matters (the function must not start, nor an event source
    # mapping be validated, before its permissions exist); the role half duplicates the Role GetAtt. Harmless.
    "W3005",
}


@pytest.mark.parametrize("stack_name", [PRODUCT, FIXTURE])
def test_cfn_lint_is_clean(synthesized: Synthesized, stack_name: str) -> None:
    from cfnlint.api import ManualArgs, lint_file

    matches = lint_file(
        synthesized.outdir / f"{stack_name}.template.json",
        config=ManualArgs(regions=["us-east-1"], ignore_checks=sorted(CFN_LINT_IGNORED)),
    )
    assert [str(m) for m in matches] == []


def test_every_acknowledgment_carries_a_reason(synthesized: Synthesized) -> None:
    """Acknowledgments are recorded in the cloud assembly's metadata (rule id → reason); each must say why, and
    only the rules we expect to acknowledge appear: anything else must be fixed, not acknowledged."""
    acknowledged: dict[str, set[str]] = {}
    for stack_name in (PRODUCT, FIXTURE):
        metadata = json.loads((synthesized.outdir / f"{stack_name}.metadata.json").read_text())
        for path, entries in metadata.items():
            for entry in entries:
                if entry["type"] != "aws:cdk:acknowledged-rules":
                    continue
                for rule, reason in entry["data"].items():
                    assert len(reason) >= 60, f"{path}: {rule} needs a real reason, got {reason!r}"
                    acknowledged.setdefault(rule.removeprefix("Annotation::"), set()).add(path)
    assert set(acknowledged) == EXPECTED_ACKNOWLEDGMENTS
