"""Both dashboards chart exactly the metrics the catalog (``oncall.domain.metrics``) declares: the Grafana one
(``infra/dashboards/oncall-hub.json``, from ``GET /metrics``) and the CloudWatch one in the stack (from EMF).

The PromQL checks read the committed JSON itself, not the generator, so a hand edit is held to the catalog too."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from infra.dashboards import build
from infra.topology import TOPOLOGY, Topology
from oncall.domain.incidents import Severity
from oncall.domain.metrics import EMF, PROMETHEUS, STACK_WIDE, PromMetric
from tests.infra.conftest import FIXTURE, PRODUCT, Synthesized
from tests.infra.template import function_ids, props, render, resources

pytestmark = pytest.mark.infra

Stack = tuple[dict[str, Any], Topology, str]

PROM = {m.name: m for m in PROMETHEUS}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
#: the PromQL the dashboard may use besides metric and label names
PROMQL_WORDS = {
    "sum",
    "count",
    "rate",
    "increase",
    "histogram_quantile",
    "vector",
    "or",
    "and",
    "unless",
}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^}]*)\}")
MATCHER = re.compile(r'^\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"[^"]*"\s*$')
RANGE = re.compile(r"\[([^\]]*)\]")
DURATION = re.compile(r"^(\d+[smhdwy]|\$\w+)$")


@pytest.fixture(scope="module")
def grafana() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(build.OUTPUT.read_text())
    return loaded


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def _panel_expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dashboard) for t in p.get("targets", [])]


def _variable_queries(dashboard: dict[str, Any]) -> list[str]:
    return [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]


def _series(name: str) -> tuple[PromMetric, str] | None:
    """The catalog metric a series name belongs to, and the suffix (a histogram's ``_bucket``, ...)."""
    if name in PROM and PROM[name].kind != "histogram":
        return PROM[name], ""
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if name.endswith(suffix) and base in PROM and PROM[base].kind == "histogram":
            return PROM[base], suffix
    return None


def check_promql(expr: str) -> set[str]:
    """Assert ``expr`` names only catalog series and labels they have; return the catalog metrics it reads."""
    read: dict[str, set[str]] = {}  # catalog metric → the labels its series carry (``le`` on buckets)
    rest, values_of = expr, None
    variable = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", expr)
    if variable:  # a template variable's query: the series, then the label whose values it lists
        rest, values_of = variable.group(1), variable.group(2)
    for match in SELECTOR.finditer(expr):
        name, matchers = match.group(1), match.group(2)
        assert name, f"a selector without a metric name in {expr!r}"
        found = _series(name)
        assert found, f"{name} is not a catalog series ({expr!r})"
        metric, suffix = found
        labels = set(metric.labels) | ({"le"} if suffix == "_bucket" else set())
        for matcher in filter(str.strip, matchers.split(",")):
            parsed = MATCHER.match(matcher)
            assert parsed, f"unparsed matcher {matcher!r} in {expr!r}"
            assert parsed.group(1) in labels, f"{name} has no label {parsed.group(1)} ({expr!r})"
    rest = SELECTOR.sub(lambda m: f" {m.group(1)} ", rest)
    for window in RANGE.findall(rest):
        assert DURATION.match(window.strip()), f"range [{window}] in {expr!r}"
    rest = RANGE.sub(" ", rest)
    groupings = GROUPING.findall(rest)
    rest = GROUPING.sub(" ", rest)
    rest = re.sub(r'"[^"]*"', " ", rest)
    for word in re.findall(r"[A-Za-z_:][\w:]*", rest):
        if word in PROMQL_WORDS:
            continue
        found = _series(word)
        assert found, f"{word} is neither PromQL nor a catalog series ({expr!r})"
        metric, suffix = found
        read.setdefault(metric.name, set()).update(metric.labels, {"le"} if suffix == "_bucket" else set())
    known = set().union(*read.values()) if read else set()
    for _, labels in groupings:
        for label in filter(None, (s.strip() for s in labels.split(","))):
            assert label in known, f"grouping label {label} belongs to no series of {expr!r}"
    if values_of is not None:
        assert values_of in known, f"{expr!r}: the series has no label {values_of}"
    return set(read)


def test_the_committed_grafana_dashboard_is_what_the_builder_writes() -> None:
    assert build.OUTPUT.read_text() == build.render(), "run python -m infra.dashboards.build"


def test_grafana_dashboard_asks_for_its_prometheus_datasource_on_import(grafana: dict[str, Any]) -> None:
    assert grafana["schemaVersion"] >= 36
    assert grafana["uid"] and grafana["title"]
    (ds_input,) = grafana["__inputs"]
    assert ds_input == {**ds_input, "name": "DS_PROMETHEUS", "type": "datasource", "pluginId": "prometheus"}
    expected = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    for panel in _panels(grafana):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]
    for variable in grafana["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == expected, variable["name"]
    required = {r["id"] for r in grafana["__requires"] if r["type"] == "panel"}
    assert {p["type"] for p in _panels(grafana)} - {"row"} <= required


def test_grafana_panels_have_unique_ids_and_fit_the_grid(grafana: dict[str, Any]) -> None:
    panels = list(_panels(grafana))
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        covered = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not covered & cells, f"{panel['title']} overlaps another panel"
        cells |= covered


def test_grafana_filters_by_team_and_service_from_the_service_info_series(grafana: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in grafana["templating"]["list"]}
    for name in ("team_id", "service_id"):
        assert variables[name]["type"] == "query"
        assert variables[name]["definition"].startswith("label_values(oncall_service_info")
        assert variables[name]["definition"].endswith(f", {name})")
        assert variables[name]["query"]["query"] == variables[name]["definition"]
    for expr in _panel_expressions(grafana):
        for name in check_promql(expr):
            # a panel of team/service cells must honour both pickers, or it silently shows everyone's
            if set(PROM[name].labels) >= {"team_id", "service_id"} and PROM[name].kind != "info":
                assert "$team_id" in expr and "$service_id" in expr, expr


def test_every_grafana_expression_names_catalog_series_and_their_labels(grafana: dict[str, Any]) -> None:
    expressions = _panel_expressions(grafana) + _variable_queries(grafana)
    assert expressions
    for expr in expressions:
        check_promql(expr)


def test_every_catalog_series_is_charted_in_grafana(grafana: dict[str, Any]) -> None:
    charted = set().union(*(check_promql(e) for e in _panel_expressions(grafana)))
    wanted = {m.name for m in PROMETHEUS if m.kind != "info"}
    assert wanted <= charted, wanted - charted
    # each histogram both as percentiles (its buckets) and as a mean (its sum over its count)
    exprs = " ".join(_panel_expressions(grafana))
    for metric in PROMETHEUS:
        if metric.kind == "histogram":
            for suffix in HISTOGRAM_SUFFIXES:
                assert f"{metric.name}{suffix}" in exprs
            assert f"histogram_quantile(0.5, sum by (le) (rate({metric.name}_bucket" in exprs
            assert f"histogram_quantile(0.9, sum by (le) (rate({metric.name}_bucket" in exprs


def test_grafana_names_schedules_through_their_info_series(grafana: dict[str, Any]) -> None:
    exprs = _panel_expressions(grafana)
    assert any("oncall_on_call_people * on(schedule_id) group_left(name) oncall_schedule_info" in e for e in exprs), (
        exprs
    )


@pytest.mark.parametrize(
    "bad",
    [
        'oncall_incidents_opened{team_id=~"x"}',  # not a catalog series
        'oncall_incidents_opened_total{schedule_id="x"}',  # a label the series does not have
        "label_values(oncall_service_info, severity)",  # a variable over a label the series does not have
        "sum(team_id)",  # a label where a series belongs
        "sum by (le) (rate(oncall_time_to_resolve_seconds[5m]))",  # a histogram without its suffix
        "sum by (le) (rate(oncall_incidents_opened_total[5m]))",  # le on something that is not a bucket
        "oncall_on_call_people * on(service_id) group_left(name) oncall_schedule_info",  # no such join label
    ],
)
def test_the_promql_check_catches_what_it_is_for(bad: str) -> None:
    with pytest.raises(AssertionError):
        check_promql(bad)


# ----- CloudWatch -----------------------------------------------------------------------------------------------

SEARCH = re.compile(r"SEARCH\('\{([^}]*)\} MetricName=\"(\w+)\" service=\"([^\"]+)\"', '(\w+)', (\d+)\)")


def _dashboard_body(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (lid,) = resources(template, "AWS::CloudWatch::Dashboard")
    # the body is a Fn::Join of JSON text and references (region, function names); a reference renders as the
    # logical id it points at, inside the JSON string it stands for, so the text parses
    body: dict[str, Any] = json.loads(render(props(template, lid)["DashboardBody"]))
    return lid, body


def _charted(body: dict[str, Any]) -> tuple[list[tuple[str, str, dict[str, str], dict[str, Any]]], list[str]]:
    """Every metric of every widget: (namespace, name, dimensions, options), and every expression."""
    metrics, expressions = [], []
    for widget in body["widgets"]:
        for entry in widget.get("properties", {}).get("metrics", []):
            options = entry[-1] if isinstance(entry[-1], dict) else {}
            if "expression" in options:
                expressions.append(options["expression"])
                continue
            fields = entry[:-1] if isinstance(entry[-1], dict) else entry
            namespace, name, *pairs = fields
            metrics.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True)), options))
    return metrics, expressions


def test_catalog_metrics_are_emitted_by_declared_functions() -> None:
    declared = {f.name for f in TOPOLOGY.functions}
    for metric in EMF:
        assert metric.emitted_by is None or metric.emitted_by in declared, metric
        assert re.fullmatch(r"[A-Z][A-Za-z]+", metric.name), metric.name


def test_cloudwatch_dashboard_is_named_after_the_stack_and_region(synthesized: Synthesized) -> None:
    template, name = synthesized.templates[FIXTURE], FIXTURE
    lid, _ = _dashboard_body(template)
    assert render(props(template, lid)["DashboardName"]) == f"{name}-AWS::Region"
    assert template["Outputs"]["DashboardName"]["Value"] == {"Ref": lid}


def test_cloudwatch_dashboard_charts_only_catalog_metrics_as_emitted(synthesized: Synthesized) -> None:
    template = synthesized.templates[FIXTURE]
    _, body = _dashboard_body(template)
    metrics, expressions = _charted(body)
    by_name = {m.name: m for m in EMF}
    functions = set(function_ids(template).values())
    for namespace, name, dimensions, _ in metrics:
        if namespace == "AWS/Lambda":
            # Lambda's own, free: errors of this stack's functions, by their deployed names
            assert name == "Errors" and set(dimensions) == {"FunctionName"}, (name, dimensions)
            assert dimensions["FunctionName"] in functions, dimensions
            continue
        assert namespace == "OnCallHub"
        assert name in by_name, name
        assert set(dimensions) == {"service", *by_name[name].dimensions}, (name, dimensions)
        if by_name[name].emitted_by:
            assert dimensions["service"] == f"oncall-{by_name[name].emitted_by}", (name, dimensions)
    for expression in expressions:
        for schema, name, service, _, _ in SEARCH.findall(expression):
            assert name in by_name, name
            namespace, *dims = schema.split(",")
            assert namespace == "OnCallHub"
            assert set(dims) == {"service", *by_name[name].dimensions}, expression
            assert service == f"oncall-{by_name[name].emitted_by}", expression


def test_cloudwatch_dashboard_charts_every_catalog_metric(synthesized: Synthesized) -> None:
    template = synthesized.templates[FIXTURE]
    _, body = _dashboard_body(template)
    metrics, expressions = _charted(body)
    searched = {name for e in expressions for _, name, _, _, _ in SEARCH.findall(e)}
    severities = {s.value for s in Severity}
    for metric in EMF:
        charted = [dims for _, name, dims, _ in metrics if name == metric.name]
        if metric.emitted_by is None:
            # one metric for the whole stack, whichever function emits it
            assert charted == [{"service": STACK_WIDE}], metric.name
        elif metric.dimensions == ("severity",):
            assert {d["severity"] for d in charted} == severities, metric.name
        elif metric.dimensions:
            assert metric.name in searched, metric.name
        else:
            assert charted, metric.name
    lambda_errors = {d["FunctionName"] for ns, name, d, _ in metrics if ns == "AWS/Lambda"}
    assert lambda_errors == set(function_ids(template).values())


def test_cloudwatch_dashboard_draws_response_time_percentiles(synthesized: Synthesized) -> None:
    template = synthesized.templates[FIXTURE]
    _, body = _dashboard_body(template)
    metrics, _ = _charted(body)
    for name in ("TimeToAcknowledge", "TimeToResolve"):
        stats = {options.get("stat") for _, n, _, options in metrics if n == name}
        assert stats == {"p50", "p90"}, (name, stats)


def test_cloudwatch_dashboard_is_there_only_when_asked_for(synthesized: Synthesized) -> None:
    """``oncall:dashboard`` (the fixture stack turns it on; the product stack keeps the default, off)."""
    assert len(resources(synthesized.templates[FIXTURE], "AWS::CloudWatch::Dashboard")) == 1
    assert resources(synthesized.templates[PRODUCT], "AWS::CloudWatch::Dashboard") == {}
    assert "DashboardName" not in synthesized.templates[PRODUCT]["Outputs"]
