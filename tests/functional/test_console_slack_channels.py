"""The console's service and team forms show and edit the Slack channel incidents are posted to: a service's own
channel, or its team's when it names none (which one applies is shown), an emptied field removes it, and a malformed
id comes back as the form with the field named and what was typed kept. Through the real API handler on moto;
assertions are on what the API stores afterwards."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from oncall.domain.users import Role
from tests.support.console import Browser, text
from tests.support.identity import PASSWORD, FakeClock, Session, login_as
from tests.support.incidents import ok, user_level
from tests.support.lambdas import call_api

START = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
TEAM_CHANNEL = "C0TEAM00001"
OWN_CHANNEL = "C0SVC000001"


@pytest.fixture
def clock_start() -> datetime:
    return START


def api(session: Session, method: str, path: str, body: dict[str, Any] | None = None, status: int = 200) -> Any:
    return ok(
        call_api(method, path, headers={**session.headers, "content-type": "application/json"}, body=body), status
    )


@pytest.fixture
def org(admin: Session, clock: FakeClock) -> dict[str, Any]:
    """A team naming a Slack channel, its manager and a plain responder, and one service of the team without one."""
    team = api(admin, "POST", "/teams", {"name": "Payments", "slack_channel": TEAM_CHANNEL}, 201)
    manager = login_as(Role.RESPONDER, teams={team["id"]: "manager"})
    member = login_as(Role.RESPONDER, teams={team["id"]: "responder"})
    policy = api(
        admin,
        "POST",
        "/escalation-policies",
        {"name": "Payments primary", "levels": [user_level(manager.user.id, 300)], "team_id": team["id"]},
        201,
    )
    body = {"name": "checkout", "escalation_policy_id": policy["id"], "team_id": team["id"]}
    service = api(admin, "POST", "/services", body, 201)
    return {"admin": admin, "team": team, "manager": manager, "member": member, "policy": policy, "service": service}


def signed_in(session: Session, page: str) -> Browser:
    browser = Browser()
    got = browser.sign_in(session.user.username, PASSWORD)
    assert got.status == 303, text(got)
    browser.get(page)  # the form's CSRF token, renewed at sign-in
    return browser


def cell(html: str, service_id: str) -> str:
    """The Slack cell of a service's row in the services list."""
    row = re.search(rf'<tr data-service="{service_id}">.*?(<td data-slack=.*?</td>)', html, re.S)
    assert row, html
    return row.group(1)


def stored_service(org: dict[str, Any]) -> dict[str, Any]:
    return api(org["admin"], "GET", f"/services/{org['service']['id']}")  # type: ignore[no-any-return]


def test_a_service_form_shows_the_channel_that_applies_and_sets_and_removes_its_own(org: dict[str, Any]) -> None:
    sid = org["service"]["id"]
    browser = signed_in(org["manager"], "/console/services")
    listing = text(browser.get("/console/services"))
    assert cell(listing, sid) == f'<td data-slack="team"><code>{TEAM_CHANNEL}</code> <small>(the team\'s)</small></td>'

    form = text(browser.get(f"/console/services/{sid}"))
    assert 'name="slack_channel" value=""' in form
    assert f"Empty: its team's channel applies, <code>{TEAM_CHANNEL}</code> (Payments)" in form
    assert f"Incidents are posted now to: <code>{TEAM_CHANNEL}</code> (the team&#39;s channel)" in form

    # a channel name instead of an id: the form again, the field named, everything typed kept, nothing stored
    typed = {"name": "checkout-api", "policy_id": org["policy"]["id"], "description": "the shop's API"}
    refused = browser.post(f"/console/services/{sid}", {**typed, "slack_channel": "#payments"})
    html = text(refused)
    assert refused.status == 422, html
    error = re.search(r'<p class="error" role="alert" id="service-error">(.*?)</p>', html, re.S)
    assert error and "(slack_channel)" in error.group(1)
    assert 'value="#payments"' in html and 'value="checkout-api"' in html and 'value="the shop&#39;s API"' in html
    assert re.search(r'<input id="s-slack"[^>]*aria-invalid="true"', html)
    assert "Traceback" not in html
    assert stored_service(org)["slack_channel"] is None and stored_service(org)["name"] == "checkout"

    saved = browser.post(f"/console/services/{sid}", {**typed, "slack_channel": f" {OWN_CHANNEL} "})
    assert saved.status == 303 and saved.header("location") == "/console/services?done=service"
    after = stored_service(org)
    assert (after["slack_channel"], after["name"], after["description"]) == (
        OWN_CHANNEL,
        "checkout-api",
        "the shop's API",
    )
    listing = text(browser.get("/console/services?done=service"))
    assert "Service saved." in listing
    assert cell(listing, sid) == f'<td data-slack="service"><code>{OWN_CHANNEL}</code></td>'
    form = text(browser.get(f"/console/services/{sid}"))
    assert f'name="slack_channel" value="{OWN_CHANNEL}"' in form
    assert f"Incidents are posted now to: <code>{OWN_CHANNEL}</code> (this service&#39;s own channel)" in form

    # emptied: the service names none again and the team's channel applies; an emptied description goes too
    cleared = browser.post(f"/console/services/{sid}", {**typed, "description": "", "slack_channel": ""})
    assert cleared.status == 303
    after = stored_service(org)
    assert (after["slack_channel"], after["description"]) == (None, None)
    assert 'data-slack="team"' in cell(text(browser.get("/console/services")), sid)


def test_a_new_service_takes_a_channel_and_a_bad_one_is_refused_in_place(org: dict[str, Any]) -> None:
    browser = signed_in(org["admin"], "/console/services")
    form = {"name": "ledger", "policy_id": org["policy"]["id"], "slack_channel": "payments"}
    refused = browser.post("/console/services/new", form)
    html = text(refused)
    assert refused.status == 422 and "(slack_channel)" in html
    assert 'value="payments"' in html and 'value="ledger"' in html
    assert re.search(r'<input id="s-slack"[^>]*aria-invalid="true"', html)
    names = [s["name"] for s in api(org["admin"], "GET", "/services")["items"]]
    assert "ledger" not in names

    made = browser.post("/console/services/new", {**form, "slack_channel": "G0PRIVATE01"})
    assert made.status == 200 and "Integration key for ledger" in text(made)
    (ledger,) = [s for s in api(org["admin"], "GET", "/services")["items"] if s["name"] == "ledger"]
    assert ledger["slack_channel"] == "G0PRIVATE01"
    # made by an admin without a team, it is the default team's, which names no channel: its own applies
    assert (
        cell(text(browser.get("/console/services")), ledger["id"])
        == '<td data-slack="service"><code>G0PRIVATE01</code></td>'
    )


def test_a_team_member_who_does_not_manage_it_gets_no_form_and_a_forged_post_changes_nothing(
    org: dict[str, Any],
) -> None:
    sid = org["service"]["id"]
    browser = signed_in(org["member"], "/console/services")
    listing = text(browser.get("/console/services"))
    assert f'/console/services/{sid}"' not in listing and f"<code>{TEAM_CHANNEL}</code>" in listing
    forged = browser.post(
        f"/console/services/{sid}", {"name": "checkout", "policy_id": org["policy"]["id"], "slack_channel": OWN_CHANNEL}
    )
    assert forged.status == 403
    assert stored_service(org)["slack_channel"] is None
    teams = text(browser.get("/console/teams"))
    assert f"<code>{TEAM_CHANNEL}</code>" in teams and f'href="/console/teams/{org["team"]["id"]}"' not in teams
    assert browser.post(f"/console/teams/{org['team']['id']}", {"name": "Payments", "slack_channel": ""}).status == 403
    assert api(org["admin"], "GET", f"/teams/{org['team']['id']}")["slack_channel"] == TEAM_CHANNEL


def test_a_team_form_sets_changes_and_removes_the_teams_channel(org: dict[str, Any]) -> None:
    tid = org["team"]["id"]
    browser = signed_in(org["manager"], "/console/teams")
    listing = text(browser.get("/console/teams"))
    assert f'href="/console/teams/{tid}"' in listing and "Add a team" not in listing  # only admins add teams
    form = text(browser.get(f"/console/teams/{tid}"))
    assert f'name="slack_channel" value="{TEAM_CHANNEL}"' in form
    assert f"checkout: the team's channel, <code>{TEAM_CHANNEL}</code>" in form

    refused = browser.post(
        f"/console/teams/{tid}", {"name": "Payments team", "description": "", "slack_channel": "c0lower01"}
    )
    html = text(refused)
    assert refused.status == 422, html
    error = re.search(r'<p class="error" role="alert" id="team-error">(.*?)</p>', html, re.S)
    assert error and "(slack_channel)" in error.group(1)
    assert 'value="c0lower01"' in html and 'value="Payments team"' in html
    assert re.search(r'<input id="t-slack"[^>]*aria-invalid="true"', html)
    assert api(org["admin"], "GET", f"/teams/{tid}")["slack_channel"] == TEAM_CHANNEL

    changed = browser.post(
        f"/console/teams/{tid}", {"name": "Payments", "description": "", "slack_channel": "C0NEWCHAN1"}
    )
    assert changed.status == 303 and changed.header("location") == "/console/teams?done=team"
    assert api(org["admin"], "GET", f"/teams/{tid}")["slack_channel"] == "C0NEWCHAN1"
    assert "Team saved." in text(browser.get("/console/teams?done=team"))

    removed = browser.post(f"/console/teams/{tid}", {"name": "Payments", "description": "", "slack_channel": ""})
    assert removed.status == 303
    assert api(org["admin"], "GET", f"/teams/{tid}")["slack_channel"] is None
    form = text(browser.get(f"/console/teams/{tid}"))
    assert "checkout: nowhere (neither it nor the team names a channel)" in form
    assert 'data-slack="none"' in text(browser.get("/console/services"))


def test_an_admin_adds_a_team_with_a_channel_from_the_console(org: dict[str, Any]) -> None:
    browser = signed_in(org["admin"], "/console/teams")
    refused = browser.post("/console/teams/new", {"name": "Search", "slack_channel": "X123"})
    html = text(refused)
    assert refused.status == 422 and "(slack_channel)" in html and 'value="Search"' in html and 'value="X123"' in html
    assert [t for t in api(org["admin"], "GET", "/teams")["items"] if t["name"] == "Search"] == []
    made = browser.post("/console/teams/new", {"name": "Search", "description": "", "slack_channel": "C0SEARCH01"})
    assert made.status == 303
    (search,) = [t for t in api(org["admin"], "GET", "/teams")["items"] if t["name"] == "Search"]
    assert (search["slack_channel"], search["description"]) == ("C0SEARCH01", None)
