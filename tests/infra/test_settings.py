"""Deployment settings: CDK context reaches the functions' environment, validated by the product's own models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.settings import DEPLOYABLE, DeploySettingsError, context_key, from_context
from infra.topology import TOPOLOGY
from tests.infra.conftest import FIXTURE, PRODUCT, Synthesized, cdk_context
from tests.infra.template import function_ids, props, resources

pytestmark = pytest.mark.infra


def _environments(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: props(template, lid)["Environment"]["Variables"] for name, lid in function_ids(template).items()}


def test_context_settings_reach_every_function(synthesized: Synthesized) -> None:
    for name, env in _environments(synthesized.templates[PRODUCT]).items():
        assert env["ONCALL_ALERTS_RATE_PER_MINUTE"] == "60", name
        assert env["ONCALL_WEBHOOK_RETRY_SCHEDULE"] == "5,60", name
        # unset settings stay out: the functions' documented defaults apply
        assert "ONCALL_ALERTS_RESOLVE_POLICY" not in env


def test_mail_sender_only_where_mail_is_sent(synthesized: Synthesized) -> None:
    for name, env in _environments(synthesized.templates[PRODUCT]).items():
        sends = TOPOLOGY.function(name).sends_email
        assert (env.get("ONCALL_EMAIL_SENDER") == "OnCall Hub <oncall@mail.example.com>") == sends, name


def test_public_url_defaults_to_the_api_without_a_dependency_cycle(synthesized: Synthesized) -> None:
    template = synthesized.templates[PRODUCT]
    (api,) = resources(template, "AWS::ApiGatewayV2::Api")
    for name, env in _environments(template).items():
        assert env["ONCALL_PUBLIC_URL"] == {"Fn::GetAtt": [api, "ApiEndpoint"]}, name
    _assert_acyclic(template)


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        if "Ref" in value:
            return {str(value["Ref"])}
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return {str(target[0] if isinstance(target, list) else target.split(".")[0])}
        return set().union(*(_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


def _assert_acyclic(template: dict[str, Any]) -> None:
    """What CloudFormation refuses to create: resources that (through Ref, GetAtt, DependsOn) need each other."""
    names = set(template["Resources"])
    graph = {
        lid: (_refs(res.get("Properties", {})) | set(_as_list(res.get("DependsOn")))) & names
        for lid, res in template["Resources"].items()
    }
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("dependency cycle: " + " → ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for lid in graph:
        if lid not in state:
            visit(lid, [])


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def test_an_operator_public_url_replaces_the_api_url(tmp_path: Path) -> None:
    from infra.app import build_app

    context = {**cdk_context(), "oncall:publicUrl": "https://oncall.example.com/"}
    build_app({"Public": TOPOLOGY}, context=context, outdir=str(tmp_path)).synth()
    template = json.loads((tmp_path / "Public.template.json").read_text())
    for env in _environments(template).values():
        assert env["ONCALL_PUBLIC_URL"] == "https://oncall.example.com/"


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"oncall:alertsRatePerMinute": 0}, r"oncall:alertsRatePerMinute \(ONCALL_ALERTS_RATE_PER_MINUTE\)"),
        ({"oncall:alertsResolvePolicy": "sometimes"}, "oncall:alertsResolvePolicy"),
        ({"oncall:publicUrl": "oncall.example.com"}, "oncall:publicUrl.*absolute http"),
        ({"oncall:alertsCloudwatchServices": "{not json"}, "oncall:alertsCloudwatchServices.*JSON"),
        ({"oncall:emailSender": "nobody"}, "oncall:emailSender.*email address"),
        ({"oncall:logRetentionDays": 31}, "oncall:logRetentionDays.*one of"),
        ({"oncall:alertsRatPerMinute": 60}, "did you mean oncall:alertsRatePerMinute"),
    ],
)
def test_a_bad_setting_fails_the_synth_naming_its_key(context: dict[str, Any], named: str) -> None:
    from infra.app import build_app

    with pytest.raises(DeploySettingsError, match=named):
        build_app({"Bad": TOPOLOGY}, context={**cdk_context(), **context})


def test_context_values_of_any_json_type_become_variables() -> None:
    got = from_context(
        {
            "oncall:alertsCloudwatchServices": {"arn:aws:cloudwatch:eu-west-1:1:alarm:db": "Database"},
            "oncall:webhookTimeoutSeconds": 2.5,
            "oncall:telegramBotUsername": "@bot",
            "oncall:throttleRate": "75",
        }
    )
    assert got.environment == {
        "ONCALL_ALERTS_CLOUDWATCH_SERVICES": '{"arn:aws:cloudwatch:eu-west-1:1:alarm:db": "Database"}',
        "ONCALL_WEBHOOK_TIMEOUT_SECONDS": "2.5",
        "TELEGRAM_BOT_USERNAME": "bot",
        "ONCALL_METRICS_EMF": "off",
    }
    assert got.stack.throttle_rate == 75


def test_emf_metrics_follow_the_dashboard_unless_set() -> None:
    """Nothing in a lean stack reads custom metrics, and each costs ~$0.30 a month: off unless the dashboard is on
    or the operator asks for them."""
    assert from_context({}).environment["ONCALL_METRICS_EMF"] == "off"
    assert from_context({"oncall:dashboard": True}).environment["ONCALL_METRICS_EMF"] == "all"
    asked = from_context({"oncall:metricsEmf": "business"})
    assert asked.environment["ONCALL_METRICS_EMF"] == "business" and not asked.stack.dashboard


def test_the_lean_and_full_stacks_emit_what_their_dashboards_need(synthesized: Synthesized) -> None:
    for name, env in _environments(synthesized.templates[PRODUCT]).items():
        assert env["ONCALL_METRICS_EMF"] == "off", name
    for name, env in _environments(synthesized.templates[FIXTURE]).items():
        assert env["ONCALL_METRICS_EMF"] == "all", name


def test_secrets_and_resources_are_never_deployment_settings() -> None:
    variables = set(DEPLOYABLE.values())
    assert context_key("ONCALL_ALERTS_RATE_PER_MINUTE") == "oncall:alertsRatePerMinute"
    assert context_key("TELEGRAM_BOT_USERNAME") == "oncall:telegramBotUsername"
    assert not {"ONCALL_JWT_KEYS", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"} & variables
    assert not {v for v in variables if v.startswith(("ONCALL_TABLE_", "ONCALL_SECRET_", "ONCALL_QUEUE_"))}
    assert "ONCALL_ALERTS_GRAFANA_HMAC_SECRET" not in variables


def test_readme_lists_every_setting_with_its_context_key() -> None:
    from infra.topology import ROOT
    from oncall.settings import MODELS

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuration") : readme.index("## How it is built")]
    for model in MODELS:
        for variable in model.variables():
            assert f"`{variable}`" in section, f"README's Configuration does not list {variable}"
    for key in DEPLOYABLE:
        assert f"`{key}`" in section, f"README's Configuration does not name the context key {key}"
