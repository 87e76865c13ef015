"""The HTTP API's stage is created after every route it configures: AWS resolves a stage's RouteSettings against the
routes that exist at that moment, and CloudFormation orders only what a resource references or depends on."""

from __future__ import annotations

from typing import Any

import pytest

from infra.topology import Topology
from tests.infra.template import resources

pytestmark = pytest.mark.infra


def test_every_stage_depends_on_every_route_it_configures(stack: tuple[dict[str, Any], Topology, str]) -> None:
    template, _, _ = stack
    routes = resources(template, "AWS::ApiGatewayV2::Route")
    stages = resources(template, "AWS::ApiGatewayV2::Stage")
    assert stages
    configured_somewhere = False
    for stage_id, stage in stages.items():
        settings = stage["Properties"].get("RouteSettings", {})
        depends_on = set(stage.get("DependsOn", []))
        api = stage["Properties"]["ApiId"]
        for key in settings:
            configured_somewhere = True
            matching = [
                rid
                for rid, r in routes.items()
                if r["Properties"]["RouteKey"] == key and r["Properties"]["ApiId"] == api
            ]
            assert len(matching) == 1, f"{stage_id} configures {key!r}, which {len(matching)} routes of its API declare"
            assert matching[0] in depends_on, f"{stage_id} configures {key!r} but does not depend on {matching[0]}"
    assert configured_somewhere, "no stage configures a route: the check would pass vacuously"
