"""What a page says (``oncall.domain.page_content``): the alert summary each source yields, the bounds, escaping of
hostile text in every rendering, links only when http(s), Telegram's 4,096 limit, and the JSON round trip.

Long because one hostile sample goes through every part of the package here (summary, model, three renderers and the
mail around them), and what each part promises is only visible side by side.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncall.adapters.alert_sources import alertmanager, cloudwatch, custom, grafana, pagerduty
from oncall.adapters.email import render
from oncall.domain.notifications import Button, Kind, Message
from oncall.domain.page_content import (
    DETAILS_MAX,
    KEY_MAX,
    TELEGRAM_MAX,
    VALUE_MAX,
    AlertSummary,
    PageContent,
    compose,
    email_html,
    headline,
    incident_link,
    plain_text,
    safe_url,
    summarise_alert,
    telegram_html,
    urgency_of,
)
from tests.support.fake_telegram import html_error

EVENTS = Path(__file__).resolve().parent.parent / "events"
KEY = "a" * 32
HOSTILE = '<script>alert("x")</script> & <b>bold</b> &amp; "quoted"'


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def page(**changes: Any) -> PageContent:
    values: dict[str, Any] = {
        "title": "Checkout returns 502",
        "incident_id": "01jabc",
        "severity": "critical",
        "status": "triggered",
        "alert_count": 3,
        "service_name": "checkout",
        "alert": AlertSummary(
            details=(("alertname", "HighErrorRate"), ("instance", "web-1")),
            runbook_url="https://runbooks.example.com/5xx",
            source_url="http://prometheus.example.com/graph?g0.expr=rate",
        ),
        "public_url": "https://oncall.example.com/",
    }
    values.update(changes)
    return compose(**values)


class _Text(HTMLParser):
    """The visible text and the links of an HTML rendering, the way a mail client or Telegram reads it."""

    def __init__(self, html_text: str) -> None:
        super().__init__()
        self.text = ""
        self.hrefs: list[str] = []
        self.tags: list[str] = []
        self.feed(html_text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k == "href"]

    def handle_data(self, data: str) -> None:
        self.text += data


# -- what a page shows ---------------------------------------------------------------------------------------------
def test_the_plain_text_starts_with_the_headline_and_says_everything() -> None:
    text = plain_text(page())
    lines = text.split("\n")
    assert lines[0] == "🔴 [CRITICAL] Checkout returns 502"
    for want in (
        "Incident 01jabc · status triggered",
        "Service: checkout",
        "Severity: critical · Urgency: high · Alerts: 3",
        "alertname: HighErrorRate",
        "instance: web-1",
        "Incident: https://oncall.example.com/console/incidents/01jabc",
        "Runbook: https://runbooks.example.com/5xx",
        "Source: http://prometheus.example.com/graph?g0.expr=rate",
    ):
        assert want in lines, want


def test_telegram_and_email_show_the_same_content() -> None:
    content = page(escalation_level=2)
    for rendered in (telegram_html(content), email_html(content)):
        seen = _Text(rendered)
        for want in ("[CRITICAL] Checkout returns 502", "01jabc", "checkout", "critical", "high", "HighErrorRate"):
            assert want in seen.text, (want, rendered)
        assert "https://runbooks.example.com/5xx" in seen.hrefs
        assert "https://oncall.example.com/console/incidents/01jabc" in seen.hrefs
        assert "http://prometheus.example.com/graph?g0.expr=rate" in seen.hrefs
        assert "Escalation level" in seen.text
    assert html_error(telegram_html(content)) is None
    assert set(_Text(telegram_html(content)).tags) <= {"b", "a", "code"}


def test_urgency_follows_severity_unless_the_alert_states_one() -> None:
    assert [urgency_of(s) for s in ("critical", "high", "medium", "low")] == ["high", "high", "low", "low"]
    assert urgency_of("critical", "low") == "low" and urgency_of("low", "high") == "high"
    assert urgency_of("low", "urgent") == "low"  # not an urgency: derived
    assert page(severity="medium").urgency == "low"
    assert page(alert=AlertSummary(urgency="LOW")).urgency == "low"
    assert headline("medium", "Disk filling").startswith("🟠 [MEDIUM] ")


def test_the_exhausted_notice_replaces_the_level() -> None:
    content = page(escalation_level=3, exhausted=True)
    text = plain_text(content)
    assert "Nobody acknowledged after every escalation level; please look." in text
    assert "Escalation level" not in text
    assert "Nobody acknowledged" in _Text(telegram_html(content)).text


def test_the_alert_runbook_wins_over_the_service_runbook() -> None:
    assert (
        page(service_runbook_url="https://wiki.example.com/checkout").runbook_url == "https://runbooks.example.com/5xx"
    )
    assert page(alert=None, service_runbook_url="https://wiki.example.com/checkout").runbook_url == (
        "https://wiki.example.com/checkout"
    )
    assert page(alert=None).runbook_url is None


def test_no_public_url_no_incident_link() -> None:
    content = page(public_url=None)
    assert content.incident_url is None
    assert "Incident: " not in plain_text(content)
    assert "/incidents/" not in telegram_html(content) and "<code>01jabc</code>" in telegram_html(content)
    assert incident_link("ftp://oncall.example.com", "x") is None
    assert (
        incident_link("https://oncall.example.com/base/", "a/b")
        == "https://oncall.example.com/base/console/incidents/a%2Fb"
    )


# -- hostile input -------------------------------------------------------------------------------------------------
def test_hostile_text_is_escaped_everywhere_it_is_html() -> None:
    content = page(
        title=HOSTILE,
        service_name=HOSTILE,
        alert=AlertSummary(details=((HOSTILE, HOSTILE), ("job", "a&b<c>"))),
    )
    for rendered in (telegram_html(content), email_html(content), render(_message(content)).html):
        assert "<script>" not in rendered and "<b>bold</b>" not in rendered
        assert "&lt;script&gt;" in rendered and "&amp;amp;" in rendered and "a&amp;b&lt;c&gt;" in rendered
        seen = _Text(rendered)
        assert HOSTILE[:40] in seen.text  # shown as the text it is, never interpreted
    assert html_error(telegram_html(content)) is None
    # plain text is not HTML: it carries the characters as they are
    assert plain_text(content).startswith("🔴 [CRITICAL] <script>")


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<b>x</b>",
        "/incidents/relative",
        "https://",
        "http//missing-colon",
        'https://example.com/"onmouseover="x',  # a quote cannot leave the href: it is escaped, and kept only if valid
        "https://example.com/a b",
        "https://example.com/\nnext",
        "https://example.com/" + "x" * 2000,
        "",
        None,
        42,
    ],
)
def test_links_are_kept_only_when_absolute_http_s(url: Any) -> None:
    kept = safe_url(url)
    summary = AlertSummary(runbook_url=url, source_url=url)
    if kept is None:
        assert summary.runbook_url is None and summary.source_url is None
        content = page(alert=summary)
        assert "Runbook" not in plain_text(content) and "Source" not in plain_text(content)
    else:
        assert kept.startswith(("http://", "https://"))
        rendered = telegram_html(page(alert=summary))
        assert 'onmouseover="' not in rendered and html_error(rendered) is None


def test_uppercase_scheme_and_query_strings_survive() -> None:
    url = "HTTPS://grafana.example.com/d/x?from=now-1h&to=now"
    assert safe_url(url) == url
    rendered = telegram_html(page(alert=AlertSummary(source_url=url)))
    assert 'href="HTTPS://grafana.example.com/d/x?from=now-1h&amp;to=now"' in rendered
    assert _Text(rendered).hrefs[-1] == url


# -- bounds --------------------------------------------------------------------------------------------------------
def test_details_are_bounded_in_number_and_length() -> None:
    pairs = [(f"label_{i}_" + "k" * 60, "v" * 500) for i in range(30)]
    summary = AlertSummary(details=tuple(pairs))
    assert len(summary.details) == DETAILS_MAX
    assert all(len(k) <= KEY_MAX and len(v) <= VALUE_MAX for k, v in summary.details)
    assert all(v.endswith("…") for _, v in summary.details)
    multiline = AlertSummary(details=(("msg", "line one\nline two\r\n\tthree\x00"), ("", "no key"), ("none", None)))
    assert multiline.details == (("msg", "line one line two three"),)


def test_a_worst_case_page_fits_telegram() -> None:
    """Every field at its bound and every character one that escaping multiplies (``"`` → ``&quot;``)."""
    quotes = '"' * 2000
    long_url = "https://example.com/?" + "&" * 1000
    content = compose(
        title=quotes,
        incident_id="0" * 26,
        severity="critical",
        status="triggered",
        service_name=quotes,
        alert=AlertSummary(
            details=tuple((f"{i}" + '"' * 50, quotes) for i in range(DETAILS_MAX)),
            runbook_url=long_url,
            source_url=long_url,
        ),
        public_url="https://oncall.example.com",
    )
    rendered = telegram_html(content)
    assert len(rendered.encode("utf-16-le")) // 2 <= TELEGRAM_MAX
    assert html_error(rendered) is None
    assert rendered.startswith("<b>🔴 [CRITICAL] &quot;")
    text = plain_text(content)
    assert len(text) <= TELEGRAM_MAX and text.split("\n")[0].startswith("🔴 [CRITICAL] ")
    # what had to go went from the bottom: the headline and the facts are all there
    assert "Severity:" in text and "Urgency:" in _Text(rendered).text


@given(
    title=st.text(max_size=400),
    service=st.text(max_size=200),
    pairs=st.lists(st.tuples(st.text(max_size=80), st.text(max_size=300)), max_size=12),
)
def test_any_text_renders_valid_bounded_telegram_html(title: str, service: str, pairs: list[tuple[str, str]]) -> None:
    content = page(title=title, service_name=service, alert=AlertSummary(details=tuple(pairs)))
    rendered = telegram_html(content)
    assert html_error(rendered) is None, rendered
    assert len(rendered.encode("utf-16-le")) // 2 <= TELEGRAM_MAX
    assert "\n" not in plain_text(content).split("\n", 1)[0] and plain_text(content).startswith(("🔴 ", "🟠 "))


# -- serialisation -------------------------------------------------------------------------------------------------
def test_page_content_survives_json() -> None:
    content = page(escalation_level=2, exhausted=True)
    again = PageContent.from_dict(json.loads(json.dumps(content.to_dict())))
    assert again == content and telegram_html(again) == telegram_html(content)
    summary = AlertSummary(details=(("a", "1"),), runbook_url="https://r.example.com", urgency="high")
    assert AlertSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary
    assert AlertSummary.from_dict(None) is None and AlertSummary.from_dict({"details": "nope"}) == AlertSummary()


def test_from_dict_bounds_what_it_is_given() -> None:
    raw = page().to_dict() | {"runbook_url": "javascript:x", "details": [["k", "v" * 999]] * 3, "extra": 1}
    content = PageContent.from_dict(raw)
    assert content.runbook_url is None and content.details == (("k", "v" * (VALUE_MAX - 1) + "…"),)


# -- each source's summary -----------------------------------------------------------------------------------------
def test_alertmanager_labels_first_and_the_runbook_annotation() -> None:
    (alert, _) = alertmanager.to_alerts(sample("alertmanager-0.25-firing.json")["body"], "svc")
    got = summarise_alert(alert.source.value, alert.details)
    assert got.details == (("alertname", "HighErrorRate"), ("instance", "web-1"), ("service", "checkout"))
    assert got.runbook_url == "https://runbooks.example.com/high-error-rate"
    assert got.source_url == "http://prometheus.example.com/graph?g0.expr=rate"


def test_alertmanager_priority_description_urgency_and_unsafe_runbook() -> None:
    body = sample("alertmanager-0.25-firing.json")["body"]
    body["alerts"] = [body["alerts"][0]]
    body["alerts"][0]["labels"] = {
        "zone": "b",
        "team": "payments",
        "job": "api",
        "namespace": "prod",
        "alertname": "HighErrorRate",
        "severity": "critical",
        "urgency": "low",
        "__name__": "up",
    }
    body["alerts"][0]["annotations"] = {"description": "too many 5xx", "runbook_url": "javascript:alert(1)"}
    (alert,) = alertmanager.to_alerts(body, "svc")
    got = summarise_alert("alertmanager", alert.details)
    assert [k for k, _ in got.details] == ["alertname", "job", "namespace", "description", "team", "zone"]
    assert got.runbook_url is None and got.urgency == "low"


def test_grafana_links_to_its_panel_and_takes_its_runbook_annotation() -> None:
    body = sample("grafana-unified-alerting-firing.json")["body"]
    body["alerts"][0]["annotations"]["runbook_url"] = "https://runbooks.example.com/latency"
    (alert,) = grafana.to_alerts(body, "svc")
    got = summarise_alert(alert.source.value, alert.details)
    assert got.details[:2] == (("alertname", "High latency"), ("grafana_folder", "checkout"))
    assert got.source_url == "https://grafana.example.com/d/checkout?viewPanel=2"
    assert got.runbook_url == "https://runbooks.example.com/latency"


def test_pagerduty_custom_details_links_and_runbook() -> None:
    body = {**sample("pagerduty-client-7.2-trigger.json")["body"], "routing_key": KEY}
    body["payload"] = {
        **body["payload"],
        "component": "payments-api",
        "custom_details": {"ratio": 0.071, "region": "eu-west-1", "nested": {"a": [1, 2]}, "urgency": "low"},
    }
    body["links"] = [
        {"href": "https://runbooks.example.com/payments", "text": "Runbook"},
        {"href": "https://grafana.example.com/d/abc", "text": "Dashboard"},
    ]
    alert = pagerduty.to_alert(body, "svc")
    got = summarise_alert(alert.source.value, alert.details)
    assert got.details == (
        ("source", "api-gw-1"),
        ("component", "payments-api"),
        ("ratio", "0.071"),
        ("region", "eu-west-1"),
        ("nested", '{"a":[1,2]}'),
    )
    assert got.runbook_url == "https://runbooks.example.com/payments"
    assert got.source_url == "https://grafana.example.com/d/abc" and got.urgency == "low"
    body["payload"]["custom_details"] = {"runbook": "https://wiki.example.com/pay"}
    body["client_url"] = "https://monitor.example.com/check/1"
    got = summarise_alert("pagerduty-events", pagerduty.to_alert(body, "svc").details)
    assert got.runbook_url == "https://wiki.example.com/pay" and got.source_url == "https://monitor.example.com/check/1"


def test_pagerduty_custom_details_are_bounded_on_the_alert() -> None:
    body = {**sample("pagerduty-client-7.2-trigger.json")["body"], "routing_key": KEY}
    body["payload"]["custom_details"] = {f"k{i}": "x" * 5000 for i in range(80)}
    kept = pagerduty.to_alert(body, "svc").details["custom_details"]
    assert len(kept) == 50 and all(len(v) == 1024 for v in kept.values())


def test_cloudwatch_alarm_name_and_region() -> None:
    alert = cloudwatch.to_alert(sample("cloudwatch-alarm-state-change-alarm.json"), "svc")
    assert alert is not None
    got = summarise_alert(alert.source.value, alert.details)
    assert [k for k, _ in got.details][:2] == ["alarm", "region"]
    assert dict(got.details)["region"] == sample("cloudwatch-alarm-state-change-alarm.json")["region"]


def test_custom_event_details_and_runbook() -> None:
    event = sample("oncall-alerts-custom-event.json")
    event["detail"] = {
        **event["detail"],
        "details": {"host": "db-1", "runbook_url": "https://runbooks.example.com/disk", "urgency": "high"},
    }
    alert = custom.to_alert(event, "svc")
    got = summarise_alert(alert.source.value, alert.details)
    assert got.details == (("host", "db-1"),)
    assert got.runbook_url == "https://runbooks.example.com/disk" and got.urgency == "high"


# -- the mail of a page --------------------------------------------------------------------------------------------
def _message(content: PageContent) -> Message:
    return Message(
        Kind.PAGE,
        "page:1",
        plain_text(content),
        buttons=((Button("Acknowledge", "inc:ack:01jabc"),),),
        incident_id="01jabc",
        content=content,
    )


def test_mail_of_a_page_renders_its_content() -> None:
    content = page()
    rendered = render(_message(content))
    assert rendered.subject == "[PAGE] [CRITICAL] Checkout returns 502"
    assert rendered.text.startswith(plain_text(content))
    assert "Act on it in Telegram or through the API: Acknowledge" in rendered.text
    assert email_html(content) in rendered.html
    assert "Runbook: https://runbooks.example.com/5xx" in rendered.text


def test_the_outcome_of_a_page_keeps_its_headline() -> None:
    from datetime import UTC, datetime

    from oncall.services.incident_pages import outcome_text

    at = datetime(2026, 3, 2, 12, 3, tzinfo=UTC)
    text = outcome_text(HOSTILE, "01jabc", "resolved", "Alice", at, severity="high")
    assert (
        text.split("\n")[0]
        == headline("high", HOSTILE)
        == plain_text(page(title=HOSTILE, severity="high")).split("\n")[0]
    )
    assert text.endswith("☑️ Resolved by Alice at 12:03 UTC") and "Incident 01jabc" in text
