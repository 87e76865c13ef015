"""``make demo``: a realistic small organisation in a running local instance, and a short scenario to watch.

Everything goes through the product's public doors (the HTTP API, PagerDuty Events v2 intake, the Telegram sandbox,
the runner's clock), so what the console shows afterwards is what a real team would see:

- a dozen people (each with a Telegram chat linked in the sandbox), three schedules with rotations, two escalation
  policies, three services with integration keys;
- a week of past incidents for *Analytics*, played in fast-forward: the runner's one clock is advanced through the
  week (it only moves forward, so afterwards the instance's "now" is a week ahead of the wall clock; every part of
  the product shares that clock, so nothing is inconsistent);
- a scenario: an alert opens an incident, the on-call person is paged in the Telegram sandbox and presses
  Acknowledge; a second alert goes unanswered and escalates to the next level; the first is resolved by its source.

Idempotent: people, schedules, policies and services are found by name and made only when missing, and the week of
history is played only into an instance without incidents; the scenario plays again on each run. It refuses any
target that is not the local runner (``/_local/workers`` must answer) unless ``--not-local-i-know``.

    python -m infra.local.demo [--url http://127.0.0.1:8000] [--username admin] [--password ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from typing import Any

PEOPLE = [
    ("amara", "Amara Okafor", "responder"),
    ("bruno", "Bruno Costa", "responder"),
    ("chen", "Chen Wei", "responder"),
    ("dana", "Dana Levi", "responder"),
    ("emil", "Emil Novak", "responder"),
    ("farah", "Farah Haddad", "responder"),
    ("goran", "Goran Petrov", "responder"),
    ("hana", "Hana Sato", "responder"),
    ("ines", "Inês Moreira", "responder"),
    ("jonas", "Jonas Berg", "responder"),
    ("kofi", "Kofi Mensah", "viewer"),
    ("lena", "Lena Fischer", "admin"),
]
#: the demo people's passwords (a demo on the local runner only; printed at the end so anyone can sign in)
PASSWORD = "demo passphrase {}"  # noqa: S105
CHAT_BASE = 7000
SCHEDULES = [
    ("Platform primary", ["amara", "bruno", "chen", "dana"], "weekly"),
    ("Platform secondary", ["emil", "farah", "goran", "hana"], "weekly"),
    ("Database", ["ines", "jonas", "lena"], "daily"),
]
POLICIES = [
    ("Platform", ["Platform primary", "Platform secondary"]),
    ("Database", ["Database", "Platform secondary"]),
]
SERVICES = [("checkout", "Platform"), ("payments", "Platform"), ("orders-db", "Database")]
HISTORY = [
    "Checkout error rate above 5%",
    "Payment provider timeouts",
    "orders-db replica lag over 30 s",
    "Checkout p99 latency above 2 s",
    "Card authorisations failing for one issuer",
    "orders-db connections near the limit",
    "Disk 90% full on orders-db primary",
]


class Expired(Exception):
    pass


class Demo:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.headers: dict[str, str] = {}
        self.admin: tuple[str, str] | None = None

    def sign_in(self, username: str, password: str) -> None:
        self.admin = (username, password)
        self.headers = self.login(username, password)

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        try:
            return self._call(method, path, body, headers)
        except Expired:
            # the fast-forward outran the admin's 15-minute access token: sign in again, as a person would
            assert self.admin is not None
            self.sign_in(*self.admin)
            return self._call(method, path, body, headers)

    def _call(self, method: str, path: str, body: Any, headers: dict[str, str] | None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310  # the local runner, or a URL the operator insisted on
            self.url + path,
            data=data,
            method=method,
            headers={"content-type": "application/json", **self.headers, **(headers or {})},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 401 and headers is None and self.admin is not None:
                raise Expired from None
            raise SystemExit(f"{method} {path} answered {exc.code}: {exc.read().decode(errors='replace')}") from None
        return json.loads(raw) if raw else None

    def all(self, path: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = self.call("GET", f"{path}{'&' if '?' in path else '?'}limit=200{cursor}")
            out += page["items"]
            if not page.get("next_cursor"):
                return out
            cursor = f"&cursor={page['next_cursor']}"

    def login(self, username: str, password: str) -> dict[str, str]:
        body = {"username": username, "password": password}
        token = self._call("POST", "/auth/login", body, {})["access_token"]
        return {"Authorization": f"Bearer {token}"}

    def advance(self, minutes: float) -> None:
        # catch_up 1: each schedule fires once for the jump (as after an outage), not once per minute jumped over
        self.call("POST", "/_local/clock", {"advance": f"PT{int(minutes * 60)}S", "catch_up": 1})


def is_local(demo: Demo) -> bool:
    try:
        with urllib.request.urlopen(demo.url + "/_local/workers", timeout=5) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def organisation(demo: Demo) -> dict[str, Any]:
    users = {u["username"]: u for u in demo.all("/users")}
    for username, name, role in PEOPLE:
        if username not in users:
            body: dict[str, Any] = {
                "username": username,
                "password": PASSWORD.format(username),
                "display_name": name,
                "role": role,
            }
            users[username] = demo.call("POST", "/users", body)
    for n, (username, _, _) in enumerate(PEOPLE):
        if not users[username]["telegram_linked"]:
            code = demo.call("POST", f"/users/{users[username]['id']}/telegram-link")["code"]
            demo.call("POST", "/_local/telegram/send", {"chat_id": CHAT_BASE + n, "text": f"/start {code}"})
    schedules = {s["name"]: s for s in demo.all("/schedules")}
    for name, members, period in SCHEDULES:
        if name not in schedules:
            schedules[name] = demo.call("POST", "/schedules", {"name": name, "timezone": "Europe/Berlin"})
            start = time.strftime("%Y-%m-%dT09:00:00Z", time.gmtime(time.time() - 8 * 86400))
            rotation = {
                "name": f"{name} {period}",
                "participants": [users[m]["id"] for m in members],
                "start": start,
                "period": period,
                "timezone": "Europe/Berlin",
            }
            demo.call("POST", f"/schedules/{schedules[name]['id']}/rotations", rotation)
    policies = {p["name"]: p for p in demo.all("/escalation-policies")}
    for name, levels in POLICIES:
        if name not in policies:
            policy_body: dict[str, Any] = {
                "name": name,
                "levels": [
                    {"timeout_seconds": 300, "targets": [{"type": "schedule", "id": schedules[s]["id"]}]}
                    for s in levels
                ],
                "repeat": 1,
            }
            policies[name] = demo.call("POST", "/escalation-policies", policy_body)
    services = {s["name"]: s for s in demo.all("/services")}
    keys: dict[str, str] = {}
    for name, policy in SERVICES:
        if name not in services:
            made = demo.call("POST", "/services", {"name": name, "escalation_policy_id": policies[policy]["id"]})
            services[name], keys[name] = made, made["integration_key"]
    return {"users": users, "schedules": schedules, "services": services, "keys": keys}


def history(demo: Demo, org: dict[str, Any], days: int = 7) -> int:
    """Three incidents a day for ``days`` days, each acknowledged and resolved by a responder, in fast-forward."""
    if demo.call("GET", "/incidents?limit=1")["items"]:
        return 0
    rng = random.Random(7)  # noqa: S311  # the same week every time; nothing secret
    services = list(org["services"].values())
    responders = [u for u in org["users"].values() if u["role"] == "responder"]
    made = 0
    for day in range(days):
        for _ in range(3):
            demo.advance(rng.uniform(60, 420))
            service = rng.choice(services)
            body = {
                "title": rng.choice(HISTORY),
                "service_id": service["id"],
                "severity": rng.choice(["critical", "high", "high", "medium", "low"]),
            }
            incident = demo.call("POST", "/incidents", body)
            who = rng.choice(responders)
            password = PASSWORD.format(who["username"])
            demo.advance(rng.choice([1, 2, 3, 4, 6, 9, 14]))
            demo.call("POST", f"/incidents/{incident['id']}/acknowledge", headers=demo.login(who["username"], password))
            demo.advance(rng.choice([8, 15, 25, 40, 70, 120, 240]))
            demo.call("POST", f"/incidents/{incident['id']}/resolve", headers=demo.login(who["username"], password))
            made += 1
        print(f"  day {day + 1}/{days} played", flush=True)
    return made


def wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


def scenario(demo: Demo, org: dict[str, Any], key_of: dict[str, str]) -> dict[str, str]:
    """An alert pages the on-call person, who acknowledges from Telegram; another escalates; the first resolves."""
    usernames = [p[0] for p in PEOPLE]
    chats = {CHAT_BASE + usernames.index(u["username"]): u for u in org["users"].values() if u["username"] in usernames}
    run = str(int(time.time()))
    opened: dict[str, str] = {}
    for service, summary in (("checkout", "Checkout error rate above 5%"), ("orders-db", "orders-db primary down")):
        event = {
            "routing_key": key_of[service],
            "event_action": "trigger",
            "dedup_key": f"demo-{service}-{run}",
            "payload": {"summary": summary, "source": f"{service}.prod", "severity": "critical"},
        }
        demo.call("POST", "/v2/enqueue", event)

        def found(service_id: str = org["services"][service]["id"], title: str = summary) -> str | None:
            items = demo.call("GET", f"/incidents?service_id={service_id}&status=triggered&limit=5")["items"]
            return next((i["id"] for i in items if i["title"] == title), None)

        opened[service] = wait_for(found, f"the {service} incident")
    first = opened["checkout"]

    def paged() -> tuple[int, str] | None:
        for entry in demo.call("GET", "/_local/telegram/outbox")["items"]:
            if entry.get("method") == "sendMessage" and first in str(entry.get("reply_markup", "")):
                return int(entry["chat_id"]), str(entry.get("text", ""))
        return None

    chat, _ = wait_for(paged, "the page in the Telegram sandbox")
    demo.call("POST", "/_local/telegram/send", {"chat_id": chat, "callback_data": f"inc:ack:{first}"})
    acked = demo.call("GET", f"/incidents/{first}")
    who = chats[chat]["display_name"] if chat in chats else str(chat)
    print(f"  paged {who} in Telegram chat {chat}; the button press left it {acked['status']}")
    second = opened["orders-db"]

    def paged_at(level: int) -> str | None:
        timeline = demo.call("GET", f"/incidents/{second}/timeline")["items"]
        pages = [e["text"] for e in timeline if e["kind"] == "page" and f"(level {level})" in e["text"]]
        return pages[0] if pages else None

    # the first level's wait starts when its page is out; only then does a jump past it mean "nobody answered"
    wait_for(lambda: paged_at(1), "the first level's page")
    demo.advance(6)  # past the first level's 5 minutes: orders-db escalates to Platform secondary

    def escalated() -> str | None:
        return paged_at(2)

    print(f"  orders-db went unanswered for 6 minutes and escalated: {wait_for(escalated, 'the escalation')}")
    event = {"routing_key": key_of["checkout"], "event_action": "resolve", "dedup_key": f"demo-checkout-{run}"}
    demo.call("POST", "/v2/enqueue", event)
    wait_for(lambda: demo.call("GET", f"/incidents/{first}")["status"] == "resolved", "the resolve")
    print("  the checkout alert resolved at its source: the incident is resolved")
    return opened


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.local.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("URL") or "http://127.0.0.1:8000")
    parser.add_argument("--username", default=os.environ.get("ONCALL_ADMIN_USERNAME") or "admin")
    parser.add_argument("--password", default=os.environ.get("ONCALL_ADMIN_PASSWORD"))
    parser.add_argument("--days", type=int, default=7, help="days of past incidents to play (first run only)")
    parser.add_argument("--not-local-i-know", action="store_true", help="allow a target that is not the local runner")
    args = parser.parse_args(argv)
    demo = Demo(args.url)
    if not is_local(demo) and not args.not_local_i_know:
        print(
            f"{args.url} is not a local runner (no /_local/workers): refusing to fill it with demo data",
            file=sys.stderr,
        )
        return 2
    if not args.password:
        print("the admin's password is needed: ONCALL_ADMIN_PASSWORD=... make demo (or --password)", file=sys.stderr)
        return 2
    demo.sign_in(args.username, args.password)
    print("organisation: people, schedules with rotations, policies, services")
    org = organisation(demo)
    keys = dict(org["keys"])
    for name in ("checkout", "orders-db"):
        if name not in keys:  # made by an earlier run: a fresh key (the old one keeps working for an hour)
            keys[name] = demo.call("POST", f"/services/{org['services'][name]['id']}/rotate-key")["integration_key"]
    print("history: a week of incidents in fast-forward (first run only)")
    print(f"  {history(demo, org, args.days)} incidents played")
    print("scenario:")
    opened = scenario(demo, org, keys)
    print(
        f"\nOpen {demo.url}/ and sign in as {args.username} (or e.g. amara / '{PASSWORD.format('amara')}').\n"
        f"  Now        who is on call on the three schedules, open incidents by severity\n"
        f"  Incidents  {demo.url}/console/incidents/{opened['orders-db']} (escalated), "
        f"{demo.url}/console/incidents/{opened['checkout']} (acknowledged in Telegram, resolved by its source)\n"
        f"  Schedules  the rotations as a calendar; add an override and see overlaps refused in place\n"
        f"  Analytics  the week just played: MTTA/MTTR p50/p90 per day\n"
        f"  Telegram   {demo.url}/_local/telegram/outbox shows every page the sandbox bot sent"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
