"""Outgoing webhooks end to end at handler level: the real API handler, the real notifier handler fed real SQS events
by the runner's queue poller from moto's SQS (delays, visibility and redrive are moto's), and real HTTP receivers on
127.0.0.1 that verify signatures with the ``standardwebhooks`` reference library.

The retry schedule is scaled to seconds (``ONCALL_WEBHOOK_RETRY_SCHEDULE``); nothing sleeps longer than those waits.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from infra.local.queues import QueuePoller
from infra.local.resources import create_queues, dead_letter_queue_name, queue_arn, queue_url
from infra.topology import TOPOLOGY
from oncall.domain.users import Role
from tests.support.identity import Session, login_as
from tests.support.invoker import InProcessInvoker
from tests.support.lambdas import call_api
from tests.support.receivers import WebhookReceiver

BASE_ENV = {
    "ONCALL_WEBHOOK_ALLOWLIST": "127.0.0.1/32",
    "ONCALL_WEBHOOK_RETRY_SCHEDULE": "1,1,1",
    "ONCALL_WEBHOOK_TIMEOUT_SECONDS": "3",
    "ONCALL_WEBHOOK_LEASE_SECONDS": "2",
}


class Hooks:
    """The emulated account plus a queue poller driving the notifier, and an admin session."""

    def __init__(self, admin: Session) -> None:
        self.admin = admin
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.invoker = InProcessInvoker(TOPOLOGY)
        self.poller = QueuePoller(
            queue=TOPOLOGY.queue("notifier"),
            queue_url=queue_url("notifier"),
            queue_arn=queue_arn("notifier"),
            region="us-east-1",
            invoker=self.invoker,
            sqs=lambda: self.sqs,
            retry_seconds=1,
        )

    def api(self, method: str, path: str, body: Any = None, session: Session | None = None) -> Any:
        kwargs: dict[str, Any] = {"headers": (session or self.admin).headers}
        if body is not None:
            kwargs["body"] = json.dumps(body)
            kwargs["headers"] = {**kwargs["headers"], "content-type": "application/json"}
        return call_api(method, path, **kwargs)

    def subscribe(self, url: str, events: list[str] | None = None) -> dict[str, Any]:
        res = self.api("POST", "/webhooks", {"url": url, "events": events or ["incident.*"]})
        assert res.status == 201, res.json
        return dict(res.json)

    def publish(self, detail_type: str = "incident.triggered", **detail: Any) -> str:
        """What the notifier-fanout rule puts on the queue: the EventBridge envelope as the message body."""
        event_id = str(uuid.uuid4())
        envelope = {
            "version": "0",
            "id": event_id,
            "detail-type": detail_type,
            "source": "oncall",
            "account": "123456789012",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [],
            "detail": {"id": detail.pop("id", "inc-" + event_id[:8]), "version": 1, **detail},
        }
        self.sqs.send_message(QueueUrl=queue_url("notifier"), MessageBody=json.dumps(envelope))
        return event_id

    def drain(self, until: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if until():
                return
            if not self.poller.poll_once():
                time.sleep(0.1)
        raise AssertionError(f"not reached within {timeout}s")

    def deliveries(self, webhook_id: str, status: str | None = None) -> list[dict[str, Any]]:
        res = self.api("GET", f"/webhooks/{webhook_id}/deliveries" + (f"?status={status}" if status else ""))
        assert res.status == 200, res.json
        return list(res.json["items"])


@pytest.fixture
def hooks(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    from oncall import wiring

    for key, value in BASE_ENV.items():
        monkeypatch.setenv(key, value)
    create_queues(boto3.client("sqs", region_name="us-east-1"), TOPOLOGY)
    wiring.reset()
    h = Hooks(login_as(Role.ADMIN))
    with h.invoker:
        yield h
    wiring.reset()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


# -- the subscription API ------------------------------------------------------------------------------------------


def test_create_shows_a_whsec_secret_once_and_lists_without_it(hooks: Hooks, receiver: WebhookReceiver) -> None:
    import base64

    created = hooks.subscribe(receiver.url, ["incident.triggered", "shift.*"])
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"][6:])) >= 24
    assert created["events"] == ["incident.triggered", "shift.*"] and created["enabled"] is True
    listed = hooks.api("GET", "/webhooks").json["items"]
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]
    got = hooks.api("GET", f"/webhooks/{created['id']}").json
    assert got["secret"] is None


def test_only_admins_manage_webhooks(hooks: Hooks, receiver: WebhookReceiver) -> None:
    for role in (Role.RESPONDER, Role.VIEWER):
        session = login_as(role)
        assert hooks.api("POST", "/webhooks", {"url": receiver.url, "events": ["*"]}, session).status == 403
        assert hooks.api("GET", "/webhooks", session=session).status == 403


def test_bad_input_is_a_422_naming_the_field(hooks: Hooks, receiver: WebhookReceiver) -> None:
    res = hooks.api("POST", "/webhooks", {"url": receiver.url, "events": ["incident.new"]})
    assert res.status == 422
    assert res.json["error"]["details"]["fields"][0]["field"] == "events[0]"
    res = hooks.api("POST", "/webhooks", {"url": "ftp://example.com/x", "events": ["*"]})
    assert res.status == 422 and res.json["error"]["details"]["fields"][0]["field"] == "url"


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://192.168.0.10:8080/",
    ],
)
def test_internal_addresses_are_refused_at_subscription(hooks: Hooks, url: str) -> None:
    res = hooks.api("POST", "/webhooks", {"url": url, "events": ["*"]})
    assert res.status == 422, res.json
    assert res.json["error"]["details"]["fields"][0]["field"] == "url"
    assert "refused" in res.json["error"]["message"]


def test_localhost_is_refused_without_the_allowlist(
    hooks: Hooks, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring

    monkeypatch.delenv("ONCALL_WEBHOOK_ALLOWLIST")
    wiring.reset()
    res = hooks.api("POST", "/webhooks", {"url": f"http://localhost:{receiver.port}/hooks", "events": ["*"]})
    assert res.status == 422
    assert "loopback" in res.json["error"]["message"]
    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWLIST", "localhost")
    wiring.reset()
    assert hooks.api("POST", "/webhooks", {"url": f"http://localhost:{receiver.port}/h", "events": ["*"]}).status == 201


def test_delete_then_gone(hooks: Hooks, receiver: WebhookReceiver) -> None:
    wid = hooks.subscribe(receiver.url)["id"]
    assert hooks.api("DELETE", f"/webhooks/{wid}").status == 204
    assert hooks.api("GET", f"/webhooks/{wid}").status == 404
    assert hooks.api("DELETE", f"/webhooks/{wid}").status == 404


# -- delivery ------------------------------------------------------------------------------------------------------


def test_a_delivery_is_signed_per_the_spec_and_verified_by_the_reference_library(
    hooks: Hooks, receiver: WebhookReceiver
) -> None:
    created = hooks.subscribe(receiver.url, ["incident.triggered"])
    receiver.secrets = [created["secret"]]
    hooks.publish("incident.triggered", title="db down")
    hooks.publish("shift.created")  # not subscribed: nothing for this receiver
    hooks.drain(lambda: len(receiver.processed) == 1 and hooks.poller.processed >= 3)
    (request,) = receiver.requests
    assert request.status == 200
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["webhook-id"].startswith("msg_")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    body = request.json()
    assert body["type"] == "incident.triggered" and body["data"]["title"] == "db down"
    (delivery,) = hooks.deliveries(created["id"])
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 1
    assert delivery["id"] == request.headers["webhook-id"]


def test_a_team_filtered_subscription_receives_only_its_teams_events(hooks: Hooks, receiver: WebhookReceiver) -> None:
    res = hooks.api("POST", "/webhooks", {"url": receiver.url, "events": ["incident.*", "shift.*"], "teams": ["pay"]})
    assert res.status == 201 and res.json["teams"] == ["pay"]
    receiver.secrets = [res.json["secret"]]
    hooks.publish("incident.triggered", title="cards fail", team_id="pay")
    hooks.publish("incident.triggered", title="search slow", team_id="search")
    hooks.publish("shift.created", team_id="pay")
    hooks.publish("incident.triggered", title="no team")
    hooks.drain(lambda: len(receiver.processed) == 2 and hooks.poller.processed >= 4)
    assert sorted((r.json()["type"], r.json()["data"].get("team_id")) for r in receiver.requests) == [
        ("incident.triggered", "pay"),
        ("shift.created", "pay"),
    ]


def test_failing_three_times_then_succeeding_is_processed_once(hooks: Hooks) -> None:
    with WebhookReceiver(fail_first=3) as flaky:
        created = hooks.subscribe(flaky.url)
        flaky.secrets = [created["secret"]]
        hooks.publish("incident.acknowledged")
        hooks.drain(lambda: len(flaky.processed) == 1, timeout=30)
        assert [r.status for r in flaky.requests] == [500, 500, 500, 200]
        assert len({r.headers["webhook-id"] for r in flaky.requests}) == 1
        # each retry waited for the schedule (1 s), not less
        gaps = [b.at - a.at for a, b in zip(flaky.requests, flaky.requests[1:], strict=False)]
        assert min(gaps) >= 0.9
        (delivery,) = hooks.deliveries(created["id"])
        assert delivery["status"] == "succeeded" and delivery["attempts"] == 4
        assert [a["status"] for a in delivery["last_attempts"]] == [500, 500, 500, 200]


def test_a_receiver_down_past_the_horizon_is_dead_lettered_and_redelivery_works(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring

    monkeypatch.setenv("ONCALL_WEBHOOK_RETRY_SCHEDULE", "1,1")
    wiring.reset()
    with WebhookReceiver(always=503) as down:
        created = hooks.subscribe(down.url)
        down.secrets = [created["secret"]]
        hooks.publish("incident.resolved")
        hooks.drain(lambda: bool(hooks.deliveries(created["id"], "dead")), timeout=30)
        assert [r.status for r in down.requests] == [503, 503, 503]
        (dead,) = hooks.deliveries(created["id"], "dead")
        assert dead["attempts"] == 3
        # the receiver comes back; the admin redelivers the dead letter with the same webhook-id
        down.always = None
        res = hooks.api("POST", f"/webhooks/{created['id']}/deliveries/{dead['id']}/redeliver")
        assert res.status == 202 and res.json["status"] == "pending"
        hooks.drain(lambda: len(down.processed) == 1)
        assert down.requests[-1].headers["webhook-id"] == dead["id"]
        (done,) = hooks.deliveries(created["id"])
        assert done["status"] == "succeeded"
        # a pending or unknown delivery cannot be redelivered
        assert hooks.api("POST", f"/webhooks/{created['id']}/deliveries/msg_nope/redeliver").status == 404


def test_persistent_failure_disables_the_subscription_with_an_event(
    hooks: Hooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oncall import wiring

    monkeypatch.setenv("ONCALL_WEBHOOK_RETRY_SCHEDULE", "")
    monkeypatch.setenv("ONCALL_WEBHOOK_DISABLE_AFTER", "2")
    wiring.reset()
    with WebhookReceiver(always=500) as down:
        created = hooks.subscribe(down.url)
        hooks.publish("incident.triggered")
        hooks.publish("incident.triggered")
        hooks.drain(lambda: len(hooks.deliveries(created["id"], "dead")) == 2)
        sub = hooks.api("GET", f"/webhooks/{created['id']}").json
        assert sub["enabled"] is False and "dead-lettered" in sub["disabled_reason"]
        outbox = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=aws_table("outbox"))["Items"]
        disabled = [i for i in outbox if i["detail_type"]["S"] == "webhook.disabled"]
        assert len(disabled) == 1 and json.loads(disabled[0]["detail"]["S"])["id"] == created["id"]
        # a disabled subscription receives nothing more
        before, handled = len(down.requests), hooks.poller.processed
        hooks.publish("incident.triggered")
        hooks.drain(lambda: hooks.poller.processed > handled)
        assert len(down.requests) == before


def aws_table(name: str) -> str:
    return os.environ[f"ONCALL_TABLE_{name.upper()}"]


def test_redirects_are_never_followed(hooks: Hooks) -> None:
    with WebhookReceiver() as inner, WebhookReceiver(redirect_to=f"http://127.0.0.1:{0}/") as bouncer:
        bouncer.redirect_to = inner.url
        created = hooks.subscribe(bouncer.url)
        hooks.publish("incident.triggered")
        hooks.drain(lambda: len(bouncer.requests) >= 1 and hooks.poller.processed >= 1)
        assert inner.requests == []
        (delivery,) = hooks.deliveries(created["id"])
        assert "redirect not followed" in delivery["last_attempts"][0]["detail"]
        assert delivery["status"] == "pending"  # a 3xx is a failed attempt, retried by the schedule


def test_the_guard_is_applied_again_at_delivery(
    hooks: Hooks, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URL accepted earlier (allow-listed then, or a name that now resolves inside) is refused when sending."""
    from oncall import wiring

    created = hooks.subscribe(receiver.url)
    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWLIST", "")
    monkeypatch.setenv("ONCALL_WEBHOOK_RETRY_SCHEDULE", "")
    wiring.reset()
    hooks.publish("incident.triggered")
    hooks.drain(lambda: bool(hooks.deliveries(created["id"], "dead")))
    assert receiver.requests == []
    (dead,) = hooks.deliveries(created["id"], "dead")
    assert "refused" in dead["last_attempts"][0]["detail"] and "loopback" in dead["last_attempts"][0]["detail"]


def test_a_target_refused_by_policy_is_dead_lettered_at_once_not_retried(
    hooks: Hooks, receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry schedule (27 h by default) cannot make a loopback address public: the first refusal is final."""
    from oncall import wiring

    created = hooks.subscribe(receiver.url)
    monkeypatch.setenv("ONCALL_WEBHOOK_ALLOWLIST", "")
    monkeypatch.delenv("ONCALL_WEBHOOK_RETRY_SCHEDULE", raising=False)
    wiring.reset()
    hooks.publish("incident.triggered")
    hooks.drain(lambda: bool(hooks.deliveries(created["id"], "dead")))
    (dead,) = hooks.deliveries(created["id"], "dead")
    assert dead["attempts"] == 1 and receiver.requests == []
    assert hooks.deliveries(created["id"], "pending") == []


def test_a_name_that_does_not_resolve_is_retried() -> None:
    """DNS may come back; only a refusal by policy is final."""
    from oncall.adapters import ssrf
    from oncall.adapters.webhooks import HttpSender

    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    sender = HttpSender(ssrf.Allowlist.parse(""), resolve=nowhere)
    unresolved = sender.send("https://hooks.example.com/x", {}, b"{}", 1.0)
    assert unresolved.status is None and not unresolved.final
    refused = HttpSender(ssrf.Allowlist.parse("")).send("http://127.0.0.1:9/x", {}, b"{}", 1.0)
    assert refused.status is None and refused.final and "loopback" in refused.detail


def test_rotation_signs_with_both_secrets_during_the_overlap(hooks: Hooks) -> None:
    with WebhookReceiver() as old_only, WebhookReceiver() as new_only:
        created = hooks.subscribe(old_only.url)
        rotated = hooks.api("POST", f"/webhooks/{created['id']}/rotate-secret")
        assert rotated.status == 200
        new_secret = rotated.json["secret"]
        assert new_secret != created["secret"] and rotated.json["previous_secret_valid_until"]
        other = hooks.subscribe(new_only.url)
        old_only.secrets = [created["secret"]]
        hooks.publish("incident.triggered")
        hooks.drain(lambda: len(old_only.processed) == 1 and len(new_only.requests) == 1)
        assert len(old_only.requests[0].headers["webhook-signature"].split(" ")) == 2
        # the rotated subscription's deliveries also verify with the new secret alone
        from standardwebhooks.webhooks import Webhook

        request = old_only.requests[0]
        Webhook(new_secret).verify(request.body, request.headers)
        Webhook(created["secret"]).verify(request.body, request.headers)
        # an unrotated subscription sends exactly one signature
        assert len(new_only.requests[0].headers["webhook-signature"].split(" ")) == 1
        assert other["secret"] != new_secret


# -- nothing lost ----------------------------------------------------------------------------------------------------


class FlakyJobs:
    """The real SQS job queue, failing its 3rd send the way SQS does when throttled (fault injection, once)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sends = 0

    def send(self, job: Any, delay_seconds: int) -> None:
        self.sends += 1
        if self.sends == 3:
            raise RuntimeError("injected: SendMessage throttled")
        self.inner.send(job, delay_seconds)


class CrashingSender:
    """The real HTTP sender, raising once in the middle of the batch after the attempt was claimed (a crash)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0

    def send(self, url: str, headers: Any, body: bytes, timeout: float) -> Any:
        self.calls += 1
        if self.calls == 4:
            raise RuntimeError("injected: crash mid-attempt")
        return self.inner.send(url, headers, body, timeout)


def test_a_failure_mid_batch_loses_nothing_and_duplicates_nothing(hooks: Hooks, receiver: WebhookReceiver) -> None:
    from oncall import wiring

    created = hooks.subscribe(receiver.url)
    receiver.secrets = [created["secret"]]
    jobs = FlakyJobs(wiring.webhooks.job_queue())
    sender = CrashingSender(wiring.webhooks.webhook_sender())
    wiring.override(webhook_jobs=jobs, webhook_sender=sender)
    ids = [hooks.publish("incident.triggered", title=f"n{i}") for i in range(8)]
    hooks.drain(lambda: len(receiver.processed) == 8, timeout=30)
    assert hooks.poller.failed >= 2  # the failed fan-out and the crashed attempt came back
    titles = sorted(body["data"]["title"] for body in receiver.processed.values())
    assert titles == sorted(f"n{i}" for i in range(8))
    assert receiver.duplicates == 0
    assert len(ids) == 8
    statuses = [d["status"] for d in hooks.deliveries(created["id"])]
    assert statuses == ["succeeded"] * 8


def test_a_poison_message_does_not_block_the_batch(hooks: Hooks, receiver: WebhookReceiver) -> None:
    hooks.subscribe(receiver.url)
    hooks.sqs.send_message(QueueUrl=queue_url("notifier"), MessageBody="not json")
    for i in range(3):
        hooks.publish("incident.triggered", title=f"p{i}")
    hooks.drain(lambda: len(receiver.processed) == 3)
    assert hooks.poller.failed >= 1
    # after max_receive_count receives SQS's redrive policy parks it in the dead-letter queue (alarmed in AWS)
    dlq = hooks.sqs.get_queue_url(QueueName=dead_letter_queue_name("notifier"))["QueueUrl"]

    def parked() -> list[dict[str, Any]]:
        return list(hooks.sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0).get("Messages", []))

    hooks.drain(lambda: bool(parked()), timeout=30)
    assert [m["Body"] for m in parked()] == ["not json"]
    assert hooks.poller.failed == TOPOLOGY.queue("notifier").max_receive_count
