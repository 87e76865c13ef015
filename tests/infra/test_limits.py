"""The shipped limits that decide a storm: reserved concurrency (the paging path guaranteed its share, ingestion
bounded), SQS pollers held to their consumer's reservation, the ingestion routes' own throttle, tracing and workflow
logging, each as the topology declares it and as a deployment changes it (README "Sizing and limits")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infra.local.apigw import match_route
from infra.settings import DeploySettingsError, StackSettings, from_context
from infra.topology import TOPOLOGY
from tests.infra.conftest import PRODUCT, Synthesized, cdk_context
from tests.infra.template import function_ids, props, ref_id, resources

pytestmark = pytest.mark.infra

#: the functions a page travels through: event relay, lifecycle start, the workflow's tasks, notices, Telegram acks
PAGING_PATH = ("publisher", "incident_starter", "escalation", "notifier", "telegram")
#: the functions alerts arrive through (HTTP intake runs in the API)
INGESTION = ("api", "alerts")
#: AWS keeps this much of the account's concurrency unreserved; 1,000 is a region's default quota
UNRESERVED_MINIMUM = 100
DEFAULT_ACCOUNT_CONCURRENCY = 1000


def _reserved(template: dict[str, Any]) -> dict[str, int | None]:
    return {
        name: props(template, lid).get("ReservedConcurrentExecutions") for name, lid in function_ids(template).items()
    }


def _queue_pollers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Consumer function name → its SQS event source mapping (declared queues only: streams have no SQS source)."""
    ids = {lid: name for name, lid in function_ids(template).items()}
    queues = resources(template, "AWS::SQS::Queue")
    return {
        ids[ref_id(m["Properties"]["FunctionName"])] + ":" + ref_id(m["Properties"]["EventSourceArn"]): m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if ref_id(m["Properties"]["EventSourceArn"]) in queues
    }


def _synth(tmp_path: Path, **context: Any) -> dict[str, Any]:
    from infra.app import build_app

    build_app({"Limits": TOPOLOGY}, context={**cdk_context(), **context}, outdir=str(tmp_path)).synth()
    template: dict[str, Any] = json.loads((tmp_path / "Limits.template.json").read_text())
    return template


def test_the_paging_path_is_reserved_and_ingestion_bounded(synthesized: Synthesized) -> None:
    reserved = _reserved(synthesized.templates[PRODUCT])
    for name in (*PAGING_PATH, *INGESTION):
        declared = TOPOLOGY.function(name).reserved_concurrency
        assert declared is not None and reserved[name] == declared, name
    # what is reserved still leaves AWS's minimum unreserved in an account with the default quota
    assert sum(n for n in reserved.values() if n) <= DEFAULT_ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM
    # the schedules' functions stay on the shared pool: nothing of theirs is on the paging path
    assert reserved["rotations"] is None and reserved["reminders"] is None


def test_queue_pollers_never_outrun_their_consumer(synthesized: Synthesized) -> None:
    template = synthesized.templates[PRODUCT]
    reserved = _reserved(template)
    pollers = _queue_pollers(template)
    assert len(pollers) == len(TOPOLOGY.queues)
    for decl in TOPOLOGY.queues:
        (mapping,) = [m for key, m in pollers.items() if key.startswith(decl.consumer + ":")]
        limit = mapping["ScalingConfig"]["MaximumConcurrency"]
        assert limit == decl.max_concurrency
        consumer = reserved[decl.consumer]
        assert consumer is not None and 2 <= limit <= consumer, decl.name


def test_alert_intake_routes_have_the_storm_throttle(synthesized: Synthesized) -> None:
    (stage,) = [s["Properties"] for s in resources(synthesized.templates[PRODUCT], "AWS::ApiGatewayV2::Stage").values()]
    knobs = from_context(cdk_context()).stack
    storm = {"ThrottlingRateLimit": knobs.ingest_throttle_rate, "ThrottlingBurstLimit": knobs.ingest_throttle_burst}
    for path in ("/v2/enqueue", "/integrations/alertmanager", "/integrations/grafana"):
        route = match_route("POST", path)
        assert route is not None and route.ingest, path
        assert stage["RouteSettings"][route.route_key] == storm, path
    # a storm of one alert per request at 1,000 alerts/s fits, with headroom, and people keep their own budget
    assert knobs.ingest_throttle_rate >= 1000 * 1.2
    assert knobs.throttle_rate >= 200
    assert match_route("GET", "/incidents") is not None and not match_route("GET", "/incidents").ingest  # type: ignore[union-attr]


def test_shipped_defaults_are_the_ones_cdk_json_deploys() -> None:
    """cdk.json repeats the stack's defaults for operators to edit; they must not drift apart silently."""
    shipped = from_context(cdk_context()).stack
    defaults = StackSettings.model_validate({})
    for field in ("throttle_rate", "throttle_burst", "ingest_throttle_rate", "ingest_throttle_burst"):
        assert getattr(shipped, field) == getattr(defaults, field), field


def test_a_deployment_sets_its_own_limits(tmp_path: Path) -> None:
    template = _synth(
        tmp_path,
        **{
            "oncall:reservedConcurrency": '{"api": 300, "telegram": null, "notifier": 10}',
            "oncall:ingestThrottleRate": 800,
            "oncall:ingestThrottleBurst": 1600,
            "oncall:tracing": False,
            "oncall:workflowLogLevel": "ERROR",
        },
    )
    reserved = _reserved(template)
    assert reserved["api"] == 300
    assert reserved["telegram"] is None
    assert reserved["notifier"] == 10
    assert reserved["escalation"] == TOPOLOGY.function("escalation").reserved_concurrency
    # the notifier queue's poller is held to the lowered reservation
    (notifier,) = [m for key, m in _queue_pollers(template).items() if key.startswith("notifier:")]
    assert notifier["ScalingConfig"]["MaximumConcurrency"] == 10
    (stage,) = [s["Properties"] for s in resources(template, "AWS::ApiGatewayV2::Stage").values()]
    assert stage["RouteSettings"]["POST /v2/enqueue"] == {"ThrottlingRateLimit": 800, "ThrottlingBurstLimit": 1600}
    for lid in function_ids(template).values():
        assert props(template, lid).get("TracingConfig", {}).get("Mode") != "Active"
    (machine,) = [m["Properties"] for m in resources(template, "AWS::StepFunctions::StateMachine").values()]
    assert machine["LoggingConfiguration"]["Level"] == "ERROR"
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert machine.get("TracingConfiguration", {}).get("Enabled") is not True


def test_reservations_can_be_turned_off_for_a_small_account(tmp_path: Path) -> None:
    template = _synth(tmp_path, **{"oncall:reserveConcurrency": False})
    assert not {name: n for name, n in _reserved(template).items() if n is not None}
    # with nothing reserved the pollers keep their declared ceilings
    for decl in TOPOLOGY.queues:
        (mapping,) = [m for key, m in _queue_pollers(template).items() if key.startswith(decl.consumer + ":")]
        assert mapping["ScalingConfig"]["MaximumConcurrency"] == decl.max_concurrency


@pytest.mark.parametrize(
    ("context", "named"),
    [
        ({"oncall:reservedConcurrency": '{"escalaton": 50}'}, r"oncall:reservedConcurrency: no such function"),
        ({"oncall:reservedConcurrency": '{"api": 0}'}, r"at least 1"),
        ({"oncall:reservedConcurrency": "{api"}, r"not JSON"),
        ({"oncall:workflowLogLevel": "DEBUG"}, r"oncall:workflowLogLevel"),
        ({"oncall:ingestThrottleRate": 0}, r"oncall:ingestThrottleRate"),
    ],
)
def test_a_bad_limit_fails_the_synth_naming_its_key(context: dict[str, Any], named: str) -> None:
    from infra.app import build_app

    with pytest.raises(DeploySettingsError, match=named):
        build_app({"Bad": TOPOLOGY}, context={**cdk_context(), **context})


def test_readme_lists_every_stack_setting() -> None:
    from infra.settings import STACK_KEYS
    from infra.topology import ROOT

    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploy to AWS") : readme.index("## LocalStack")]
    for key in STACK_KEYS - {"oncall:allowMissingDepsLayer"}:
        assert f"`{key}`" in section, f"README's Deploy to AWS does not list {key}"
