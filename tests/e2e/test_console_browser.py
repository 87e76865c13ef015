"""The console in a real headless Chromium against the local runner: what a person does, checked on what the API
stores afterwards. Every page is also photographed at 1280 and 375 px into ``.artifacts/console-screenshots``.

What the browser asked for is recorded: no request may leave the runner's origin (no CDN, no fonts, no analytics).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from tests.e2e.launch import PRODUCT_TOPOLOGY, Runner, ok, start_runner
from tests.support.browser import FLAGS, SCREENSHOTS, chromium

pytestmark = pytest.mark.e2e

ADMIN = {"username": "console-admin", "password": "console admin passphrase"}
ANN = {"username": "ann", "password": "ann's long passphrase", "display_name": "Ann Example", "role": "responder"}
VIC = {"username": "vic", "password": "vic's long passphrase", "display_name": "Vic Viewer", "role": "viewer"}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    env = {"ONCALL_ADMIN_USERNAME": ADMIN["username"], "ONCALL_ADMIN_PASSWORD": ADMIN["password"]}
    r = start_runner(tmp_path_factory.mktemp("console-runner"), topology=PRODUCT_TOPOLOGY, env=env)
    try:
        yield r
    finally:
        r.stop()


def bearer(product: Runner, who: dict[str, str]) -> dict[str, str]:
    body = {"username": who["username"], "password": who["password"]}
    return {"Authorization": f"Bearer {ok(product.post('/auth/login', body))['access_token']}"}


@pytest.fixture(scope="module")
def world(product: Runner) -> dict[str, Any]:
    admin = bearer(product, ADMIN)
    ann = ok(product.post("/users", ANN, headers=admin), 201)
    vic = ok(product.post("/users", VIC, headers=admin), 201)
    schedule = ok(product.post("/schedules", {"name": "Platform primary", "timezone": "UTC"}, headers=admin), 201)
    now = datetime.now(UTC).replace(microsecond=0)
    shift = {
        "user_id": ann["id"],
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=3)).isoformat(),
    }
    ok(product.post(f"/schedules/{schedule['id']}/shifts", shift, headers=admin), 201)
    levels = [{"timeout_seconds": 300, "targets": [{"type": "user", "id": ann["id"]}]}]
    policy = ok(product.post("/escalation-policies", {"name": "Platform", "levels": levels}, headers=admin), 201)
    service = ok(
        product.post("/services", {"name": "checkout", "escalation_policy_id": policy["id"]}, headers=admin), 201
    )
    return {"admin": admin, "ann": ann, "vic": vic, "schedule": schedule, "service": service, "now": now}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium()  # None: Playwright's own Chromium, which `make test` installs where there is no other
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=executable, args=FLAGS)
        except PlaywrightError as exc:
            pytest.fail(f"no Chromium to drive: run `make test` (it installs one) or set ONCALL_CHROMIUM\n{exc}")
        try:
            yield b
        finally:
            b.close()


class Visit:
    """A browser context (its own cookies) that records every request it makes."""

    def __init__(self, browser: Any, base: str, width: int = 1280) -> None:
        self.base = base
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, who: dict[str, str]) -> None:
        self.go("/")
        self.page.get_by_label("Username").fill(who["username"])
        self.page.get_by_label("Password").fill(who["password"])
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(re.compile(r".*/console$"))

    def shoot(self, name: str) -> None:
        """This page at 1280 and 375 px, and at 375 px nothing may be wider than the phone; every control on it has a
        label a screen reader announces."""
        unlabelled = self.page.evaluate(
            """() => [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button")]
                 .filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                               && !(el.tagName === "BUTTON" && el.textContent.trim()))
                 .map(el => el.outerHTML.slice(0, 80))"""
        )
        assert unlabelled == [], f"{name}: controls without a label: {unlabelled}"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width in (1280, 375):
            self.page.set_viewport_size({"width": width, "height": 900})
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)
            if width == 375:
                overflow = self.page.evaluate("document.documentElement.scrollWidth")
                assert overflow <= 375, f"{name} is {overflow}px wide on a 375px phone"
        self.page.set_viewport_size({"width": 1280, "height": 900})

    def close(self) -> None:
        self.context.close()


def test_a_responder_signs_in_sees_who_is_on_call_and_plans_the_calendar(
    product: Runner, world: dict[str, Any], browser: Any
) -> None:
    visit = Visit(browser, product.http)
    try:
        login = visit.go("/")
        assert visit.page.url.endswith("/console/login?next=/console")
        headers = login.all_headers()
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        visit.shoot("sign-in")
        visit.page.get_by_label("Username").fill(ANN["username"])
        visit.page.get_by_label("Password").fill("not the password")
        visit.page.get_by_role("button", name="Sign in").click()
        assert visit.page.get_by_role("alert").inner_text() == "Wrong username or password."
        visit.sign_in(ANN)
        row = visit.page.locator(f'tr[data-schedule="{world["schedule"]["id"]}"] td.oncall')
        assert row.inner_text() == "Ann Example"
        visit.shoot("now")
        cookies = {c["name"]: c for c in visit.context.cookies()}
        for name in ("__Host-och_session", "__Host-och_refresh", "__Host-och_csrf"):
            assert cookies[name]["httpOnly"] and cookies[name]["secure"] and cookies[name]["sameSite"] == "Lax"

        visit.page.get_by_role("link", name="Schedules").click()
        visit.shoot("schedules")
        visit.page.get_by_role("link", name="Platform primary").click()
        day = (world["now"] + timedelta(days=2)).date()
        visit.page.get_by_label("Person", exact=True).select_option(label="Ann Example")
        visit.page.get_by_label("Start", exact=True).fill(f"{day}T09:00")
        visit.page.get_by_label("End", exact=True).fill(f"{day}T17:00")
        visit.page.get_by_role("button", name="Add shift").click()
        assert visit.page.get_by_role("status").inner_text() == "Shift saved."
        assert visit.page.locator(f'li[data-date="{day}"] .person').inner_text() == "Ann Example"
        visit.page.get_by_label("Person", exact=True).select_option(label="Ann Example")
        visit.page.get_by_label("Start", exact=True).fill(f"{day}T16:00")
        visit.page.get_by_label("End", exact=True).fill(f"{day}T20:00")
        visit.page.get_by_role("button", name="Add shift").click()
        error = visit.page.locator("#shift-error").inner_text()
        assert error.startswith("This overlaps Ann Example's shift") and "09:00" in error
        visit.shoot("calendar-overlap")
        stored = ok(
            product.get(
                f"/schedules/{world['schedule']['id']}/shifts",
                params={"from": f"{day}T00:00:00Z", "to": f"{day}T23:59:59Z"},
                headers=world["admin"],
            )
        )
        assert [(s["start"], s["end"]) for s in stored["items"]] == [(f"{day}T09:00:00Z", f"{day}T17:00:00Z")]
        assert all(urlsplit(u).netloc == urlsplit(product.http).netloc for u in visit.requests), visit.requests
    finally:
        visit.close()


def test_an_incident_appears_live_and_is_acknowledged_from_the_page(
    product: Runner, world: dict[str, Any], browser: Any
) -> None:
    visit = Visit(browser, product.http)
    try:
        visit.sign_in(ANN)
        visit.go("/console/incidents")
        visit.page.evaluate("window.stillThisPage = true")
        title = "Checkout error rate above 5%"
        incident = ok(
            product.post(
                "/incidents",
                {"title": title, "service_id": world["service"]["id"], "severity": "high"},
                headers=world["admin"],
            ),
            201,
        )
        link = visit.page.get_by_role("link", name=title)
        link.wait_for(state="visible", timeout=5_000)  # polled in, within 5 s
        assert visit.page.evaluate("window.stillThisPage") is True  # no reload happened
        visit.shoot("incidents")
        link.click()
        visit.shoot("incident")
        # keyboard only: Tab to the Acknowledge button and press Enter
        for _ in range(40):
            visit.page.keyboard.press("Tab")
            if visit.page.evaluate("document.activeElement.textContent.trim()") == "Acknowledge":
                break
        else:
            pytest.fail("Acknowledge cannot be reached with the keyboard")
        visit.page.keyboard.press("Enter")
        visit.page.wait_for_url(re.compile(r".*done=acknowledge$"))
        assert visit.page.locator("#incident-status").inner_text() == "acknowledged"
        assert ok(product.get(f"/incidents/{incident['id']}", headers=world["admin"]))["status"] == "acknowledged"
        # a form post without the CSRF token is refused, and changes nothing
        refused = visit.page.evaluate(
            """async (path) => (await fetch(path, {method: "POST", body: new URLSearchParams({})})).status""",
            f"/console/incidents/{incident['id']}/resolve",
        )
        assert refused == 403
        assert ok(product.get(f"/incidents/{incident['id']}", headers=world["admin"]))["status"] == "acknowledged"
        for path, name in (
            ("/console/services", "services"),
            ("/console/analytics", "analytics"),
            ("/console/people", "people"),
            ("/console/policies/new", "policy"),
            ("/console/me", "me"),
        ):
            assert visit.go(path).status == 200
            visit.shoot(name)
        assert all(urlsplit(u).netloc == urlsplit(product.http).netloc for u in visit.requests), visit.requests

        # sign out: the session is over, and going back shows no data
        visit.page.get_by_role("button", name="Sign out").click()
        visit.page.wait_for_url(re.compile(r".*/console/login\?done=signed-out$"))
        visit.page.go_back()
        visit.page.wait_for_load_state()
        assert "/console/login" in visit.page.url
        assert title not in visit.page.content()
    finally:
        visit.close()


def test_a_responder_verifies_a_phone_and_is_paged_by_slack_then_sms_with_a_copy_by_sms(
    product: Runner, world: dict[str, Any], browser: Any
) -> None:
    visit = Visit(browser, product.http)
    number = "+15550142017"  # the runner's SNS counts numbers ending in 99 as opted out; this one is not
    try:
        visit.sign_in(ANN)
        visit.go("/console/me")
        sms = visit.page.locator('tr[data-channel="sms"]')
        assert sms.get_attribute("data-state") == "not_set_up"
        visit.page.get_by_label("Your mobile number").fill(number)
        visit.page.get_by_role("button", name="Text me a code").click()
        visit.page.wait_for_url(re.compile(r".*done=phone-code#phone$"))
        assert sms.get_attribute("data-state") == "pending"
        texted = ok(product.get("/_local/sms", params={"to": number}))["items"]
        code = re.search(r"\b(\d{6})\b", texted[-1]["text"])
        assert code, texted
        visit.page.get_by_label(f"Code texted to {number}").fill(code.group(1))
        visit.page.get_by_role("button", name="Verify").click()
        visit.page.wait_for_url(re.compile(r".*done=phone#phone$"))
        assert visit.page.locator("#phone-number").inner_text() == number
        assert sms.get_attribute("data-state") == "ready"

        visit.page.get_by_label("page: 1st choice").select_option("slack")
        visit.page.get_by_label("page: 2nd choice").select_option("sms")
        visit.page.get_by_label("page: 3rd choice").select_option("")
        visit.page.get_by_label("page: 4th choice").select_option("")
        visit.page.locator("#also-page-sms").check()
        visit.page.get_by_role("button", name="Save notification rules").click()
        visit.page.wait_for_url(re.compile(r".*done=rules$"))
        assert visit.page.get_by_role("status").inner_text() == "Notification rules saved."
        # Slack is not linked, so pages go by SMS now, and the page says so
        assert visit.page.locator('tr[data-kind="page"] td').last.inner_text() == "SMS"
        visit.shoot("me-channels")
        stored = ok(product.get("/me/notification-rules", headers=bearer(product, ANN)))
        assert stored["rules"]["page"] == ["slack", "sms"] and stored["also"]["page"] == ["sms"]
        assert {c["name"]: c["state"] for c in stored["channels"]}["sms"] == "ready"
        assert ok(product.get("/me/phone", headers=bearer(product, ANN))) == {
            "number": number,
            "pending": None,
            "code_expired": False,
        }
        assert all(urlsplit(u).netloc == urlsplit(product.http).netloc for u in visit.requests), visit.requests
    finally:
        visit.close()


def test_a_viewer_sees_no_action_buttons(product: Runner, world: dict[str, Any], browser: Any) -> None:
    incident = ok(
        product.post(
            "/incidents",
            {"title": "Queue depth growing", "service_id": world["service"]["id"], "severity": "low"},
            headers=world["admin"],
        ),
        201,
    )
    visit = Visit(browser, product.http)
    try:
        visit.sign_in(VIC)
        visit.go(f"/console/incidents/{incident['id']}")
        assert visit.page.get_by_role("heading", name="Queue depth growing").is_visible()
        assert visit.page.get_by_role("button", name="Acknowledge").count() == 0
        assert visit.page.get_by_role("button", name="Resolve").count() == 0
        visit.go(f"/console/schedules/{world['schedule']['id']}")
        assert visit.page.get_by_role("button", name="Add shift").count() == 0
    finally:
        visit.close()


def test_the_console_cannot_be_framed_by_another_site(product: Runner, browser: Any) -> None:
    visit = Visit(browser, product.http)
    try:
        # about:blank is another origin: frame-ancestors 'none' (and X-Frame-Options) must keep the console out
        visit.page.set_content(f'<iframe id="f" src="{product.http}/console/login"></iframe>')
        visit.page.wait_for_timeout(500)
        framed = visit.page.frames[1]
        assert "Sign in" not in framed.content()
    finally:
        visit.close()
