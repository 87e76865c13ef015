"""The local runner driven over HTTP, as a user or a script would: each trigger path and the runner-only endpoints."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from typing import Any

import pytest
import requests

from tests.e2e.launch import STARTUP_BUDGET_S, Runner

pytestmark = pytest.mark.e2e


def _error(resp: requests.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "details"} <= set(body["error"]), body
    return dict(body["error"])


def test_comes_up_fast(runner: Runner) -> None:
    assert runner.startup_s < STARTUP_BUDGET_S
    assert runner.info["pid"] == runner.proc.pid


def test_http_routes_reach_the_api_function(runner: Runner) -> None:
    health = runner.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.headers["apigw-requestid"]
    spec = runner.get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")
    docs = runner.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_unknown_paths_get_the_error_envelope(runner: Runner) -> None:
    # the API is behind auth by default, so an unknown path is 401 or 404, but always in the envelope
    resp = runner.get(f"/no-such-thing-{uuid.uuid4().hex}")
    assert resp.status_code in (401, 404)
    _error(resp)
    local = runner.get("/_local/no-such-endpoint")
    assert local.status_code == 404
    assert _error(local)["code"] == "not_found"


def test_requests_become_http_api_events(runner: Runner) -> None:
    payload = bytes(range(256))
    resp = runner.session.post(
        f"{runner.http}/_fixture/echo/a/b?y=1&y=2&z=",
        data=payload,
        headers={"content-type": "application/octet-stream", "cookie": "c1=v1; c2=v2", "X-Custom": "Value"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    event = resp.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /_fixture/echo/{proxy+}"
    assert event["rawPath"] == "/_fixture/echo/a/b"
    assert event["rawQueryString"] == "y=1&y=2&z="
    assert event["queryStringParameters"] == {"y": "1,2", "z": ""}
    assert event["pathParameters"] == {"proxy": "a/b"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "Value"
    assert event["headers"]["x-forwarded-proto"] == "http"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_responses_carry_cookies_and_binary_bodies(runner: Runner) -> None:
    resp = runner.get("/_fixture/echo/binary")
    assert resp.status_code == 200
    assert resp.content == bytes(range(256))
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.headers["x-fixture"] == "yes"
    assert resp.raw.headers.getlist("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_bodies_beyond_what_lambda_or_api_gateway_accept_are_413(runner: Runner) -> None:
    over_lambda = runner.session.post(f"{runner.http}/_fixture/echo/big", data=b"x" * (7 * 1024 * 1024), timeout=60)
    assert over_lambda.status_code == 413
    assert _error(over_lambda)["code"] == "payload_too_large"
    over_gateway = runner.session.post(f"{runner.http}/_fixture/echo/big", data=b"x" * (11 * 1024 * 1024), timeout=60)
    assert over_gateway.status_code == 413
    # the server closes after it, and says so, so the session does not send its next request into a closed socket
    assert over_gateway.headers["connection"] == "close"
    assert runner.get("/_fixture/echo/after").status_code == 200


def test_a_handler_that_cannot_run_is_a_500_envelope_without_a_trace(runner: Runner) -> None:
    resp = runner.get("/_fixture/crash")
    assert resp.status_code == 500
    err = _error(resp)
    assert err["code"] == "internal_error"
    assert "Traceback" not in resp.text and "not_a_module" not in resp.text
    assert err["details"]["request_id"]
    # the runner's log has the reason instead
    assert "Runtime.ImportModuleError" in runner.log()


def test_race_through_the_http_api_overlaps_across_workers_and_has_one_winner(runner: Runner) -> None:
    key = uuid.uuid4().hex
    claimants = [f"c{i}" for i in range(20)]

    def claim(who: str) -> tuple[int, dict[str, Any]]:
        # A client honours throttling (429 + Retry-After) the way it must against Lambda; on a loaded machine the
        # four workers may not drain twenty queued requests within the function's timeout.
        for _ in range(20):
            resp = requests.post(f"{runner.http}/_fixture/race/{key}", json={"claimant": who}, timeout=60)
            if resp.status_code != 429:
                break
            time.sleep(float(resp.headers.get("Retry-After", "1")))
        return resp.status_code, resp.json()

    with ThreadPoolExecutor(max_workers=20) as ex:
        results = list(ex.map(claim, claimants))
    statuses = sorted(s for s, _ in results)
    assert statuses == [201] + [409] * 19, statuses
    winner = next(body["claimant"] for status, body in results if status == 201)

    spans = [(b["start"], b["end"], b["pid"]) for _, b in results]
    assert len({pid for _, _, pid in spans}) > 1, "all invocations ran in one worker"
    overlaps = [
        (a, b) for i, a in enumerate(spans) for b in spans[i + 1 :] if a[2] != b[2] and a[0] < b[1] and b[0] < a[1]
    ]
    assert overlaps, "no two invocations in different workers overlapped in time"

    # what is stored: exactly one claim, the winner's
    items = runner.client("dynamodb").query(
        TableName="oncall-fixture",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"race#{key}"}},
    )["Items"]
    assert [i["claimant"]["S"] for i in items] == [winner]


def test_clock_control_fires_due_schedules(runner: Runner) -> None:
    before = runner.get("/_local/clock").json()["now"]
    resp = runner.post("/_local/clock", {"advance": "PT10M"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["now"] > before
    ticks = [f for f in body["fired"] if f.startswith("oncall-fixture-tick@")]
    # rate(5 minutes) over ten minutes is due twice
    assert len(ticks) == 2, body
    stored = runner.client("dynamodb").query(
        TableName="oncall-fixture",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "tick"}},
    )["Items"]
    times = {t.split("@", 1)[1] for t in ticks}
    assert times <= {i["sk"]["S"] for i in stored}
    event = json.loads(next(i for i in stored if i["sk"]["S"] in times)["event"]["S"])
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"][0].endswith("rule/oncall-fixture-tick")

    seconds = runner.post("/_local/clock", {"advance": 1}).json()
    assert seconds["advanced_seconds"] == 1


@pytest.mark.parametrize("bad", ["ten minutes", "-PT1M", -5, "", None, True, "PT"])
def test_clock_rejects_what_is_not_a_forward_duration(runner: Runner, bad: Any) -> None:
    resp = runner.post("/_local/clock", {"advance": bad})
    assert resp.status_code == 422
    assert _error(resp)["details"]["field"] == "advance"


def test_telegram_sandbox_round_trip(runner: Runner) -> None:
    chat = 4242
    sent = runner.post("/_local/telegram/send", {"chat_id": chat, "text": "/help"})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    message = body["update"]["message"]
    assert message["chat"] == {"id": chat, "type": "private", "first_name": "Local"}
    assert message["entities"] == [{"offset": 0, "length": 5, "type": "bot_command"}]
    assert body["webhook_status"] == 200
    replies = body["replies"]
    assert replies and replies[0]["method"] == "sendMessage" and replies[0]["chat_id"] == chat
    outbox = runner.get("/_local/telegram/outbox", params={"chat_id": chat}).json()["items"]
    assert [r["seq"] for r in replies] == [r["seq"] for r in outbox[-len(replies) :]]
    assert "telegram sendMessage → chat 4242" in runner.log()
    later = runner.get("/_local/telegram/outbox", params={"chat_id": chat, "after": replies[-1]["seq"]}).json()
    assert later["items"] == []
    assert runner.get("/_local/telegram/outbox", params={"after": "x"}).status_code == 422

    # the stand-in bot offers an Ack button; pressing it answers the query and edits the message
    pressed = runner.post("/_local/telegram/send", {"chat_id": chat, "callback_data": "ack"}).json()
    assert pressed["update"]["callback_query"]["message"]["message_id"] == replies[0]["message_id"]
    methods = [r["method"] for r in pressed["replies"]]
    assert methods == ["answerCallbackQuery", "editMessageText"]
    assert pressed["replies"][1]["text"].endswith("✓ ack by 4242")
    missing = runner.post("/_local/telegram/send", {"chat_id": chat, "callback_data": "nope"})
    assert missing.status_code == 404


def test_telegram_send_validates_its_input(runner: Runner) -> None:
    assert runner.post("/_local/telegram/send", {"text": "hi"}).status_code == 422
    both = runner.post("/_local/telegram/send", {"chat_id": 1, "text": "hi", "callback_data": "x"})
    assert both.status_code == 422
    assert _error(both)["details"]["field"] == "text"


def test_bot_api_sandbox_speaks_the_bot_api(runner: Runner) -> None:
    env = {"token": "1000000001:local-sandbox-token"}
    base = f"{runner.http}/_local/telegram/bot{env['token']}"
    me = requests.get(f"{base}/getMe", timeout=10).json()
    assert me["ok"] and me["result"]["is_bot"]
    assert requests.get(f"{runner.http}/_local/telegram/botWRONG/getMe", timeout=10).json()["error_code"] == 401
    assert requests.post(f"{base}/sendSticker", json={}, timeout=10).json()["error_code"] == 404
    # form-encoded like many clients send, reply_markup as a JSON string
    msg = requests.post(
        f"{base}/sendMessage",
        data={"chat_id": "77", "text": "hello", "reply_markup": json.dumps({"inline_keyboard": []})},
        timeout=10,
    ).json()["result"]
    same = requests.post(
        f"{base}/editMessageText",
        json={"chat_id": 77, "message_id": msg["message_id"], "text": "hello", "reply_markup": {"inline_keyboard": []}},
        timeout=10,
    )
    assert same.status_code == 400 and "message is not modified" in same.json()["description"]
    gone = requests.post(f"{base}/editMessageText", json={"chat_id": 77, "message_id": 999, "text": "x"}, timeout=10)
    assert gone.json()["description"] == "Bad Request: message to edit not found"
    empty = requests.post(f"{base}/sendMessage", json={"chat_id": 77, "text": " "}, timeout=10)
    assert empty.status_code == 400


def test_mail_sent_through_the_emulators_ses_is_listed(runner: Runner) -> None:
    ses = runner.client("ses")
    ses.verify_email_identity(EmailAddress="oncall@example.com")
    mail = EmailMessage()
    mail["From"] = "oncall@example.com"
    mail["To"] = "ada@example.com"
    mail["Subject"] = f"Reminder {uuid.uuid4().hex[:6]}"
    mail["List-Unsubscribe"] = "<https://oncall.example.com/unsubscribe>"
    mail.set_content("You are on call in 10 minutes.")
    mail.add_alternative("<p>You are on call in <b>10 minutes</b>.</p>", subtype="html")
    ses.send_raw_email(RawMessage={"Data": mail.as_bytes()})
    # SESv2 (what the product uses) lands in the same place
    v2 = EmailMessage()
    v2["From"], v2["To"], v2["Subject"] = "oncall@example.com", "bob@example.com", f"Page {uuid.uuid4().hex[:6]}"
    v2.set_content("INC-1 is yours.")
    runner.client("sesv2").send_email(
        FromEmailAddress="oncall@example.com",
        Destination={"ToAddresses": ["bob@example.com"]},
        Content={"Raw": {"Data": v2.as_bytes()}},
    )
    items = runner.get("/_local/mail").json()["items"]
    found = next(m for m in items if m["subject"] == mail["Subject"])
    assert found["to"] == ["ada@example.com"]
    assert found["headers"]["List-Unsubscribe"] == "<https://oncall.example.com/unsubscribe>"
    assert found["text"].strip() == "You are on call in 10 minutes."
    assert "<b>10 minutes</b>" in found["html"]
    page = next(m for m in items if m["subject"] == v2["Subject"])
    assert page["to"] == ["bob@example.com"] and page["text"].strip() == "INC-1 is yours."


def test_https_listener_with_the_self_signed_certificate(runner: Runner) -> None:
    https, cert = runner.info["https"], runner.info["cert"]
    assert https.startswith("https://127.0.0.1:")
    context = ssl.create_default_context(cafile=cert)
    with urllib.request.urlopen(f"{https}/health", context=context, timeout=10) as resp:
        assert resp.status == 200
        assert json.loads(resp.read())["status"] == "ok"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{https}/health", context=ssl.create_default_context(), timeout=10)


def test_workers_are_real_processes_under_the_runner(runner: Runner) -> None:
    runner.get("/health")
    pools = {p["function"]: p for p in runner.get("/_local/workers").json()["items"]}
    api = pools["api"]
    assert api["workers"] >= 1 and api["cold_starts"] >= 1 and api["invocations"] >= api["cold_starts"]
    assert set(api["pids"]) <= runner.descendants()
