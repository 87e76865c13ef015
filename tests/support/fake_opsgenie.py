"""An Opsgenie REST API v2 on 127.0.0.1 for the importer's tests: the documented answers for the account in
``tests.fixtures.opsgenie_account``, ``paging.next`` links (pages of at most ``page_cap`` users), ``Authorization:
GenieKey …`` checked in constant time, and faults on demand.

The schedule timeline is computed here by Opsgenie's documented rules, independently of our rotation code: every
rotation of a schedule is on call at once, each within its time restriction; an override replaces them for its
time; a daily or weekly turn hands over at the start's local time in the schedule's zone, an hourly one after
elapsed time.
"""

from __future__ import annotations

import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from tests.fixtures.opsgenie_account import account

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


class FakeOpsgenie:
    def __init__(self, page_cap: int = 10) -> None:
        self.data = account()
        self.page_cap = page_cap
        self.faults: list[tuple[str, int, dict[str, str], bytes]] = []
        self.requests: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeOpsgenie:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fail(self, path: str, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.faults.append((path, status, headers or {}, body or json.dumps({"message": "failure"}).encode()))

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        with self.lock:
            self.requests.append(h.path)
            fault = next((f for f in self.faults if parts.path.startswith(f[0])), None)
            if fault is not None:
                self.faults.remove(fault)
        if fault is not None:
            return self._send(h, fault[1], fault[3], fault[2])
        if not hmac.compare_digest(h.headers.get("Authorization", "").encode(), f"GenieKey {KEY}".encode()):
            body = {"message": "Could not authenticate", "took": 0.0, "requestId": "c8b6f4a9"}
            return self._send(h, 401, json.dumps(body).encode())
        answer = self.answer(parts.path, parse_qs(parts.query))
        if answer is None:
            return self._send(h, 404, json.dumps({"message": "Not found", "took": 0.0}).encode())
        return self._send(h, 200, json.dumps(answer).encode())

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

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
