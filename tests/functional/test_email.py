"""Email through the one notification service: SES v2 raw MIME recorded by moto's SES (headers intact), an SMTP
server when configured (a real aiosmtpd on 127.0.0.1), Telegram → email fallback on 403, and the notifier's
resolution notices reaching people by mail."""

from __future__ import annotations

import email
import email.policy
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from infra.local.queues import QueuePoller
from infra.local.resources import create_queues, create_secrets, queue_arn, queue_url
from infra.topology import TOPOLOGY
from oncall.domain.notifications import Button, Kind, Message
from oncall.domain.users import Role
from tests.support.identity import make_user
from tests.support.invoker import InProcessInvoker
from tests.support.receivers import SmtpCapture
from tests.support.telegram import linked_user, telegram_env

SENDER = "OnCall Hub <oncall@mail.example.com>"
NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def ses_sent() -> list[email.message.EmailMessage]:
    """What moto's SES backend recorded (SES v2 raw sends land there), parsed back from the raw bytes."""
    from moto.ses.models import ses_backends

    out = []
    for account in ses_backends.values():
        for backend in account.values():
            for sent in backend.sent_messages:
                raw = getattr(sent, "raw_data", None)
                assert raw is not None, "sent as simple content: headers would be lost"
                out.append(email.message_from_string(raw, policy=email.policy.default))
    return out  # type: ignore[return-value]


@pytest.fixture
def mail(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from oncall import wiring

    monkeypatch.setenv("ONCALL_EMAIL_SENDER", SENDER)
    monkeypatch.setenv("ONCALL_EMAIL_UNSUBSCRIBE_URL", "https://oncall.example.com/me/notifications")
    monkeypatch.delenv("ONCALL_SMTP_HOST", raising=False)
    # no bot in these tests unless one asks for the fake Bot API (telegram_env): mail is the only channel
    monkeypatch.delenv("ONCALL_SECRET_TELEGRAM_BOT_TOKEN", raising=False)
    boto3.client("sesv2", region_name="us-east-1").create_email_identity(EmailIdentity="mail.example.com")
    wiring.reset()
    yield
    wiring.reset()


def with_email(user: Any, address: str) -> Any:
    from oncall import wiring

    admin = make_user(Role.ADMIN)
    return wiring.core.user_service().update(admin, user.id, {"email": address})


def parts(msg: email.message.EmailMessage) -> dict[str, str]:
    return {p.get_content_type(): p.get_content() for p in msg.walk() if not p.is_multipart()}


def test_a_page_by_ses_is_raw_mime_with_text_html_and_no_unsubscribe(mail: None) -> None:
    from oncall import wiring

    person = with_email(make_user(), "ada@example.org")
    message = Message(
        Kind.PAGE,
        f"page:{uuid.uuid4().hex}",
        "Database down <primary>\nservice db, severity critical",
        buttons=((Button("Acknowledge", "inc:ack:1"),),),
        incident_id="inc-1",
    )
    delivery = wiring.notifications.notification_service().notify(person.id, message, NOW)
    assert (delivery.status, delivery.channel) == ("sent", "email")
    assert delivery.ref and delivery.ref.startswith("mail:")
    (sent,) = ses_sent()
    assert sent["From"] == SENDER and sent["To"] == "ada@example.org"
    assert sent["Subject"] == "[PAGE] Database down <primary>"
    assert sent["X-OnCall-Kind"] == "page" and sent["X-OnCall-Incident"] == "inc-1"
    assert sent["Message-ID"].strip("<>") == delivery.ref.removeprefix("mail:")
    assert sent["List-Unsubscribe"] is None
    body = parts(sent)
    assert "service db, severity critical" in body["text/plain"]
    assert "Database down &lt;primary&gt;" in body["text/html"]  # escaped, never injected


def test_a_reminder_carries_list_unsubscribe_one_click(mail: None) -> None:
    from oncall import wiring

    person = with_email(make_user(), "bob@example.org")
    message = Message(Kind.REMINDER, f"rem:{uuid.uuid4().hex}", "Your shift starts in 2 hours\nSchedule: primary")
    assert wiring.notifications.notification_service().notify(person.id, message, NOW).status == "sent"
    (sent,) = ses_sent()
    assert sent["Subject"] == "[Reminder] Your shift starts in 2 hours"
    assert sent["List-Unsubscribe"] == (
        "<https://oncall.example.com/me/notifications>, <mailto:oncall@mail.example.com?subject=unsubscribe%20reminder>"
    )
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert set(parts(sent)) == {"text/plain", "text/html"}


def test_the_same_key_is_mailed_once(mail: None) -> None:
    from oncall import wiring

    person = with_email(make_user(), "cy@example.org")
    message = Message(Kind.INFO, f"info:{uuid.uuid4().hex}", "hello")
    service = wiring.notifications.notification_service()
    assert service.notify(person.id, message, NOW).status == "sent"
    assert service.notify(person.id, message, NOW).status == "duplicate"
    assert len(ses_sent()) == 1


def test_telegram_403_falls_back_to_email_and_flags_the_chat(mail: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncall import wiring

    with telegram_env(monkeypatch) as fake:
        user, chat = linked_user()
        with_email(user, "dee@example.org")
        fake.block(chat)
        message = Message(Kind.PAGE, f"page:{uuid.uuid4().hex}", "Disk full", incident_id="inc-2")
        delivery = wiring.notifications.notification_service().notify(user.id, message, NOW)
        assert (delivery.status, delivery.channel) == ("sent", "email")
        (sent,) = ses_sent()
        assert sent["To"] == "dee@example.org" and sent["Subject"] == "[PAGE] Disk full"
        # flagged: the next page goes straight to mail, without asking Telegram again
        before = len(fake.of("sendMessage"))
        again = Message(Kind.PAGE, f"page:{uuid.uuid4().hex}", "Disk still full", incident_id="inc-2")
        assert wiring.notifications.notification_service().notify(user.id, again, NOW).channel == "email"
        assert len(fake.of("sendMessage")) == before


def test_smtp_when_configured(mail: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncall import wiring

    with SmtpCapture() as smtp:
        monkeypatch.setenv("ONCALL_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("ONCALL_SMTP_PORT", str(smtp.port))
        wiring.reset()
        person = with_email(make_user(), "eve@example.org")
        message = Message(Kind.RESOLUTION, f"res:{uuid.uuid4().hex}", "Resolved: API errors", incident_id="inc-3")
        assert wiring.notifications.notification_service().notify(person.id, message, NOW).status == "sent"
        (got,) = smtp.messages
        assert smtp.envelopes == [("oncall@mail.example.com", ["eve@example.org"])]
        assert got["Subject"] == "[Resolved] Resolved: API errors"
        assert got["List-Unsubscribe"] is not None
        assert set(parts(got)) == {"text/plain", "text/html"}
        assert ses_sent() == []


def test_an_smtp_server_that_is_down_is_a_failed_delivery_to_retry(mail: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from oncall import wiring

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("ONCALL_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ONCALL_SMTP_PORT", str(closed_port))
    wiring.reset()
    person = with_email(make_user(), "fay@example.org")
    message = Message(Kind.INFO, f"info:{uuid.uuid4().hex}", "hello")
    assert wiring.notifications.notification_service().notify(person.id, message, NOW).status == "failed"
    # failed keys may be tried again (the queue redelivers the event)
    assert wiring.notifications.notification_service().notify(person.id, message, NOW).status == "failed"


def test_the_notifier_mails_a_resolution_to_whoever_acknowledged(mail: None) -> None:
    acker = with_email(make_user(), "gus@example.org")
    resolver = with_email(make_user(), "hal@example.org")
    sqs = boto3.client("sqs", region_name="us-east-1")
    create_queues(sqs, TOPOLOGY)
    # the notifier is configured as deployed (a bot token secret); neither person has a chat, so mail is the channel
    create_secrets(boto3.client("ssm", region_name="us-east-1"), TOPOLOGY)
    envelope = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "incident.resolved",
        "source": "oncall",
        "account": "123456789012",
        "time": NOW.isoformat(),
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "id": "inc-9",
            "title": "Checkout latency",
            "acknowledged_by": acker.id,
            "resolved_by": resolver.id,
            "assignee_id": None,
            "version": 4,
        },
    }
    for _ in range(2):  # EventBridge delivers at least once: a duplicate must not mail twice
        sqs.send_message(QueueUrl=queue_url("notifier"), MessageBody=json.dumps(envelope))
    with InProcessInvoker(TOPOLOGY) as invoker:
        poller = QueuePoller(
            queue=TOPOLOGY.queue("notifier"),
            queue_url=queue_url("notifier"),
            queue_arn=queue_arn("notifier"),
            region="us-east-1",
            invoker=invoker,
            sqs=lambda: sqs,
        )
        while poller.poll_once():
            pass
    sent = ses_sent()
    assert [m["To"] for m in sent] == ["gus@example.org"]
    assert sent[0]["Subject"] == "[Resolved] Resolved: Checkout latency"
    assert poller.failed == 0 and poller.processed == 2


def test_my_rules_choose_the_channel_per_kind(mail: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncall import wiring
    from tests.support.identity import PASSWORD
    from tests.support.lambdas import call_api

    with telegram_env(monkeypatch) as fake:
        user, chat = linked_user()
        with_email(user, "ivy@example.org")
        pair = wiring.core.auth_service().login(user.username, PASSWORD, "127.0.0.1")
        auth = {"authorization": f"Bearer {pair.access_token}", "content-type": "application/json"}
        assert call_api("GET", "/me/notification-rules", headers=auth).json["rules"] == {}
        res = call_api(
            "PUT",
            "/me/notification-rules",
            headers=auth,
            body=json.dumps({"rules": {"reminder": ["email"], "resolution": []}}),
        )
        assert res.status == 200, res.json
        assert res.json["rules"] == {"reminder": ["email"], "resolution": []}
        bad = call_api("PUT", "/me/notification-rules", headers=auth, body=json.dumps({"rules": {"page": []}}))
        assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "rules.page"

        service = wiring.notifications.notification_service()
        reminder = Message(Kind.REMINDER, f"rem:{uuid.uuid4().hex}", "Shift in 10 minutes")
        assert service.notify(user.id, reminder, NOW).channel == "email"
        resolution = Message(Kind.RESOLUTION, f"res:{uuid.uuid4().hex}", "Resolved: x", incident_id="inc-7")
        assert service.notify(user.id, resolution, NOW).status == "no_channel"
        page = Message(Kind.PAGE, f"page:{uuid.uuid4().hex}", "Wake up", incident_id="inc-7")
        assert service.notify(user.id, page, NOW).channel == "telegram"
        assert [m["text"] for m in fake.sent(chat)][-1:] == ["Wake up"]
        assert [m["Subject"] for m in ses_sent()] == ["[Reminder] Shift in 10 minutes"]
