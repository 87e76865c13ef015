"""The web console through the real API handler: sign-in with cookies and CSRF, pages that read and act through the
API, refusals shown in place, roles exactly as the API's. The browser itself is exercised in tests/e2e/test_console_
browser.py; here every rule is checked at the HTTP level, where each case is cheap."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from oncall import wiring
from oncall.domain.users import Role
from tests.support.console import Browser, text
from tests.support.identity import PASSWORD, FakeClock, Session, login_as
from tests.support.incidents import make_policy, make_service, ok, open_incident, user_level
from tests.support.lambdas import call_api
from tests.support.stats import count_events

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def clock_start() -> datetime:
    return START


@pytest.fixture
def world(admin: Session, responder: Session, clock: FakeClock) -> dict[str, Any]:
    viewer = login_as(Role.VIEWER)
    ok(
        call_api(
            "PATCH",
            "/me",
            headers={**responder.headers, "content-type": "application/json"},
            body='{"display_name": "Ann Responder", "timezone": "UTC"}',
        )
    )
    schedule = ok(
        call_api(
            "POST",
            "/schedules",
            headers={**admin.headers, "content-type": "application/json"},
            body='{"name": "Platform primary", "timezone": "UTC"}',
        ),
        201,
    )
    shift = {"user_id": responder.user.id, "start": "2026-03-02T08:00:00Z", "end": "2026-03-02T20:00:00Z"}
    import json

    ok(
        call_api(
            "POST",
            f"/schedules/{schedule['id']}/shifts",
            headers={**admin.headers, "content-type": "application/json"},
            body=json.dumps(shift),
        ),
        201,
    )
    policy = make_policy(admin.headers, [user_level(responder.user.id, 60)])
    service = make_service(admin.headers, policy["id"])
    return {
        "admin": admin,
        "ann": responder,
        "viewer": viewer,
        "schedule": schedule,
        "service": service,
        "clock": clock,
    }


def signed_in(session: Session) -> Browser:
    browser = Browser()
    got = browser.sign_in(session.user.username, PASSWORD)
    assert got.status == 303, text(got)
    return browser


def test_root_opens_the_console_and_sign_in_is_required(world: dict[str, Any]) -> None:
    root = call_api("GET", "/")
    assert root.status == 303 and root.header("location") == "/console"
    browser = Browser()
    page = browser.get("/console/incidents")
    assert page.status == 303 and page.header("location") == "/console/login?next=/console/incidents"
    form = Browser().get("/console/login")
    html = text(form)
    assert form.status == 200
    assert '<label for="username">Username</label>' in html and '<label for="password">Password</label>' in html
    assert '<button type="submit">Sign in</button>' in html
    # the CSRF cookie is set before there is a session: the sign-in form needs it too
    csrf_line = form.header("set-cookie") or ""
    assert csrf_line.startswith("__Host-och_csrf=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in csrf_line


def test_sign_in_sets_hardened_session_cookies_and_wrong_credentials_say_so(world: dict[str, Any]) -> None:
    browser = Browser()
    browser.get("/console/login")
    wrong = browser.post("/console/login", {"username": world["ann"].user.username, "password": "nope"})
    assert wrong.status == 401 and "Wrong username or password." in text(wrong)
    good = browser.post(
        "/console/login", {"username": world["ann"].user.username, "password": PASSWORD, "next": "/console/incidents"}
    )
    assert good.status == 303 and good.header("location") == "/console/incidents"
    lines = {line.split("=", 1)[0]: line for line in browser.set_cookie_lines}
    for name in ("__Host-och_session", "__Host-och_refresh", "__Host-och_csrf"):
        for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
            assert flag in lines[name], (name, flag)
        assert "Domain=" not in lines[name]
    # an open redirect through next= goes nowhere but the console
    other = Browser()
    other.get("/console/login")
    away = other.post(
        "/console/login", {"username": world["ann"].user.username, "password": PASSWORD, "next": "//evil.example/phish"}
    )
    assert away.header("location") == "/console"


def test_a_form_without_the_csrf_token_is_refused(world: dict[str, Any]) -> None:
    browser = signed_in(world["ann"])
    incident = open_incident(world["ann"].headers, world["service"]["id"])
    forged = browser.post(f"/console/incidents/{incident['id']}/acknowledge", csrf=False)
    assert forged.status == 403 and "not sent from this console" in text(forged)
    wrong = browser.post(f"/console/incidents/{incident['id']}/acknowledge", {"csrf": "x" * 43})
    assert wrong.status == 403
    assert ok(call_api("GET", f"/incidents/{incident['id']}", headers=world["ann"].headers))["status"] == "triggered"
    anonymous = Browser()
    assert anonymous.post("/console/login", {"username": "a", "password": "b"}, csrf=False).status == 403


def test_now_shows_who_is_on_call_and_open_incidents_by_severity(world: dict[str, Any]) -> None:
    open_incident(world["ann"].headers, world["service"]["id"], title="Checkout latency high", severity="critical")
    page = signed_in(world["viewer"]).get("/console")
    html = text(page)
    assert page.status == 200
    row = re.search(r'<tr data-schedule="[^"]+">(.*?)</tr>', html, re.S)
    assert row and "Platform primary" in row.group(1) and "Ann Responder" in row.group(1)
    assert "Checkout latency high" in html and "sev-critical" in html
    assert page.header("cache-control") == "no-store"
    policy = page.header("content-security-policy") or ""
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert page.header("strict-transport-security")  # the browser says it came over https


def test_calendar_creates_a_shift_and_shows_an_overlap_in_place(world: dict[str, Any]) -> None:
    browser = signed_in(world["admin"])
    sid = world["schedule"]["id"]
    week = browser.get(f"/console/schedules/{sid}?start=2026-03-02")
    assert week.status == 200 and 'data-date="2026-03-02"' in text(week) and "Ann Responder" in text(week)
    ann = world["ann"].user.id
    made = browser.post(
        f"/console/schedules/{sid}/shifts", {"user_id": ann, "start": "2026-03-03T08:00", "end": "2026-03-03T20:00"}
    )
    assert made.status == 303 and "done=shift" in (made.header("location") or "")
    clash = browser.post(
        f"/console/schedules/{sid}/shifts",
        {"user_id": world["admin"].user.id, "start": "2026-03-03T12:00", "end": "2026-03-03T14:00"},
    )
    html = text(clash)
    assert clash.status == 409
    message = re.search(r'<p class="error" role="alert" id="shift-error">(.*?)</p>', html, re.S)
    assert message and "Ann Responder&#39;s shift" in message.group(1) and "Tue 03 Mar 08:00" in message.group(1)
    # what was typed stays in the form
    assert 'value="2026-03-03T12:00"' in html
    stored = ok(
        call_api(
            "GET",
            f"/schedules/{sid}/shifts?from=2026-03-03T00:00:00Z&to=2026-03-04T00:00:00Z",
            headers=world["admin"].headers,
        )
    )["items"]
    assert [(s["user_id"], s["start"]) for s in stored] == [(ann, "2026-03-03T08:00:00Z")]
    bad = browser.post(f"/console/schedules/{sid}/shifts", {"user_id": ann, "start": "soon", "end": ""})
    assert bad.status == 422 and "start: enter a date and a time" in text(bad)


def test_acknowledge_from_the_page_and_a_second_press_reads_as_a_conflict(world: dict[str, Any]) -> None:
    incident = open_incident(world["ann"].headers, world["service"]["id"])
    browser = signed_in(world["ann"])
    detail = text(browser.get(f"/console/incidents/{incident['id']}"))
    assert ">Acknowledge</button>" in detail and ">Resolve</button>" in detail
    pressed = browser.post(f"/console/incidents/{incident['id']}/acknowledge")
    assert pressed.status == 303
    assert ok(call_api("GET", f"/incidents/{incident['id']}", headers=world["ann"].headers))["status"] == "acknowledged"
    stale = Browser()
    stale.sign_in(world["admin"].user.username, PASSWORD)
    stale.get(f"/console/incidents/{incident['id']}")
    again = stale.post(f"/console/incidents/{incident['id']}/acknowledge")
    html = text(again)
    assert again.status == 409
    assert "it is acknowledged now (acknowledged by Ann Responder)" in html
    assert "Traceback" not in html


def test_a_viewer_sees_no_buttons_and_a_forged_post_meets_the_apis_403(world: dict[str, Any]) -> None:
    incident = open_incident(world["ann"].headers, world["service"]["id"])
    browser = signed_in(world["viewer"])
    detail = text(browser.get(f"/console/incidents/{incident['id']}"))
    assert "<button" in detail  # sign out
    assert ">Acknowledge</button>" not in detail and "Add note" not in detail
    calendar = text(browser.get(f"/console/schedules/{world['schedule']['id']}"))
    assert "Add shift" not in calendar and ">Delete</button>" not in calendar
    forged = browser.post(f"/console/incidents/{incident['id']}/acknowledge")
    assert forged.status == 403 and "viewers cannot change anything here" in text(forged)
    assert forged.header(
        "content-type",
    ).startswith("text/html")  # type: ignore[union-attr]


def test_an_expired_access_token_is_refreshed_and_logout_ends_the_session(world: dict[str, Any]) -> None:
    browser = signed_in(world["ann"])
    first_refresh = browser.cookies["__Host-och_refresh"]
    world["clock"].advance(16 * 60)  # past the 15-minute access token
    page = browser.get("/console")
    assert page.status == 200
    assert browser.cookies["__Host-och_refresh"] != first_refresh  # rotated
    out = browser.post("/console/logout")
    assert out.status == 303 and out.header("location") == "/console/login?done=signed-out"
    assert "__Host-och_session" not in browser.cookies and "__Host-och_refresh" not in browser.cookies
    # the revoked refresh token is dead at the API too, not only forgotten by this browser
    replay = call_api(
        "POST",
        "/auth/refresh",
        headers={"content-type": "application/json"},
        body=f'{{"refresh_token": "{first_refresh}"}}',
    )
    assert replay.status == 401


def test_error_pages_are_html_and_never_a_trace(world: dict[str, Any]) -> None:
    browser = signed_in(world["ann"])
    missing = browser.get("/console/incidents/01JNOSUCHINCIDENT0000000000")
    assert missing.status == 404 and (missing.header("content-type") or "").startswith("text/html")
    assert "Not found" in text(missing)
    nowhere = browser.get("/console/no/such/page")
    assert nowhere.status == 404 and "There is no such page" in text(nowhere)


def test_the_login_rate_limit_is_a_readable_message(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from oncall.settings import get_settings

    monkeypatch.setenv("ONCALL_AUTH_LOGIN_FAILURES_PER_USER", "2")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=world["clock"])
    browser = Browser()
    browser.get("/console/login")
    answers = [browser.post("/console/login", {"username": "ann-x", "password": "wrong"}) for _ in range(4)]
    assert answers[-1].status == 429
    assert "Too many sign-in attempts. Try again in" in text(answers[-1])


def test_analytics_people_services_and_me_render(world: dict[str, Any]) -> None:
    incident = open_incident(world["ann"].headers, world["service"]["id"])
    world["clock"].advance(120)
    ok(call_api("POST", f"/incidents/{incident['id']}/acknowledge", headers=world["ann"].headers))
    world["clock"].advance(600)
    ok(call_api("POST", f"/incidents/{incident['id']}/resolve", headers=world["ann"].headers))
    admin = signed_in(world["admin"])
    count_events()  # what the stats function does with the bus's incident events
    analytics = text(admin.get("/console/analytics"))
    assert (
        analytics.count("<svg") == 4 and "2 min / 2 min" in analytics and "12 min / 12 min" in analytics
    )  # MTTR counts from the trigger
    assert "Ann Responder" in text(admin.get("/console/people")) and "responder" in text(admin.get("/console/people"))
    services = text(admin.get("/console/services"))
    assert "payments" in services and "/integrations/alertmanager" in services
    rotated = admin.post(f"/console/services/{world['service']['id']}/rotate-key")
    assert rotated.status == 200 and re.search(r'<code id="secret">[^<]{20,}</code>', text(rotated))
    ann = signed_in(world["ann"])
    assert "Ann Responder" in text(ann.get("/console/me"))
    saved = ann.post(
        "/console/me", {"display_name": "Ann R.", "timezone": "Europe/Berlin", "reminder_offsets_minutes": "1440, 10"}
    )
    assert saved.status == 303
    me = ok(call_api("GET", "/me", headers=world["ann"].headers))
    assert me["timezone"] == "Europe/Berlin" and me["reminder_offsets_minutes"] == [1440, 10]
    bad = ann.post("/console/me", {"display_name": "Ann R.", "timezone": "Mars/Olympus"})
    assert bad.status == 422 and "timezone" in text(bad)
    link = ann.post("/console/me/telegram-link")
    assert link.status == 200 and re.search(r'<code id="link-code">/start [A-Za-z0-9_-]+</code>', text(link))


def test_static_assets_are_served_with_a_content_hash_and_cached(world: dict[str, Any]) -> None:
    html = text(signed_in(world["ann"]).get("/console"))
    css = re.search(r'href="(/console/static/console\.css\?v=[0-9a-f]{12})"', html)
    js = re.search(r'src="(/console/static/console\.js\?v=[0-9a-f]{12})"', html)
    assert css and js
    got = call_api("GET", css.group(1))
    assert got.status == 200 and got.header("content-type") == "text/css; charset=utf-8"
    assert "immutable" in (got.header("cache-control") or "")
    assert call_api("GET", "/console/static/../handler.py").status == 404


def test_a_policy_is_made_and_edited_level_by_level_and_a_service_gets_its_key_once(world: dict[str, Any]) -> None:
    admin = signed_in(world["admin"])
    form = text(admin.get("/console/policies/new"))
    assert '<label for="l0t0">Target 1</label>' in form and "Platform primary" in form
    ann, sid = world["ann"].user.id, world["schedule"]["id"]
    empty = admin.post("/console/policies/new", {"name": "Nobody", "level-0-minutes": "5", "level-0-target-0": ""})
    assert empty.status == 422 and "give at least one level" in text(empty)
    made = admin.post(
        "/console/policies/new",
        {
            "name": "Web",
            "repeat": "1",
            "level-0-minutes": "5",
            "level-0-target-0": f"schedule:{sid}",
            "level-1-minutes": "10",
            "level-1-target-0": f"user:{ann}",
            "level-1-target-1": f"user:{world['admin'].user.id}",
            "level-2-minutes": "5",
        },
    )
    assert made.status == 303 and made.header("location") == "/console/services?done=policy"
    stored = next(
        p
        for p in ok(call_api("GET", "/escalation-policies", headers=world["admin"].headers))["items"]
        if p["name"] == "Web"
    )
    assert [(lvl["timeout_seconds"], [t["id"] for t in lvl["targets"]]) for lvl in stored["levels"]] == [
        (300, [sid]),
        (600, [ann, world["admin"].user.id]),
    ]
    assert stored["repeat"] == 1
    page = text(admin.get(f"/console/policies/{stored['id']}"))
    assert f'<option value="user:{ann}" selected>' in page
    edited = admin.post(
        f"/console/policies/{stored['id']}",
        {"name": "Web", "repeat": "0", "level-0-minutes": "2.5", "level-0-target-0": f"user:{ann}"},
    )
    assert edited.status == 303
    again = ok(call_api("GET", f"/escalation-policies/{stored['id']}", headers=world["admin"].headers))
    assert [(lvl["timeout_seconds"], lvl["targets"]) for lvl in again["levels"]] == [
        (150, [{"type": "user", "id": ann}])
    ]
    created = admin.post("/console/services/new", {"name": "search", "policy_id": stored["id"]})
    key = re.search(r'<code id="secret">([^<]+)</code>', text(created))
    assert created.status == 200 and key
    # the key shown once is the service's key: an alert sent with it is accepted
    event = {
        "routing_key": key.group(1),
        "event_action": "trigger",
        "payload": {"summary": "search is down", "source": "search", "severity": "critical"},
    }
    alert = call_api("POST", "/v2/enqueue", headers={"content-type": "application/json"}, body=json.dumps(event))
    assert alert.status == 202, alert.raw
    viewer = signed_in(world["viewer"])
    assert "New escalation policy" not in text(viewer.get("/console/services"))
    assert viewer.post("/console/services/new", {"name": "x", "policy_id": stored["id"]}).status == 403


def test_me_sets_notification_rules_and_shows_the_telegram_link_as_a_qr_code(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import segno

    from oncall.settings import get_settings

    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "oncall_demo_bot")
    get_settings.cache_clear()
    wiring.reset()
    wiring.override(clock=world["clock"])
    ann = signed_in(world["ann"])
    page = text(ann.get("/console/me"))
    assert '<option value="telegram" selected>Telegram (not ready)</option>' in page  # the default, not linked
    saved = ann.post(
        "/console/me/notification-rules",
        {
            "rule-page-0": "telegram",
            "rule-page-1": "email",
            "rule-low_urgency-0": "telegram",
            "rule-escalation-0": "email",
            "rule-reminder-0": "email",
        },
    )
    assert saved.status == 303
    rules = ok(call_api("GET", "/me/notification-rules", headers=world["ann"].headers))["rules"]
    assert rules["reminder"] == ["email"] and rules["resolution"] == [] and rules["page"] == ["telegram", "email"]
    muted = ann.post("/console/me/notification-rules", {"rule-reminder-0": "email"})  # pages muted: refused
    assert muted.status == 422 and '<p class="error" role="alert" id="rules-error">' in text(muted)
    assert ok(call_api("GET", "/me/notification-rules", headers=world["ann"].headers))["rules"] == rules
    link = text(ann.post("/console/me/telegram-link"))
    code = re.search(r'<code id="link-code">/start ([A-Za-z0-9_-]+)</code>', link)
    assert code and f"https://t.me/oncall_demo_bot?start={code.group(1)}" in link
    expected = segno.make(f"https://t.me/oncall_demo_bot?start={code.group(1)}", error="m")
    assert expected.svg_inline(scale=4, title="Scan to open the bot") in link


def test_an_admin_changes_a_role_and_disables_someone_from_people(world: dict[str, Any]) -> None:
    admin = signed_in(world["admin"])
    page = text(admin.get("/console/people"))
    vic = world["viewer"].user.id
    assert f'<select id="role-{vic}" name="role">' in page
    assert admin.post(f"/console/people/{vic}/role", {"role": "responder"}).status == 303
    assert ok(call_api("GET", f"/users/{vic}", headers=world["admin"].headers))["role"] == "responder"
    assert admin.post(f"/console/people/{vic}/disable").status == 303
    assert ok(call_api("GET", f"/users/{vic}", headers=world["admin"].headers))["status"] == "disabled"
    assert "Disabled: their sessions and tokens have ended." in text(admin.get("/console/people?done=disabled"))
    # the disabled person's console session ends at the next request
    assert call_api("GET", "/me", headers=world["viewer"].headers).status == 401
    ann = signed_in(world["ann"])
    assert "<select id=" not in text(ann.get("/console/people"))
    assert ann.post(f"/console/people/{vic}/enable").status == 403


def test_my_calendar_feed_alerts_on_the_incident_and_the_team_filter(world: dict[str, Any]) -> None:
    ann = signed_in(world["ann"])
    ann.get("/console/me")
    feed = ann.post("/console/me/calendar-token")
    url = re.search(r'<code id="secret">([^<]+)</code>', text(feed))
    assert feed.status == 200 and url and f"/users/{world['ann'].user.id}/calendar.ics?token=" in url.group(1)
    path = url.group(1).split("://", 1)[-1].split("/", 1)[1]
    calendar = call_api("GET", "/" + path)
    assert calendar.status == 200 and b"BEGIN:VCALENDAR" in calendar.raw
    key = ok(call_api("POST", f"/services/{world['service']['id']}/rotate-key", headers=world["admin"].headers))
    event = {
        "routing_key": key["integration_key"],
        "event_action": "trigger",
        "dedup_key": "disk-1",
        "payload": {"summary": "Disk almost full on db-1", "source": "db-1", "severity": "warning"},
    }
    assert (
        call_api("POST", "/v2/enqueue", headers={"content-type": "application/json"}, body=json.dumps(event)).status
        == 202
    )
    found = ok(call_api("GET", "/incidents", headers=world["ann"].headers))["items"]
    incident = next(i for i in found if i["title"] == "Disk almost full on db-1")
    detail = text(ann.get(f"/console/incidents/{incident['id']}"))
    alerts = re.search(r"<h2>Alerts</h2>\s*<ul class=\"alerts\">(.*?)</ul>", detail, re.S)
    assert alerts and "Disk almost full on db-1" in alerts.group(1)
    # one team: no team filter; an admin who sees two teams may narrow the list to one
    assert 'name="team_id"' not in text(ann.get("/console/incidents"))
    ok(
        call_api(
            "POST",
            "/teams",
            headers={**world["admin"].headers, "content-type": "application/json"},
            body='{"name": "Databases"}',
        ),
        201,
    )
    admin = signed_in(world["admin"])
    listing = text(admin.get("/console/incidents"))
    assert 'name="team_id"' in listing and ">Databases</option>" in listing


def test_odd_forms_are_refused_readably_and_echo_nothing(world: dict[str, Any]) -> None:
    admin = signed_in(world["admin"])
    sid = world["schedule"]["id"]
    admin.get(f"/console/schedules/{sid}")
    crowded = admin.post(f"/console/schedules/{sid}/shifts", {f"f{n}": "x" for n in range(150)})
    assert crowded.status == 413 and "larger than the console accepts" in text(crowded)
    shifts = ok(call_api("GET", f"/schedules/{sid}/shifts?from=2026-03-02T00:00:00Z", headers=world["admin"].headers))
    shift_id = shifts["items"][0]["id"]
    gone = admin.post(f"/console/schedules/{sid}/shifts/{shift_id}/delete", {"start": "x\r\nSet-Cookie: a=b"})
    assert gone.status == 303 and gone.header("location") == f"/console/schedules/{sid}?start=&done=deleted"
    assert call_api("GET", f"/schedules/{sid}/shifts/{shift_id}", headers=world["admin"].headers).status == 404
