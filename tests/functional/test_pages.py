"""Pages worth reading, end to end: an Alertmanager alert through the real API handler opens an incident on a service
with a runbook; the real lifecycle pages a Telegram user (the fake Bot API on 127.0.0.1, HTML parse mode checked as
Telegram checks it) and an email-only user (the emulator's SES, the runner's mail outbox). Both pages carry the
service, severity, urgency, alert count, the alert's labels, the incident link and the runbook link; the next level's
page describes the alert that joined since; a button press leaves the headline and the outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from infra.local.config import DEFAULT_MAIL_SENDER
from infra.local.mail import MailOutbox
from oncall.domain.users import Role
from tests.support.alerts import alertmanager_body, pd_body
from tests.support.fake_telegram import html_error
from tests.support.identity import Session, login_as, make_user
from tests.support.incidents import make_policy, ok
from tests.support.lambdas import call_api
from tests.support.lifecycle import Stack, lifecycle_stack, wait_until
from tests.support.telegram import callback_update, linked_user, post_update

PUBLIC_URL = "https://oncall.example.com"
ALERT_RUNBOOK = "https://runbooks.example.com/high-error-rate"
SERVICE_RUNBOOK = "https://wiki.example.com/checkout"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {"ONCALL_PUBLIC_URL": PUBLIC_URL, "ONCALL_EMAIL_SENDER": DEFAULT_MAIL_SENDER}
    with lifecycle_stack(env) as s:
        yield s


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Session:
    return login_as(Role.ADMIN)


class Seen(HTMLParser):
    """What a reader sees of an HTML text: its words and its links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = ""
        self.hrefs: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v or "" for k, v in attrs if k == "href"]

    def handle_data(self, data: str) -> None:
        self.text += data


def with_email(admin: Session, address: str) -> Any:
    from oncall import wiring

    user = make_user()
    return wiring.core.user_service().update(admin.user, user.id, {"email": address})


def both(user_ids: list[str], timeout: int) -> dict[str, Any]:
    return {"targets": [{"type": "user", "id": uid} for uid in user_ids], "timeout_seconds": timeout}


def pages_to(stack: Stack, chat: int, incident_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in stack.telegram.sent(chat)
        if any(
            b.get("callback_data") == f"inc:ack:{incident_id}"
            for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
            for b in row
        )
    ]


def mails_to(address: str, incident_id: str) -> list[dict[str, Any]]:
    return [
        m
        for m in MailOutbox().messages()
        if address in m["to"] and m["headers"].get("X-OnCall-Incident") == incident_id
    ]


def alert(labels: dict[str, str], fingerprint: str) -> dict[str, Any]:
    body = alertmanager_body("firing")
    body["alerts"] = [body["alerts"][0]]
    body["alerts"][0]["labels"] = labels
    body["alerts"][0]["fingerprint"] = fingerprint
    return body


def post_alert(key: str, body: dict[str, Any]) -> dict[str, Any]:
    got = call_api(
        "POST",
        "/integrations/alertmanager",
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
        body=json.dumps(body),
    )
    return ok(got)  # type: ignore[no-any-return]


def test_an_alert_page_on_telegram_and_by_mail_says_what_and_where(stack: Stack, admin: Session) -> None:
    paged, chat = linked_user()
    mailed = with_email(admin, "ops@example.org")
    policy = make_policy(admin.headers, [both([paged.id, mailed.id], 3), both([paged.id, mailed.id], 60)])
    service = ok(
        call_api(
            "POST",
            "/services",
            headers=admin.headers,
            body={"name": "checkout", "escalation_policy_id": policy["id"], "runbook_url": SERVICE_RUNBOOK},
        ),
        201,
    )
    assert service["runbook_url"] == SERVICE_RUNBOOK
    labels = {
        "alertname": "HighErrorRate",
        "instance": "web-1",
        "job": "api",
        "namespace": "prod",
        "team": "payments & <ops>",
        "severity": "critical",
    }
    created = post_alert(service["integration_key"], alert(labels, "fp-web-1"))
    incident_id = created["results"][0]["incident_id"]
    incident_url = f"{PUBLIC_URL}/console/incidents/{incident_id}"

    # Telegram: HTML parse mode, every fact, the labels escaped (the fake Bot API refuses what Telegram refuses)
    wait_until(lambda: pages_to(stack, chat, incident_id), what="the Telegram page")
    sent = pages_to(stack, chat, incident_id)[0]
    assert sent["parse_mode"] == "HTML" and html_error(sent["text"]) is None
    seen = Seen(sent["text"])
    for want in (
        "🔴 [CRITICAL] 5xx ratio above 5% on web-1",
        "Service: checkout",
        "Severity: critical",
        "Urgency: high",
        "Alerts: 1",
        "alertname: HighErrorRate",
        "instance: web-1",
        "job: api",
        "namespace: prod",
        "team: payments & <ops>",
        f"Incident {incident_id}",
    ):
        assert want in seen.text, (want, sent["text"])
    assert "payments &amp; &lt;ops&gt;" in sent["text"]
    assert incident_url in seen.hrefs and ALERT_RUNBOOK in seen.hrefs
    assert "http://prometheus.example.com/graph?g0.expr=rate" in seen.hrefs

    # mail: the same content, text and HTML
    wait_until(lambda: mails_to("ops@example.org", incident_id), what="the mailed page")
    mail = mails_to("ops@example.org", incident_id)[0]
    assert mail["subject"] == "[PAGE] [CRITICAL] 5xx ratio above 5% on web-1"
    assert mail["text"].splitlines()[0] == "🔴 [CRITICAL] 5xx ratio above 5% on web-1"
    for want in (
        "Service: checkout",
        "Severity: critical · Urgency: high · Alerts: 1",
        "alertname: HighErrorRate",
        "team: payments & <ops>",
        f"Incident: {incident_url}",
        f"Runbook: {ALERT_RUNBOOK}",
    ):
        assert want in mail["text"], (want, mail["text"])
    html_seen = Seen(mail["html"])
    for want in ("checkout", "critical", "high", "HighErrorRate", "web-1", "payments & <ops>", incident_id):
        assert want in html_seen.text, want
    assert incident_url in html_seen.hrefs and ALERT_RUNBOOK in html_seen.hrefs
    assert "<ops>" not in mail["html"]

    # another alert joins before level 1 times out: level 2's page describes it, and counts both
    joined = post_alert(service["integration_key"], alert({**labels, "instance": "web-2"}, "fp-web-2"))
    assert (joined["results"][0]["result"], joined["results"][0]["incident_id"]) == ("attached", incident_id)
    wait_until(lambda: len(pages_to(stack, chat, incident_id)) == 2, what="the level 2 page")
    level2 = Seen(pages_to(stack, chat, incident_id)[1]["text"])
    assert "Alerts: 2" in level2.text and "instance: web-2" in level2.text and "Escalation level: 2" in level2.text

    # pressing Acknowledge leaves the headline and the outcome (plain text: no parse mode needed for a title)
    key = max(k for k, m in stack.telegram.messages.items() if k[0] == str(chat) and incident_id in m["text"])
    assert post_update(callback_update(chat, f"inc:ack:{incident_id}", stack.telegram.messages[key])).status == 200
    edited = stack.telegram.messages[key]["text"]
    assert edited.split("\n")[0] == "🔴 [CRITICAL] 5xx ratio above 5% on web-1"
    assert f"Acknowledged by {paged.display_name} at" in edited
    assert "parse_mode" not in stack.telegram.of("editMessageText")[-1].params


def test_without_an_alert_runbook_the_service_runbook_is_linked(stack: Stack, admin: Session) -> None:
    paged, chat = linked_user()
    policy = make_policy(admin.headers, [both([paged.id], 60)], name="pd")
    service = ok(
        call_api(
            "POST",
            "/services",
            headers=admin.headers,
            body={"name": "payments", "escalation_policy_id": policy["id"], "runbook_url": SERVICE_RUNBOOK},
        ),
        201,
    )
    body = pd_body("trigger", service["integration_key"], dedup_key="pd-pages-1")
    body["payload"]["custom_details"] = {"ratio": 0.071, "region": "eu-west-1"}
    got = call_api("POST", "/v2/enqueue", headers={"content-type": "application/json"}, body=json.dumps(body))
    assert got.status == 202, got.raw
    # PagerDuty's answer names the dedup key, not the incident
    (incident,) = _incidents_of(service["id"])
    incident_id = incident.id
    wait_until(lambda: pages_to(stack, chat, incident_id), what="the page")
    seen = Seen(pages_to(stack, chat, incident_id)[0]["text"])
    assert SERVICE_RUNBOOK in seen.hrefs and "https://grafana.example.com/d/abc" in seen.hrefs
    assert "source: api-gw-1" in seen.text and "ratio: 0.071" in seen.text and "region: eu-west-1" in seen.text
    assert "Severity: high" in seen.text and "Urgency: high" in seen.text and "Service: payments" in seen.text


def _incidents_of(service_id: str) -> list[Any]:
    from oncall import wiring
    from oncall.services.incident_ports import IncidentFilter

    found, _ = wiring.incidents.incident_store().paginate(IncidentFilter(service_id=service_id), 10, None)
    return found


def test_a_service_runbook_url_is_validated_read_changed_and_removed(stack: Stack, admin: Session) -> None:
    policy = make_policy(admin.headers, [both([admin.user.id], 60)], name="rb")
    create = {"name": "search", "escalation_policy_id": policy["id"]}
    for bad in ("javascript:alert(1)", "/runbooks/search", "runbooks.example.com/search", "https://a b.example.com"):
        got = call_api("POST", "/services", headers=admin.headers, body={**create, "runbook_url": bad})
        assert got.status == 422, (bad, got.raw)
        assert got.json["error"]["details"]["fields"][0]["field"] == "runbook_url", got.raw
    service = ok(call_api("POST", "/services", headers=admin.headers, body=create), 201)
    assert service["runbook_url"] is None
    path = f"/services/{service['id']}"
    changed = ok(call_api("PATCH", path, headers=admin.headers, body={"runbook_url": "https://wiki.example.com/s"}))
    assert changed["runbook_url"] == "https://wiki.example.com/s"
    assert ok(call_api("GET", path, headers=admin.headers))["runbook_url"] == "https://wiki.example.com/s"
    refused = call_api("PATCH", path, headers=admin.headers, body={"runbook_url": "ftp://wiki.example.com/s"})
    assert refused.status == 422
    assert ok(call_api("PATCH", path, headers=admin.headers, body={"runbook_url": None}))["runbook_url"] is None
    listed = ok(call_api("GET", "/services?limit=100", headers=admin.headers))["items"]
    assert {"runbook_url": None}.items() <= next(s for s in listed if s["id"] == service["id"]).items()
    schema = ok(call_api("GET", "/openapi.json"))["components"]["schemas"]
    assert "runbook_url" in schema["ServiceIn"]["properties"] and "runbook_url" in schema["ServiceOut"]["properties"]
