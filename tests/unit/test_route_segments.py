"""The API registers a request's routes by the path's first segment (``routes.SEGMENTS``): every route must be
reachable through its segment, and a request must see every route that could match its path (404 vs 405, the auth
precheck), while a cold start loads only what its path needs."""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Any

from tests.support.lambdas import in_a_fresh_api_interpreter


def api() -> Any:
    from infra.local.loader import load_handler

    load_handler("api")
    return sys.modules["oncall_function_api"]


def test_every_route_is_registered_with_its_paths_first_segment() -> None:
    module = api()
    routes = sys.modules["routes"]
    routes.register_all(module.app)
    registered = [*module.app._static_routes, *module.app._dynamic_routes]
    assert len(registered) > 100
    serving: dict[str, set[str]] = {}
    for route in registered:
        serving.setdefault(routes.segment(str(route.path)), set()).add(route.func.__module__.removeprefix("routes."))
    declared = {segment: set(names) for segment, names in routes.SEGMENTS.items()}
    # the document's paths load everything (it describes every route); every other segment loads exactly its own
    assert declared.pop("openapi.json") == declared.pop("docs") == set(routes.MODULES)
    serving.pop("openapi.json"), serving.pop("docs")
    assert declared == serving


PROBE = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = [sys.argv[1], sys.argv[2]]
    import handler
    before = sorted(m for m in sys.modules if m.startswith("routes."))
    def call(method, path):
        event = {
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"host": "localhost"},
            "requestContext": {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
                               "stage": "$default", "requestId": "r", "domainName": "localhost"},
            "isBase64Encoded": False,
        }
        return handler.app.resolve(event, None)["statusCode"]
    answers = {"put_incidents": call("PUT", "/incidents"), "get_incidents": call("GET", "/incidents"),
               "nowhere": call("GET", "/nowhere")}
    after = sorted(m for m in sys.modules if m.startswith("routes."))
    print(json.dumps({"before": before, "after": after, "answers": answers}))
    """
)


def test_a_cold_request_loads_only_its_segments_routes_and_still_answers_404_405_and_401() -> None:
    out = in_a_fresh_api_interpreter(PROBE)
    seen = json.loads(out.strip().splitlines()[-1])
    # the handler needs alert ingestion's prechecks on every request; no other resource is loaded at import
    assert seen["before"] == ["routes.ingest"]
    assert seen["after"] == ["routes.incidents", "routes.ingest"]
    # 405 needs the segment's every route (GET /incidents exists); the GET is refused for want of a token
    assert seen["answers"] == {"put_incidents": 405, "get_incidents": 401, "nowhere": 404}
