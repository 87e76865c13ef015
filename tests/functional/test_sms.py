"""SMS through the real API handler and the real lifecycle on the emulator (its SNS keeps what was published): a
number verified by its code, a critical page that reaches a verified number once however often its alert is sent,
never an unverified or opted-out number, the hourly cap, and the ack link: a confirmation page first, then one
acknowledgement as the paged person; used, expired, forged or altered links do nothing."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra.local.sms import SmsOutbox
from oncall.domain.users import Role
from tests.support.identity import PASSWORD, Session, login_as, make_user
from tests.support.incidents import make_policy, ok
from tests.support.lambdas import call_api
from tests.support.lifecycle import Stack, lifecycle_stack, wait_until

PUBLIC_URL = "https://oncall.example.com"
LINK = re.compile(re.escape(PUBLIC_URL) + r"/sms/ack/([A-Za-z0-9_-]{28})")
_numbers = iter(range(10_000_000, 99_999_999))


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    env = {
        "ONCALL_PUBLIC_URL": PUBLIC_URL,
        "ONCALL_SMS_ENABLED": "true",
        "ONCALL_SMS_LINK_KEY": "sms-link-key-for-tests-0123456789abcdef",
        "ONCALL_SMS_PER_PERSON_PER_HOUR": "3",
        "ONCALL_EMAIL_SENDER": "OnCall Hub <oncall@oncall.local>",
    }
    with lifecycle_stack(env) as s:
        yield s


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Session:
    return login_as(Role.ADMIN)


def session_of(user: Any) -> Session:
    from oncall import wiring

    pair = wiring.core.auth_service().login(user.username, PASSWORD, "127.0.0.1")
    return Session(user=user, access_token=pair.access_token, refresh_token=pair.refresh_token)


def new_number(ending: str = "") -> str:
    digits = f"{next(_numbers)}{ending}"
    return f"+1555{digits[-7:]}"


def sms_to(number: str) -> list[str]:
    return [m["text"] for m in SmsOutbox().messages() if m["to"] == number]


def verified_person(number: str, *, rules: dict[str, list[str]] | None = None, email: str | None = None) -> Session:
    person = session_of(make_user(email=email))
    assert call_api("PUT", "/me/phone", headers=person.headers, body={"number": number}).status == 202
    (text,) = sms_to(number)
    code = re.search(r"\b(\d{6})\b", text)
    assert code is not None, text
    got = call_api("POST", "/me/phone/verify", headers=person.headers, body={"code": code.group(1)})
    assert ok(got)["number"] == number
    if rules:
        assert call_api("PUT", "/me/notification-rules", headers=person.headers, body={"rules": rules}).status == 200
    return person


def paging_service(admin: Session, user_ids: list[str], name: str) -> dict[str, Any]:
    level = {"targets": [{"type": "user", "id": uid} for uid in user_ids], "timeout_seconds": 600}
    policy = make_policy(admin.headers, [level], name=f"policy {name}")
    body = {"name": name, "escalation_policy_id": policy["id"]}
    return ok(call_api("POST", "/services", headers=admin.headers, body=body), 201)  # type: ignore[no-any-return]


def pd_trigger(service: dict[str, Any], dedup: str, summary: str) -> str:
    body = {
        "routing_key": service["integration_key"],
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": summary, "source": "db-1", "severity": "critical"},
    }
    got = call_api("POST", "/v2/enqueue", headers={"content-type": "application/json"}, body=body)
    assert got.status == 202, got.raw
    return str(got.json["dedup_key"])


def incident_of(admin: Session, service_id: str) -> dict[str, Any]:
    items = ok(call_api("GET", f"/incidents?service_id={service_id}", headers=admin.headers))["items"]
    assert len(items) == 1, items
    return items[0]  # type: ignore[no-any-return]


# -- numbers -----------------------------------------------------------------------------------------------------------


def test_a_number_is_verified_by_its_code_and_bad_input_names_the_field(stack: Stack) -> None:
    person = session_of(make_user())
    bad = call_api("PUT", "/me/phone", headers=person.headers, body={"number": "0151 1234 5678"})
    assert bad.status == 422 and "number" in bad.raw.decode()
    number = new_number()
    assert call_api("PUT", "/me/phone", headers=person.headers, body={"number": number}).status == 202
    assert ok(call_api("GET", "/me/phone", headers=person.headers)) == {
        "number": None,
        "pending": number,
        "code_expired": False,
    }
    (text,) = sms_to(number)
    code = re.search(r"\b(\d{6})\b", text).group(1)  # type: ignore[union-attr]
    wrong = "000000" if code != "000000" else "111111"
    refused = call_api("POST", "/me/phone/verify", headers=person.headers, body={"code": wrong})
    assert refused.status == 422 and refused.json["error"]["details"]["fields"][0]["field"] == "code"
    assert ok(call_api("POST", "/me/phone/verify", headers=person.headers, body={"code": code}))["number"] == number
    assert ok(call_api("GET", "/me/phone", headers=person.headers)) == {
        "number": number,
        "pending": None,
        "code_expired": False,
    }

    # five wrong codes and the sixth (even the right one) is refused: a new code must be asked for
    other = session_of(make_user())
    number2 = new_number()
    call_api("PUT", "/me/phone", headers=other.headers, body={"number": number2})
    code2 = re.search(r"\b(\d{6})\b", sms_to(number2)[0]).group(1)  # type: ignore[union-attr]
    wrong2 = "000000" if code2 != "000000" else "111111"
    for _ in range(5):
        assert call_api("POST", "/me/phone/verify", headers=other.headers, body={"code": wrong2}).status == 422
    assert call_api("POST", "/me/phone/verify", headers=other.headers, body={"code": code2}).status == 422
    # ... and the number says so before anyone tries again: its code can no longer be entered, as when it expires
    assert ok(call_api("GET", "/me/phone", headers=other.headers)) == {
        "number": None,
        "pending": number2,
        "code_expired": True,
    }
    sms_state = next(
        c
        for c in ok(call_api("GET", "/me/notification-rules", headers=other.headers))["channels"]
        if c["name"] == "sms"
    )
    assert sms_state["state"] == "code_expired", sms_state
    assert call_api("DELETE", "/me/phone", headers=person.headers).status == 204
    assert ok(call_api("GET", "/me/phone", headers=person.headers))["number"] is None


# -- pages -------------------------------------------------------------------------------------------------------------


def test_a_critical_page_reaches_a_verified_number_once_and_never_an_unverified_or_opted_out_one(
    stack: Stack, admin: Session
) -> None:
    verified_number = new_number()
    verified = verified_person(verified_number, rules={"page": ["sms", "email"]})
    # a number that never came back with its code
    unverified = session_of(make_user(email=f"unverified-{time.monotonic_ns()}@example.org"))
    unverified_number = new_number()
    call_api("PUT", "/me/phone", headers=unverified.headers, body={"number": unverified_number})
    rules = {"rules": {"page": ["sms", "email"]}}
    assert call_api("PUT", "/me/notification-rules", headers=unverified.headers, body=rules).status == 200
    # a verified number whose owner texted STOP since (the emulator's SNS: numbers ending in 99)
    opted_out_number = new_number("99")
    opted_out = verified_person(
        opted_out_number, rules={"page": ["sms", "email"]}, email=f"optout-{time.monotonic_ns()}@example.org"
    )

    service = paging_service(admin, [verified.user.id, unverified.user.id, opted_out.user.id], "sms-db")
    for _ in range(3):  # the same alert, delivered three times
        pd_trigger(service, "sms-db-replica-lag", "Database replica lag above 30 s")
    incident = wait_until(lambda: incident_of(admin, service["id"]), what="the incident")

    def paged() -> list[str]:
        return [t for t in sms_to(verified_number) if "Ack:" in t]

    (text,) = wait_until(paged, what="the SMS page")
    assert len(text) <= 160 and incident["id"][-8:].upper() in text and "Database replica lag" in text
    assert LINK.search(text)

    def timeline_pages() -> list[dict[str, Any]]:
        entries = ok(call_api("GET", f"/incidents/{incident['id']}/timeline", headers=admin.headers))["items"]
        return [e for e in entries if e["kind"] == "page"]

    pages = wait_until(lambda: len(timeline_pages()) == 3 and timeline_pages(), what="three pages recorded")
    by_person = {e["data"]["user_id"]: e["data"] for e in pages}
    assert by_person[verified.user.id]["channel"] == "sms"
    # the unverified and the opted-out people were paged by email instead, and got no SMS
    assert by_person[unverified.user.id]["channel"] == "email"
    assert by_person[opted_out.user.id]["channel"] == "email"
    assert [t for t in sms_to(unverified_number) if "Ack:" in t] == []
    assert [t for t in sms_to(opted_out_number) if "Ack:" in t] == []
    time.sleep(1.0)  # the duplicates have had their chance to page again
    assert len(paged()) == 1


def test_the_ack_link_confirms_then_acknowledges_once_as_the_paged_person(stack: Stack, admin: Session) -> None:
    number = new_number()
    person = verified_person(number, rules={"page": ["sms"]})
    service = paging_service(admin, [person.user.id], "sms-checkout")
    pd_trigger(service, "sms-checkout-5xx", "Checkout 5xx")
    text = wait_until(lambda: next((t for t in sms_to(number) if "Ack:" in t), None), what="the SMS page")
    token = LINK.search(text).group(1)  # type: ignore[union-attr]
    incident_id = incident_of(admin, service["id"])["id"]

    # opening the link (or a link preview fetching it) changes nothing
    page = call_api("GET", f"/sms/ack/{token}")
    assert page.status == 200 and "<form" in page.raw.decode() and "Checkout 5xx" in page.raw.decode()
    assert page.header("cache-control") == "no-store"
    # the page may post its one form back here and do nothing else (no script, no framing)
    policy = page.header("content-security-policy") or ""
    assert "form-action 'self'" in policy and "default-src 'none'" in policy and "script-src" not in policy
    assert incident_of(admin, service["id"])["status"] == "triggered"

    # a forged or altered token is refused before anything is read
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (altered, "x" * 28, "short"):
        assert call_api("POST", f"/sms/ack/{bad}").status == 404
    assert incident_of(admin, service["id"])["status"] == "triggered"

    done = call_api("POST", f"/sms/ack/{token}")
    assert done.status == 200 and "Acknowledged by" in done.raw.decode()
    incident = ok(call_api("GET", f"/incidents/{incident_id}", headers=admin.headers))
    assert incident["status"] == "acknowledged" and incident["acknowledged_by"] == person.user.id
    # single use: the second press, and the page itself, say so
    assert call_api("POST", f"/sms/ack/{token}").status == 410
    assert call_api("GET", f"/sms/ack/{token}").status == 410


def test_an_expired_link_does_nothing(stack: Stack, admin: Session) -> None:
    from oncall import wiring
    from oncall.adapters.dynamodb.sms import DynamoSmsStore
    from oncall.domain.sms import new_link_token
    from oncall.settings import get_settings

    number = new_number()
    person = verified_person(number, rules={"page": ["sms"]})
    service = paging_service(admin, [person.user.id], "sms-expired")
    pd_trigger(service, "sms-expired", "Disk almost full")
    incident_id = wait_until(lambda: incident_of(admin, service["id"]), what="the incident")["id"]
    # a link minted as the channel mints them, whose hour has passed
    token, digest = new_link_token(wiring.notifications.sms_link_key())
    store = DynamoSmsStore(get_settings().table("notifications"))
    store.put_link(digest, person.user.id, incident_id, int(time.time()) - 1)
    assert call_api("GET", f"/sms/ack/{token}").status == 410
    assert call_api("POST", f"/sms/ack/{token}").status == 410
    assert incident_of(admin, service["id"])["status"] == "triggered"


def test_the_hourly_cap_sends_the_rest_to_the_next_channel(stack: Stack) -> None:
    from oncall import wiring
    from oncall.domain.notifications import Kind, Message

    email = f"capped-{time.monotonic_ns()}@example.org"
    number = new_number()
    person = verified_person(number, rules={"info": ["sms", "email"]}, email=email)
    notifier = wiring.notifications.notification_service()
    channels = [
        notifier.notify(
            person.user.id, Message(Kind.INFO, f"cap-{i}-{time.monotonic_ns()}", f"note {i}"), wiring.clock()()
        )
        for i in range(3)
    ]
    # the verification code counted too: ONCALL_SMS_PER_PERSON_PER_HOUR=3 leaves room for two
    assert [d.channel for d in channels] == ["sms", "sms", "email"]
    # a new code for the same number is refused for this hour too, with when to try again
    again = call_api("PUT", "/me/phone", headers=person.headers, body={"number": number})
    assert again.status == 429 and again.header("retry-after")
    assert len([t for t in sms_to(number) if t.startswith("note")]) == 2


def test_a_person_who_asks_for_both_gets_the_page_by_email_and_a_copy_by_sms_once(stack: Stack, admin: Session) -> None:
    from infra.local.mail import MailOutbox

    email = f"both-{time.monotonic_ns()}@example.org"
    number = new_number()
    person = verified_person(number, email=email)
    body = {"rules": {"page": ["email"]}, "also": {"page": ["sms"]}}
    got = ok(call_api("PUT", "/me/notification-rules", headers=person.headers, body=body))
    assert got["also"] == {"page": ["sms"]}
    # a later PUT without "also" keeps the copies
    kept = ok(call_api("PUT", "/me/notification-rules", headers=person.headers, body={"rules": {"page": ["email"]}}))
    assert kept["also"] == {"page": ["sms"]}
    bad = call_api("PUT", "/me/notification-rules", headers=person.headers, body={"rules": {}, "also": {"page": ["x"]}})
    assert bad.status == 422 and bad.json["error"]["details"]["fields"][0]["field"] == "also.page[0]"

    service = paging_service(admin, [person.user.id], "sms-both")
    for _ in range(2):
        pd_trigger(service, "sms-both", "Queue backlog growing")
    incident_id = wait_until(lambda: incident_of(admin, service["id"]), what="the incident")["id"]
    mailed = wait_until(
        lambda: [m for m in MailOutbox().messages() if email in m["to"] and incident_id in str(m["headers"])],
        what="the mailed page",
    )
    texted = wait_until(lambda: [t for t in sms_to(number) if incident_id[-8:].upper() in t], what="the SMS copy")
    time.sleep(1.0)  # the duplicate alert has had its chance
    assert len(mailed) == 1 and len(texted) == 1 and "Queue backlog growing" in texted[0]
    entries = ok(call_api("GET", f"/incidents/{incident_id}/timeline", headers=admin.headers))["items"]
    (page,) = [e for e in entries if e["kind"] == "page"]
    assert page["data"]["channel"] == "email"
