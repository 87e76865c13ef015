"""Webhooks and email through the local runner over HTTP, as an operator would see them.

An incident created over HTTP travels outbox → stream → publisher → bus → rule ``notifier-fanout`` → the notifier
SQS queue → the runner's SQS poller → the notifier in its worker → a real receiver on 127.0.0.1 (allow-listed),
which fails three times and then takes the event once; a second receiver that stays down ends in the dead-letter
list and is redelivered. The person who acknowledged gets the resolution by mail through an aiosmtpd server
(``ONCALL_SMTP_HOST``); the page they got by mail (no Telegram chat linked) arrived the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, eventually, ok, start_runner
from tests.support.receivers import SmtpCapture, WebhookReceiver

pytestmark = pytest.mark.e2e

ADMIN = {"username": "hook-admin", "password": "webhook admin passphrase"}


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpCapture]:
    with SmtpCapture() as capture:
        yield capture


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpCapture) -> Iterator[Runner]:
    env = {
        "ONCALL_ADMIN_USERNAME": ADMIN["username"],
        "ONCALL_ADMIN_PASSWORD": ADMIN["password"],
        "ONCALL_WEBHOOK_ALLOWLIST": "127.0.0.1/32",
        "ONCALL_WEBHOOK_RETRY_SCHEDULE": "1,1,1",
        "ONCALL_WEBHOOK_TIMEOUT_SECONDS": "3",
        "ONCALL_SMTP_HOST": "127.0.0.1",
        "ONCALL_SMTP_PORT": str(smtp.port),
        "ONCALL_EMAIL_SENDER": "OnCall Hub <oncall@hub.test>",
    }
    r = start_runner(tmp_path_factory.mktemp("webhooks-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def login(product: Runner, username: str, password: str) -> dict[str, str]:
    token = ok(product.post("/auth/login", {"username": username, "password": password}))["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_incident_events_reach_receivers_signed_retried_dead_lettered_and_mail_arrives(
    product: Runner, smtp: SmtpCapture
) -> None:
    admin = login(product, ADMIN["username"], ADMIN["password"])
    with WebhookReceiver(fail_first=3) as flaky, WebhookReceiver(always=503) as down:
        hook = ok(product.post("/webhooks", {"url": flaky.url, "events": ["incident.*"]}, headers=admin), 201)
        flaky.secrets = [hook["secret"]]  # verified with the standardwebhooks reference library
        dead_hook = ok(
            product.post("/webhooks", {"url": down.url, "events": ["incident.triggered"]}, headers=admin), 201
        )
        # SSRF: the metadata service is refused at the API
        refused = product.post("/webhooks", {"url": "http://169.254.169.254/latest/", "events": ["*"]}, headers=admin)
        assert refused.status_code == 422

        password = "responder passphrase!"
        body = {"username": "rita", "password": password, "role": "responder", "email": "rita@example.org"}
        rita = ok(product.post("/users", body, headers=admin), 201)
        levels = [{"targets": [{"type": "user", "id": rita["id"]}], "timeout_seconds": 60}]
        policy = ok(product.post("/escalation-policies", {"name": "hooks", "levels": levels}, headers=admin), 201)
        service = ok(
            product.post("/services", {"name": "payments", "escalation_policy_id": policy["id"]}, headers=admin), 201
        )
        incident = ok(
            product.post(
                "/incidents",
                {"title": "Payments time out", "service_id": service["id"], "severity": "high"},
                headers=admin,
            ),
            201,
        )

        # the page reaches Rita by mail (she has no Telegram chat): SMTP, through the runner's workers
        eventually(lambda: any("[PAGE]" in str(m["Subject"]) for m in smtp.messages), what="the page by mail")

        # the flaky receiver: 500, 500, 500, then 200 for incident.triggered, processed once
        eventually(lambda: len(flaky.processed) >= 1, what="incident.triggered at the flaky receiver")
        triggered = [r for r in flaky.requests if r.json()["type"] == "incident.triggered"]
        assert [r.status for r in triggered] == [500, 500, 500, 200]
        assert len({r.headers["webhook-id"] for r in triggered}) == 1
        assert triggered[-1].json()["data"]["id"] == incident["id"]

        rita_auth = login(product, "rita", password)
        ok(product.post(f"/incidents/{incident['id']}/acknowledge", headers=rita_auth))
        ok(product.post(f"/incidents/{incident['id']}/resolve", headers=admin))
        eventually(
            lambda: {"incident.acknowledged", "incident.resolved"} <= {b["type"] for b in flaky.processed.values()},
            what="acknowledged and resolved at the receiver",
        )
        assert flaky.duplicates == 0

        # the resolution mail goes to Rita, who acknowledged (the admin resolved), once
        resolved = eventually(
            lambda: [m for m in smtp.messages if str(m["Subject"]).startswith("[Resolved]")], what="resolution mail"
        )
        assert len(resolved) == 1 and resolved[0]["To"] == "rita@example.org"
        assert resolved[0]["From"] == "OnCall Hub <oncall@hub.test>"
        assert resolved[0]["List-Unsubscribe"] is not None

        # the receiver that stays down: 4 attempts (1 + schedule of 3), then the dead-letter list
        dead = eventually(
            lambda: ok(product.get(f"/webhooks/{dead_hook['id']}/deliveries?status=dead", headers=admin))["items"],
            what="a dead letter",
        )
        assert dead[0]["attempts"] == 4 and len(down.requests) == 4
        down.always = None
        redelivered = product.post(f"/webhooks/{dead_hook['id']}/deliveries/{dead[0]['id']}/redeliver", headers=admin)
        assert redelivered.status_code == 202
        eventually(lambda: len(down.processed) == 1, what="the redelivery")
        assert down.requests[-1].headers["webhook-id"] == dead[0]["id"]


def test_without_smtp_mail_lands_in_the_runners_outbox(tmp_path_factory: pytest.TempPathFactory) -> None:
    """No ONCALL_SMTP_HOST: functions send through the emulator's SES v2 (raw MIME), listed at /_local/mail."""
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    runner = start_runner(tmp_path_factory.mktemp("mail-outbox-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        admin = login(runner, ADMIN["username"], ADMIN["password"])
        body = {"username": "sam", "password": "responder passphrase!", "role": "responder", "email": "sam@example.org"}
        sam = ok(runner.post("/users", body, headers=admin), 201)
        levels = [{"targets": [{"type": "user", "id": sam["id"]}], "timeout_seconds": 60}]
        policy = ok(runner.post("/escalation-policies", {"name": "mail", "levels": levels}, headers=admin), 201)
        service = ok(
            runner.post("/services", {"name": "mailer", "escalation_policy_id": policy["id"]}, headers=admin), 201
        )
        ok(
            runner.post(
                "/incidents", {"title": "Queue backlog", "service_id": service["id"], "severity": "low"}, headers=admin
            ),
            201,
        )
        mail = eventually(lambda: ok(runner.get("/_local/mail"))["items"], what="mail in the outbox")
        (page,) = mail
        assert page["to"] == ["sam@example.org"]
        assert page["subject"].startswith("[PAGE] ") and "Queue backlog" in page["subject"]
        assert page["from"] and "oncall@oncall.local" in page["from"]
        assert page["headers"]["X-OnCall-Kind"] == "page"
        assert page["text"] and page["html"]
    finally:
        runner.stop()
