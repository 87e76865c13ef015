"""A PagerDuty REST API v2 on 127.0.0.1 for the importer's tests: the documented answers for the account in
``tests.fixtures.pagerduty_account``, classic ``offset``/``limit``/``more`` pagination (pages of at most
``page_cap``, so every listing of the account takes several pages), ``Authorization: Token token=…`` checked in
constant time, and faults on demand (401, 429 with Retry-After, 5xx, a truncated body).

``GET /oncalls`` is computed here from the schedules, by PagerDuty's documented rules and independently of our
rotation code: overrides first, then layers by precedence (the first listed wins where it is active and, when it has
restrictions, inside one of them); a turn of whole days hands over at the same local time in the schedule's zone,
any other turn after elapsed time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from tests.fixtures.pagerduty_account import account, ref
from tests.support.fake_vendor import FakeVendorApi

TOKEN = "u+fake-pagerduty-token-0123456789"
STEP = timedelta(minutes=15)


def _ts(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)


def _index(layer: dict[str, Any], at: datetime, tz: ZoneInfo) -> int:
    turn = int(layer["rotation_turn_length_seconds"])
    vs = _ts(layer["rotation_virtual_start"])
    if turn % 86400 == 0:
        wall = at.astimezone(tz).replace(tzinfo=None) - vs.astimezone(tz).replace(tzinfo=None)
        return int(wall // timedelta(seconds=turn))
    return int((at - vs) // timedelta(seconds=turn))


def _restricted_in(restrictions: list[dict[str, Any]], at: datetime, tz: ZoneInfo) -> bool:
    local = at.astimezone(tz).replace(tzinfo=None)
    for r in restrictions:
        h, m, s = (int(x) for x in r["start_time_of_day"].split(":"))
        length = timedelta(seconds=int(r["duration_seconds"]))
        if r["type"] == "daily_restriction":
            starts = [local.replace(hour=h, minute=m, second=s) - timedelta(days=d) for d in (0, 1)]
        else:
            day = local.replace(hour=h, minute=m, second=s)
            back = (local.isoweekday() - int(r["start_day_of_week"])) % 7
            starts = [day - timedelta(days=back + 7 * w) for w in (0, 1)]
        if any(st <= local < st + length for st in starts):
            return True
    return False


def who(data: dict[str, Any], schedule: dict[str, Any], at: datetime) -> str | None:
    for o in data["overrides"].get(schedule["id"], []):
        if _ts(o["start"]) <= at < _ts(o["end"]):
            return str(o["user"]["id"])
    tz = ZoneInfo(schedule["time_zone"])
    for layer in schedule["schedule_layers"]:
        if at < _ts(layer["start"]) or (layer["end"] and at >= _ts(layer["end"])):
            continue
        if layer["restrictions"] and not _restricted_in(layer["restrictions"], at, tz):
            continue
        people = layer["users"]
        return str(people[_index(layer, at, tz) % len(people)]["user"]["id"])
    return None


def oncalls(data: dict[str, Any], schedule_ids: list[str], since: datetime, until: datetime) -> list[dict[str, Any]]:
    out = []
    for schedule in data["schedules"]:
        if schedule["id"] not in schedule_ids:
            continue
        policy = next(
            (p for p in data["escalation_policies"] for r in p["escalation_rules"] for t in r["targets"]
             if t["id"] == schedule["id"]),
            None,
        )  # fmt: skip
        at = since
        current, began = who(data, schedule, at), at
        while at < until:
            at = min(at + STEP, until)
            now = who(data, schedule, at) if at < until else None
            if now != current or at >= until:
                if current is not None:
                    out.append(
                        {
                            "escalation_policy": ref("escalation_policy", policy["id"]) if policy else None,
                            "escalation_level": 1,
                            "schedule": ref("schedule", schedule["id"]),
                            "user": ref("user", current),
                            "start": began.isoformat().replace("+00:00", "Z"),
                            "end": at.isoformat().replace("+00:00", "Z"),
                        }
                    )
                current, began = now, at
    return out


class FakePagerDuty(FakeVendorApi):
    authorization = f"Token token={TOKEN}"
    unauthorized: ClassVar[dict[str, Any]] = {"error": {"message": "Unauthorized", "code": 2006}}
    not_found: ClassVar[dict[str, Any]] = {"error": {"message": "Not Found", "code": 2100}}

    def __init__(self, page_cap: int = 10) -> None:
        super().__init__(account(), page_cap)

    def _page(self, key: str, items: list[Any], query: dict[str, list[str]]) -> dict[str, Any]:
        offset = int(query.get("offset", ["0"])[0])
        limit = min(int(query.get("limit", ["25"])[0]), self.page_cap)
        page = items[offset : offset + limit]
        return {key: page, "offset": offset, "limit": limit, "more": offset + limit < len(items), "total": None}

    def answer(self, path: str, query: dict[str, list[str]]) -> dict[str, Any] | None:
        d = self.data
        parts = path.strip("/").split("/")
        if path == "/users":
            return self._page("users", d["users"], query)
        if path == "/teams":
            return self._page("teams", d["teams"], query)
        if len(parts) == 3 and parts[0] == "teams" and parts[2] == "members":
            return self._page("members", d["members"].get(parts[1], []), query)
        if path == "/schedules":
            listed = [{k: v for k, v in s.items() if k != "schedule_layers"} for s in d["schedules"]]
            return self._page("schedules", listed, query)
        if len(parts) == 2 and parts[0] == "schedules":
            found = next((s for s in d["schedules"] if s["id"] == parts[1]), None)
            return {"schedule": found} if found else None
        if len(parts) == 3 and parts[0] == "schedules" and parts[2] == "overrides":
            since, until = _ts(query["since"][0]), _ts(query["until"][0])
            mine = [o for o in d["overrides"].get(parts[1], []) if _ts(o["end"]) > since and _ts(o["start"]) < until]
            return self._page("overrides", mine, query)
        if path == "/escalation_policies":
            return self._page("escalation_policies", d["escalation_policies"], query)
        if path == "/services":
            return self._page("services", d["services"], query)
        if path == "/oncalls":
            ids = query.get("schedule_ids[]", [])
            entries = oncalls(d, ids, _ts(query["since"][0]), _ts(query["until"][0]))
            return self._page("oncalls", entries, query)
        return None

    def export(self, root: Path, now: datetime) -> None:
        """The account's answers as a user would save them (one file per API path, pages as a JSON list)."""

        def pages(path: str, key: str, query: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
            out, offset = [], 0
            while True:
                page = self.answer(path, {**(query or {}), "offset": [str(offset)], "limit": ["100"]})
                assert page is not None
                out.append(page)
                if not page["more"]:
                    return out
                offset += len(page[key])

        def write(path: str, data: Any) -> None:
            file = root / (path.strip("/") + ".json")
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(json.dumps(data))

        window = {"since": [now.isoformat()], "until": [(now + timedelta(weeks=8)).isoformat()]}
        for path, key in (("/users", "users"), ("/teams", "teams"), ("/schedules", "schedules"),
                          ("/escalation_policies", "escalation_policies"), ("/services", "services")):  # fmt: skip
            write(path, pages(path, key))
        for team in self.data["teams"]:
            write(f"/teams/{team['id']}/members", pages(f"/teams/{team['id']}/members", "members"))
        for s in self.data["schedules"]:
            write(f"/schedules/{s['id']}", self.answer(f"/schedules/{s['id']}", {}))
            write(f"/schedules/{s['id']}/overrides", pages(f"/schedules/{s['id']}/overrides", "overrides", window))
