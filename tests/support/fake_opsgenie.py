"""An Opsgenie REST API v2 on 127.0.0.1 for the importer's tests: the documented answers for the account in
``tests.fixtures.opsgenie_account``, ``paging.next`` links (pages of at most ``page_cap`` users), ``Authorization:
GenieKey …`` checked in constant time, and faults on demand.

The schedule timeline is computed here by Opsgenie's documented rules, independently of our rotation code: every
rotation of a schedule is on call at once, each within its time restriction; an override replaces them for its
time; a daily or weekly turn hands over at the start's local time in the schedule's zone, an hourly one after
elapsed time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from tests.fixtures.opsgenie_account import account
from tests.support.fake_vendor import FakeVendorApi

KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"
STEP = timedelta(minutes=15)
UNIT = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


def _ts(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)


def _z(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def holder(rotation: dict[str, Any], at: datetime, tz: ZoneInfo) -> str | None:
    start = _ts(rotation["startDate"])
    if at < start or (rotation.get("endDate") and at >= _ts(rotation["endDate"])):
        return None
    r = rotation.get("timeRestriction")
    local = at.astimezone(tz)
    if r and r["type"] == "time-of-day":
        x = r["restriction"]
        minute = local.hour * 60 + local.minute
        if not x["startHour"] * 60 + x["startMin"] <= minute < x["endHour"] * 60 + x["endMin"]:
            return None
    turn = UNIT[rotation["type"]] * int(rotation["length"])
    if rotation["type"] == "hourly":
        n = (at - start) // turn
    else:
        n = (local.replace(tzinfo=None) - start.astimezone(tz).replace(tzinfo=None)) // turn
    people = rotation["participants"]
    return str(people[n % len(people)]["id"])


def timeline(data: dict[str, Any], schedule: dict[str, Any], since: datetime, until: datetime) -> dict[str, Any]:
    tz = ZoneInfo(schedule["timezone"])
    overrides = data["overrides"].get(schedule["id"], [])
    rotations = []
    for order, rotation in enumerate(schedule["rotations"], start=1):
        periods: list[dict[str, Any]] = []

        def who(at: datetime, rotation: dict[str, Any] = rotation) -> tuple[str | None, str]:
            for o in overrides:
                if _ts(o["startDate"]) <= at < _ts(o["endDate"]):
                    return str(o["user"]["id"]), "override"
            return holder(rotation, at, tz), "default"

        at = since
        current, began = who(at), at
        while at < until:
            at = min(at + STEP, until)
            now = who(at) if at < until else (None, "")
            if now != current or at >= until:
                if current[0] is not None:
                    periods.append(
                        {
                            "startDate": _z(began),
                            "endDate": _z(at),
                            "type": current[1],
                            "recipient": {"type": "user", "id": current[0], "name": current[0]},
                        }
                    )
                current, began = now, at
        rotations.append({"id": rotation["id"], "name": rotation["name"], "order": order, "periods": periods})
    return {
        "data": {
            "_parent": {"id": schedule["id"], "name": schedule["name"], "enabled": True},
            "startDate": _z(since),
            "endDate": _z(until),
            "finalTimeline": {"rotations": rotations},
        },
        "took": 0.05,
        "requestId": "9ae63dd7-ed00-4c81-86f0-c4ffd33142c9",
    }


class FakeOpsgenie(FakeVendorApi):
    authorization = f"GenieKey {KEY}"
    unauthorized: ClassVar[dict[str, Any]] = {"message": "Could not authenticate", "took": 0.0, "requestId": "c8b6f4a9"}
    not_found: ClassVar[dict[str, Any]] = {"message": "Not found", "took": 0.0}

    def __init__(self, page_cap: int = 10) -> None:
        super().__init__(account(), page_cap)

    def answer(self, path: str, query: dict[str, list[str]]) -> dict[str, Any] | None:
        d = self.data
        parts = path.strip("/").split("/")
        if path == "/v2/users":
            offset = int(query.get("offset", ["0"])[0])
            limit = min(int(query.get("limit", ["20"])[0]), self.page_cap)
            page = d["users"][offset : offset + limit]
            paging = {"first": f"{self.url}/v2/users?limit={limit}&offset=0"}
            if offset + limit < len(d["users"]):
                paging["next"] = f"{self.url}/v2/users?limit={limit}&offset={offset + limit}"
            return {"totalCount": len(d["users"]), "data": page, "paging": paging, "took": 0.1, "requestId": "r"}
        if len(parts) == 4 and parts[1] == "users" and parts[3] == "contacts":
            return {"data": d["contacts"].get(parts[2], []), "took": 0.0, "requestId": "r"}
        if path == "/v2/teams":
            return {"data": d["teams"], "took": 0.0, "requestId": "r"}
        if len(parts) == 3 and parts[1] == "teams":
            found = d["team"].get(parts[2])
            return {"data": found, "took": 0.0, "requestId": "r"} if found else None
        if path == "/v2/schedules":
            return {"data": d["schedules"], "expandable": ["rotation"], "took": 0.0, "requestId": "r"}
        if len(parts) == 4 and parts[1] == "schedules" and parts[3] == "overrides":
            return {"data": d["overrides"].get(parts[2], []), "took": 0.0, "requestId": "r"}
        if len(parts) == 4 and parts[1] == "schedules" and parts[3] == "timeline":
            schedule = next((s for s in d["schedules"] if s["id"] == parts[2]), None)
            if schedule is None:
                return None
            since = _ts(query["date"][0])
            unit = {"days": timedelta(days=1), "weeks": timedelta(weeks=1)}[query.get("intervalUnit", ["weeks"])[0]]
            return timeline(d, schedule, since, since + unit * int(query.get("interval", ["1"])[0]))
        if path == "/v2/escalations":
            return {"data": d["escalations"], "took": 0.0, "requestId": "r"}
        return None
