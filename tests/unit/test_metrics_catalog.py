"""The metrics catalog against what uses it: README lists every metric with its dimensions or labels; what the
product emits is declared (an undeclared name or a dimension set other than the declared one is refused); the
Prometheus exposition of an empty product still has every family, so dashboards and alert rules find them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from oncall.domain.metrics import EMF, PROMETHEUS
from oncall.domain.prometheus import exposition

ROOT = Path(__file__).resolve().parents[2]


def _readme_rows() -> dict[str, str]:
    rows = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        m = re.match(r"^\| `([a-zA-Z_]+)` \|", line)
        if m:
            rows[m.group(1)] = line
    return rows


def test_readme_lists_every_metric_with_its_dimensions() -> None:
    rows = _readme_rows()
    for metric in EMF:
        assert metric.name in rows, metric.name
        for dimension in metric.dimensions:
            assert f"`{dimension}`" in rows[metric.name], (metric.name, dimension)
    for prom in PROMETHEUS:
        assert prom.name in rows, prom.name
        for label in prom.labels:
            assert f"`{label}`" in rows[prom.name], (prom.name, label)


def test_only_declared_metrics_with_their_dimensions_are_emitted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import observability

    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "oncall-notifier")  # as every function is deployed

    observability.count("PagesSent", properties={"incident_id": "i-1"}, channel="telegram")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["channel"] == "telegram" and line["PagesSent"] == [1.0] and line["incident_id"] == "i-1"
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["channel", "service"]]
    assert line["service"] == "oncall-notifier"
    with pytest.raises(KeyError):
        observability.count("SomethingElse")
    with pytest.raises(ValueError, match="dimensions"):
        observability.count("PagesSent", channel="telegram", incident_id="i-1")
    observability.count("PagesSent", 0, channel="telegram")  # nothing happened: nothing emitted
    assert capsys.readouterr().out == ""


def test_an_empty_product_exposes_every_family() -> None:
    families = {f.name for f in text_string_to_metric_families(exposition([], [], [], {}))}
    assert families == {m.name.removesuffix("_total") for m in PROMETHEUS}


@pytest.mark.parametrize(
    ("level", "emitted"), [("all", {"PagesSent", "ColdStart"}), ("business", {"PagesSent"}), ("off", set())]
)
def test_the_emf_level_chooses_what_is_emitted(
    level: str, emitted: set[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import observability
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_METRICS_EMF", level)
    get_settings.cache_clear()
    try:
        observability.count("PagesSent", channel="email")
        observability.count("ColdStart", properties={"function": "oncall-api"})
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    finally:
        monkeypatch.delenv("ONCALL_METRICS_EMF")
        get_settings.cache_clear()
    assert {m["Name"] for line in lines for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]} == emitted
    for line in lines:  # the technical ones are one metric for the whole stack, the function a property
        if "ColdStart" in line:
            assert line["service"] == "oncall" and line["function"] == "oncall-api"
