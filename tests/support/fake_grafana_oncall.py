"""A Grafana OnCall public API v1 on 127.0.0.1 for the importer's tests: the documented answers for the account in
``tests.fixtures.grafana_oncall_account``, ``next``-link pagination (pages of at most ``page_cap``), ``Authorization:
<token>`` checked in constant time, and faults on demand.

``final_shifts`` is computed here by OnCall's documented rules, independently of our rotation code: an override
wins; then the rolling-users shift of the highest level that has a turn in progress (a turn lasts ``duration`` from
its start, on the days ``by_day`` allows); daily and weekly turns start at the first start's wall-clock time in the
shift's zone, hourly ones after elapsed time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from tests.fixtures.grafana_oncall_account import account
from tests.support.fake_vendor import FakeVendorApi

TOKEN = "a1b2c3d4e5f6-grafana-oncall-api-token"
STEP = timedelta(minutes=15)
PERIOD = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


def _wall(raw: str, tz: ZoneInfo) -> datetime:
    return datetime.fromisoformat(raw).replace(tzinfo=tz)


def holder(shift: dict[str, Any], at: datetime) -> str | None:
    tz = ZoneInfo(shift["time_zone"] or "UTC")
    start = _wall(shift["start"], tz)
    if at < start.astimezone(UTC) or (shift["until"] and at >= _wall(shift["until"], tz).astimezone(UTC)):
        return None
    period = PERIOD[shift["frequency"]] * int(shift["interval"])
    if shift["frequency"] == "hourly":
        k = (at - start.astimezone(UTC)) // period
        turn_start = start.astimezone(UTC) + k * period
    else:
        k = (at.astimezone(tz).replace(tzinfo=None) - start.replace(tzinfo=None)) // period
        turn_start = (start.replace(tzinfo=None) + k * period).replace(tzinfo=tz).astimezone(UTC)
    if at >= turn_start + timedelta(seconds=int(shift["duration"])):
        return None
    if shift["by_day"] and DAYS[turn_start.astimezone(tz).weekday()] not in shift["by_day"]:
        return None
    groups = shift["rolling_users"]
    return str(groups[(k + int(shift["start_rotation_from_user_index"] or 0)) % len(groups)][0])


def who(data: dict[str, Any], schedule_id: str, at: datetime) -> str | None:
    mine = [s for s in data["on_call_shifts"] if s["schedule"] == schedule_id]
    for o in (s for s in mine if s["type"] == "override"):
        start = _wall(o["start"], ZoneInfo(o["time_zone"] or "UTC")).astimezone(UTC)
        if start <= at < start + timedelta(seconds=int(o["duration"])):
            return str(o["users"][0])
    for s in sorted((s for s in mine if s["type"] == "rolling_users"), key=lambda s: -int(s["level"])):
        found = holder(s, at)
        if found is not None:
            return found
    return None


def final_shifts(data: dict[str, Any], schedule_id: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    out = []
    at = since
    current, began = who(data, schedule_id, at), at
    while at < until:
        at = min(at + STEP, until)
        now = who(data, schedule_id, at) if at < until else None
        if now != current or at >= until:
            if current is not None:
                user = next(u for u in data["users"] if u["id"] == current)
                out.append(
                    {
                        "user_pk": current,
                        "user_email": user["email"],
                        "user_username": user["username"],
                        "shift_start": began.isoformat().replace("+00:00", "Z"),
                        "shift_end": at.isoformat().replace("+00:00", "Z"),
                    }
                )
            current, began = now, at
    return out


class FakeGrafanaOnCall(FakeVendorApi):
    authorization = TOKEN
    unauthorized: ClassVar[dict[str, Any]] = {"detail": "Invalid token."}
    not_found: ClassVar[dict[str, Any]] = {"detail": "Not found."}

    def __init__(self, page_cap: int = 10) -> None:
        super().__init__(account(), page_cap)

    def fault_body(self, status: int) -> dict[str, Any]:
        return {"detail": "failure"}

    def _page(self, path: str, items: list[Any], query: dict[str, list[str]]) -> dict[str, Any]:
        number = int(query.get("page", ["1"])[0])
        size = self.page_cap
        page = items[(number - 1) * size : number * size]
        rest = {k: v[0] for k, v in query.items() if k != "page"}
        more = number * size < len(items)
        return {
            "count": len(items),
            "next": f"{self.url}{path}?{urlencode({**rest, 'page': number + 1})}" if more else None,
            "previous": None if number == 1 else f"{self.url}{path}?{urlencode({**rest, 'page': number - 1})}",
            "results": page,
            "page_size": size,
            "current_page_number": number,
            "total_pages": max(1, -(-len(items) // size)),
        }

    def answer(self, path: str, query: dict[str, list[str]]) -> dict[str, Any] | None:
        d = self.data
        lists = {
            "/api/v1/users/": "users",
            "/api/v1/teams/": "teams",
            "/api/v1/schedules/": "schedules",
            "/api/v1/on_call_shifts/": "on_call_shifts",
            "/api/v1/escalation_chains/": "escalation_chains",
            "/api/v1/escalation_policies/": "escalation_policies",
            "/api/v1/integrations/": "integrations",
        }
        if path in lists:
            return self._page(path, d[lists[path]], query)
        parts = path.strip("/").split("/")
        if len(parts) == 5 and parts[2] == "schedules" and parts[4] == "final_shifts":
            since = datetime.fromisoformat(query["start_date"][0]).replace(tzinfo=UTC)
            until = datetime.fromisoformat(query["end_date"][0]).replace(tzinfo=UTC) + timedelta(days=1)
            return self._page(path, final_shifts(d, parts[3], since, until), query)
        return None
