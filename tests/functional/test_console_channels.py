"""The console's notification settings reach every channel the API accepts: the rules form (Telegram, Slack, email,
SMS in order per kind, and copies), each channel's state for the person now with how to make it work, and the SMS
number set and verified from the Me page. Through the real API handler on moto (its SNS keeps what was texted);
assertions are on what the API stores afterwards."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from infra.local.sms import SmsOutbox
from oncall import wiring
from oncall.adapters.dynamodb.slack_links import DynamoSlackLinks
from oncall.adapters.dynamodb.sms import DynamoSmsStore
from oncall.settings import get_settings
from tests.support.console import Browser, text
from tests.support.identity import PASSWORD, FakeClock, Session
from tests.support.incidents import ok
from tests.support.lambdas import call_api

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
_numbers = iter(range(1_000_000, 9_999_999))
#: every kind the API knows, with what the form sends unless a test says otherwise
KINDS = ("page", "low_urgency", "escalation", "reminder", "resolution", "info")


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture
def sms_on(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    """SMS enabled (texts land in moto's SNS), two SMS per number an hour so the cap is reachable."""
    monkeypatch.setenv("ONCALL_SMS_ENABLED", "true")
    monkeypatch.setenv("ONCALL_SMS_PER_PERSON_PER_HOUR", "2")
    monkeypatch.setenv("ONCALL_SMS_LINK_KEY", "sms-link-key-for-tests-0123456789abcdef")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=clock)
    yield clock
    get_settings.cache_clear()


def signed_in(session: Session) -> Browser:
    browser = Browser()
    got = browser.sign_in(session.user.username, PASSWORD)
    assert got.status == 303, text(got)
    browser.get("/console/me")  # the form's CSRF token, renewed at sign-in
    return browser


def login_again(session: Session) -> Session:
    pair = wiring.core.auth_service().login(session.user.username, PASSWORD, "127.0.0.1")
    return Session(user=session.user, access_token=pair.access_token, refresh_token=pair.refresh_token)


def new_number() -> str:
    return f"+1555{next(_numbers)}"


def texted(number: str) -> list[str]:
    return [m["text"] for m in SmsOutbox().messages() if m["to"] == number]


def stored_rules(session: Session) -> dict[str, Any]:
    return dict(ok(call_api("GET", "/me/notification-rules", headers=session.headers)))


def states(session: Session) -> dict[str, tuple[str, str | None]]:
    return {c["name"]: (c["state"], c["detail"]) for c in stored_rules(session)["channels"]}


def row(html: str, attribute: str, value: str) -> str:
    found = re.search(rf'<tr {attribute}="{value}"[^>]*>(.*?)</tr>', html, re.S)
    assert found, f"no row {attribute}={value}"
    return found.group(0)


def now_goes_to(html: str, kind: str) -> str:
    cell = re.search(r'<td data-label="Now goes to">(.*?)</td>', row(html, "data-kind", kind), re.S)
    assert cell
    return cell.group(1).strip()


def form_of(rules: dict[str, list[str]], also: dict[str, list[str]] | None = None) -> dict[str, str]:
    """The rules form as a person fills it: the n-th choice per kind, copies ticked."""
    fields = {f"rule-{kind}-{i}": channel for kind, chosen in rules.items() for i, channel in enumerate(chosen)}
    fields.update({f"also-{kind}-{c}": "1" for kind, chosen in (also or {}).items() for c in chosen})
    return fields


def test_the_rules_form_offers_every_channel_in_order_with_copies_and_saves_what_was_chosen(
    sms_on: FakeClock, responder: Session
) -> None:
    ann = signed_in(responder)
    page = text(ann.get("/console/me"))
    for kind in KINDS:
        for i in range(4):
            select = re.search(rf'<select id="rule-{kind}-{i}" name="rule-{kind}-{i}"[^>]*>(.*?)</select>', page, re.S)
            assert select, (kind, i)
            assert re.findall(r'<option value="(\w*)"', select.group(1)) == ["", "telegram", "slack", "email", "sms"]
        for c in ("telegram", "slack", "email", "sms"):
            assert f'id="also-{kind}-{c}" name="also-{kind}-{c}" value="1"' in page
    # the defaults are shown as the choices in force: pages by Telegram, Slack, email, then SMS
    page_row = row(page, "data-kind", "page")
    chosen = re.findall(r'<option value="(\w+)" selected>', page_row)
    assert chosen == ["telegram", "slack", "email", "sms"]

    rules = {
        "page": ["slack", "sms"],
        "low_urgency": ["slack", "email"],
        "escalation": ["sms", "telegram"],
        "reminder": ["email"],
        "resolution": [],
        "info": ["telegram"],
    }
    saved = ann.post("/console/me/notification-rules", form_of(rules, {"page": ["sms"], "escalation": ["email"]}))
    assert saved.status == 303 and saved.header("location") == "/console/me?done=rules"
    stored = stored_rules(responder)
    assert stored["rules"] == rules
    assert stored["also"] == {kind: [] for kind in KINDS} | {"page": ["sms"], "escalation": ["email"]}
    again = text(ann.get("/console/me?done=rules"))
    assert "Notification rules saved." in again
    assert re.findall(r'<option value="(\w+)" selected>', row(again, "data-kind", "page")) == ["slack", "sms"]
    assert 'id="also-page-sms" name="also-page-sms" value="1" checked' in again
    assert 'id="also-page-slack" name="also-page-slack" value="1">' in again
    # unticking every copy removes them
    assert ann.post("/console/me/notification-rules", form_of(rules)).status == 303
    assert stored_rules(responder)["also"] == {kind: [] for kind in KINDS}


def test_a_refused_rules_form_names_the_field_keeps_what_was_entered_and_stores_nothing(
    sms_on: FakeClock, responder: Session
) -> None:
    ann = signed_in(responder)
    good = {kind: ["email"] for kind in KINDS}
    assert ann.post("/console/me/notification-rules", form_of(good, {"page": ["sms"]})).status == 303
    before = stored_rules(responder)

    muted = ann.post("/console/me/notification-rules", form_of({**good, "page": [], "reminder": ["slack", "sms"]}))
    html = text(muted)
    assert muted.status == 422
    assert re.search(r'<p class="error" role="alert" id="rules-error">[^<]*\(rules\.page\)</p>', html), html
    assert 'class="invalid"' in row(html, "data-kind", "page")
    assert 'aria-invalid="true"' in row(html, "data-kind", "page")
    assert 'class="invalid"' not in row(html, "data-kind", "reminder")
    # what the person had chosen is still on the form, not the stored rules
    assert re.findall(r'<option value="(\w+)" selected>', row(html, "data-kind", "reminder")) == ["slack", "sms"]

    twice = ann.post("/console/me/notification-rules", form_of({**good, "page": ["slack", "slack"]}))
    assert twice.status == 422 and "rules.page[1]: a channel is chosen twice for page" in text(twice)

    forged = ann.post("/console/me/notification-rules", form_of({**good, "escalation": ["pigeon"]}))
    html = text(forged)
    assert forged.status == 422 and "(rules.escalation[0])" in html and "unknown channel" in html
    assert 'class="invalid"' in row(html, "data-kind", "escalation")
    assert stored_rules(responder) == before


def test_each_channel_says_whether_it_reaches_the_person_now_and_how_to_make_it(
    sms_on: FakeClock, responder: Session
) -> None:
    ann = signed_in(responder)
    html = text(ann.get("/console/me"))
    expected = {"telegram": "not_set_up", "slack": "not_set_up", "email": "not_set_up", "sms": "not_set_up"}
    assert {c: s for c, (s, _) in states(responder).items()} == expected
    assert "Not linked" in row(html, "data-channel", "telegram") and "Link Telegram" in row(
        html, "data-channel", "telegram"
    )
    assert "<code>/oncall link</code> in Slack" in row(html, "data-channel", "slack")
    assert "No address" in row(html, "data-channel", "email")
    assert "Add your number" in row(html, "data-channel", "sms")
    # nothing chosen for pages reaches the person now: said on the rules form
    assert "nothing reaches you" in now_goes_to(html, "page")

    # linked on Slack (by the Slack app's store) and Telegram, an email address, a number verified (by the SMS
    # store); then Slack's link breaks and the number opts out
    me = responder.user.id
    notifications, users = get_settings().table("notifications"), get_settings().table("users")
    assert DynamoSlackLinks(notifications).link(me, "U0ANN", "D0ANN", sms_on())
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=users,
        Key={"pk": {"S": f"USER#{me}"}, "sk": {"S": "PROFILE"}},
        UpdateExpression="SET telegram_chat_id = :c",
        ExpressionAttributeValues={":c": {"S": "4242"}},
    )
    assert ann.post("/console/me", {"display_name": "Ann", "timezone": "UTC", "email": "ann@example.com"}).status == 303
    number = new_number()
    DynamoSmsStore(notifications).confirm(me, number, sms_on())
    assert {c: s for c, (s, _) in states(responder).items()} == dict.fromkeys(expected, "ready")
    html = text(ann.get("/console/me"))
    assert "Ready" in row(html, "data-channel", "slack") and f"Ready</span>: {number}" in row(
        html, "data-channel", "sms"
    )
    assert now_goes_to(html, "page") == "Telegram"

    log = wiring.notifications.delivery_log()
    log.flag(me, "slack", "channel_not_found", sms_on())
    log.flag(me, "sms", "the number opted out of SMS (STOP)", sms_on())
    assert states(responder)["slack"] == ("blocked", "channel_not_found")
    assert states(responder)["sms"] == ("blocked", "the number opted out of SMS (STOP)")
    html = text(ann.get("/console/me"))
    slack = row(html, "data-channel", "slack")
    assert (
        "Link broken" in slack and "channel_not_found" in slack and "<code>/oncall link</code> in Slack again" in slack
    )
    sms = row(html, "data-channel", "sms")
    assert "Blocked" in sms and "opted out" in sms and "Text START back to the sender" in sms
    # the options of a channel that does not work now say so
    assert '<option value="slack">Slack (not ready)</option>' in row(html, "data-kind", "info")
    # rules naming only broken channels: a page still goes by the default route, a reminder goes nowhere
    body = {"rules": {"page": ["slack", "sms"], "reminder": ["slack"]}}
    ok(call_api("PUT", "/me/notification-rules", headers=responder.headers, body=body))
    html = text(ann.get("/console/me"))
    assert now_goes_to(html, "page") == "Telegram <small>(none of your choices works: the default route)</small>"
    assert now_goes_to(html, "reminder") == '<span class="warn">nothing reaches you</span>'


def test_without_sms_in_the_deployment_the_channel_is_off_and_there_is_no_phone_form(
    clock: FakeClock, responder: Session
) -> None:
    ann = signed_in(responder)
    assert states(responder)["sms"] == ("off", None)
    html = text(ann.get("/console/me"))
    assert "SMS is not enabled in this deployment" in row(html, "data-channel", "sms")
    assert 'action="/console/me/phone"' not in html and 'id="phone"' not in html


def test_a_number_is_set_and_verified_from_the_page_and_every_refusal_is_shown_there(
    sms_on: FakeClock, responder: Session
) -> None:
    ann = signed_in(responder)
    page = text(ann.get("/console/me"))
    assert '<h2 id="phone">Phone number for SMS</h2>' in page and 'id="phone-code"' not in page

    bad = ann.post("/console/me/phone", {"number": "0151 1234"})
    html = text(bad)
    assert bad.status == 422
    assert re.search(r'<p class="error" role="alert" id="phone-error">number: an E\.164 phone number', html), html
    assert 'value="0151 1234"' in html and 'aria-invalid="true"' in html
    assert ok(call_api("GET", "/me/phone", headers=responder.headers)) == {
        "number": None,
        "pending": None,
        "code_expired": False,
    }

    number = new_number()
    sent = ann.post("/console/me/phone", {"number": number})
    assert sent.status == 303 and sent.header("location") == "/console/me?done=phone-code#phone"
    page = text(ann.get("/console/me?done=phone-code"))
    assert "A code is on its way to your number" in page and f"Code texted to {number}" in page
    assert "Waiting for the code" in row(page, "data-channel", "sms")
    (message,) = texted(number)
    code = re.search(r"\b(\d{6})\b", message)
    assert code

    wrong = "000000" if code.group(1) != "000000" else "111111"
    refused = ann.post("/console/me/phone/verify", {"code": wrong})
    html = text(refused)
    assert refused.status == 422 and "code: that is not the code sent to the number" in html
    assert 'id="phone-code"' in html and 'aria-invalid="true"' in html
    malformed = ann.post("/console/me/phone/verify", {"code": "12ab"})
    assert malformed.status == 422 and "(code)" in text(malformed)

    verified = ann.post("/console/me/phone/verify", {"code": f"{code.group(1)[:3]} {code.group(1)[3:]}"})
    assert verified.status == 303 and verified.header("location") == "/console/me?done=phone#phone"
    assert ok(call_api("GET", "/me/phone", headers=responder.headers)) == {
        "number": number,
        "pending": None,
        "code_expired": False,
    }
    assert states(responder)["sms"] == ("ready", None)
    page = text(ann.get("/console/me?done=phone"))
    assert f'<strong id="phone-number">{number}</strong>' in page and "Your number is verified" in page

    # the cap of two SMS per number an hour: the third code to the same number is refused
    other = new_number()
    assert ann.post("/console/me/phone", {"number": other}).status == 303
    assert ann.post("/console/me/phone", {"number": other}).status == 303
    capped = ann.post("/console/me/phone", {"number": other})
    html = text(capped)
    minutes = -(-(3600 - int(sms_on().timestamp()) % 3600) // 60)
    assert capped.status == 429
    assert f"Too many SMS to this number (or from this deployment) this hour: try again in {minutes} minutes." in html
    assert f'value="{other}"' in html
    assert len(texted(other)) == 2

    # a code past its 15 minutes, then five wrong codes, each said in the page
    sms_on.advance(16 * 60)
    expired = ann.post("/console/me/phone/verify", {"code": "123456"})
    assert expired.status == 422 and "no code is waiting (or it expired)" in text(expired)
    sms_on.advance(3600)
    assert ann.post("/console/me/phone", {"number": other}).status == 303
    for _ in range(5):
        assert ann.post("/console/me/phone/verify", {"code": wrong}).status == 422
    right = re.search(r"\b(\d{6})\b", texted(other)[-1])
    assert right
    spent = ann.post("/console/me/phone/verify", {"code": right.group(1)})
    assert spent.status == 422 and "too many wrong codes" in text(spent)
    # the verified number is untouched by the refused attempts on another (an hour on, the API session is new)
    later = login_again(responder)
    assert ok(call_api("GET", "/me/phone", headers=later.headers))["number"] == number

    removed = ann.post("/console/me/phone/remove")
    assert removed.status == 303
    assert ok(call_api("GET", "/me/phone", headers=later.headers)) == {
        "number": None,
        "pending": None,
        "code_expired": False,
    }
    assert states(later)["sms"] == ("not_set_up", None)


def test_a_code_that_expired_is_said_so_by_the_api_the_channel_state_and_the_page_for_a_day(
    sms_on: FakeClock, responder: Session
) -> None:
    ann = signed_in(responder)
    number = new_number()
    assert ann.post("/console/me/phone", {"number": number}).status == 303
    waiting = {"number": None, "pending": number, "code_expired": False}
    assert ok(call_api("GET", "/me/phone", headers=responder.headers)) == waiting
    assert states(responder)["sms"] == ("pending", None)

    # the code lives 15 minutes; one second past it, nothing can be entered and everyone says so
    sms_on.advance(15 * 60)
    me = login_again(responder)  # the API session has expired meanwhile; the console's refreshes itself
    expired = {"number": None, "pending": number, "code_expired": True}
    assert ok(call_api("GET", "/me/phone", headers=me.headers)) == expired
    assert states(me)["sms"] == ("code_expired", None)
    page = text(ann.get("/console/me"))
    sms_row = row(page, "data-channel", "sms")
    assert 'data-state="code_expired"' in sms_row and "Code expired" in sms_row and "for a new code" in sms_row
    assert f"The code texted to {number} expired before it was entered" in page
    assert 'id="phone-code"' not in page  # no code form for a code that cannot be used
    assert f'name="number" type="tel" autocomplete="tel" placeholder="+4915112345678" value="{number}"' in page
    refused = ann.post("/console/me/phone/verify", {"code": "123456"})
    assert refused.status == 422 and "no code is waiting (or it expired)" in text(refused)

    # the stored code outlives its expiry by the day it is reported for (TTL), never by less
    notifications = get_settings().table("notifications")
    item = boto3.client("dynamodb").get_item(
        TableName=notifications, Key={"pk": {"S": f"PERSON#{responder.user.id}"}, "sk": {"S": "SMSVERIFY"}}
    )["Item"]
    code_expires = int(START.timestamp()) + 15 * 60
    assert (int(item["code_expires_at"]["N"]), int(item["expires_at"]["N"])) == (code_expires, code_expires + 86_400)

    # asking again makes a new code wait
    assert ann.post("/console/me/phone", {"number": number}).status == 303
    assert ok(call_api("GET", "/me/phone", headers=me.headers)) == waiting
    assert states(me)["sms"] == ("pending", None)

    # left to expire, and a day later it is as if none had been asked for, even while the item is still there
    sms_on.advance(15 * 60 + 86_400)
    later = login_again(responder)
    assert ok(call_api("GET", "/me/phone", headers=later.headers)) == {
        "number": None,
        "pending": None,
        "code_expired": False,
    }
    assert states(later)["sms"] == ("not_set_up", None)
    assert DynamoSmsStore(notifications).pending(responder.user.id) is not None


def test_a_waiting_code_stored_before_codes_had_their_own_expiry_is_read_by_its_ttl(
    sms_on: FakeClock, responder: Session
) -> None:
    number = new_number()
    expires = int(sms_on().timestamp()) + 60
    boto3.client("dynamodb").put_item(
        TableName=get_settings().table("notifications"),
        Item={
            "pk": {"S": f"PERSON#{responder.user.id}"},
            "sk": {"S": "SMSVERIFY"},
            "number": {"S": number},
            "code_hash": {"S": "x"},
            "attempts": {"N": "0"},
            "expires_at": {"N": str(expires)},
        },
    )
    assert ok(call_api("GET", "/me/phone", headers=responder.headers))["code_expired"] is False
    sms_on.advance(61)
    assert ok(call_api("GET", "/me/phone", headers=responder.headers)) == {
        "number": None,
        "pending": number,
        "code_expired": True,
    }
    assert states(responder)["sms"] == ("code_expired", None)
