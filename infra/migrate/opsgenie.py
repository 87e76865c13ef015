"""Opsgenie (REST API v2) as a source: users and their contacts, teams and members, schedules with their rotations
and overrides, escalations; the schedule timeline for the verification.

Read through the API (``Authorization: GenieKey …``, ``paging.next`` links, the EU instance at
``https://api.eu.opsgenie.com``) or from saved answers (``DirectoryReader``). Opsgenie puts every rotation of a
schedule on call at once; we have one person on call per schedule, so a schedule's first rotation is imported and
each further one is reported (docs/architecture.md, "Importing").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from infra.migrate.http import Params, RestClient
from infra.migrate.model import (
    Account,
    OnCallSpan,
    SourceError,
    SourceLevel,
    SourceOverride,
    SourcePolicy,
    SourceRotation,
    SourceSchedule,
    SourceTarget,
    SourceTeam,
    SourceUser,
)
from infra.migrate.pagerduty import MAX_SHIFT, OVERRIDE_HORIZON, ts

DEFAULT_BASE_URL = "https://api.opsgenie.com"
EU_BASE_URL = "https://api.eu.opsgenie.com"
VIEWER_ROLES = frozenset({"observer", "stakeholder"})
UNIT_SECONDS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}


class Reader(Protocol):
    def get(self, path: str, params: Params | None = None) -> dict[str, Any]: ...

    def next_pages(self, path: str, params: Params | None = None) -> list[Any]: ...


def api_reader(key: str, base_url: str = DEFAULT_BASE_URL, **kwargs: Any) -> RestClient:
    return RestClient(base_url, {"Authorization": f"GenieKey {key}"}, vendor="Opsgenie", **kwargs)


def _data(answer: dict[str, Any], what: str) -> Any:
    if "data" not in answer:
        raise SourceError(f"Opsgenie: {what} answered without 'data'")
    return answer["data"]


def describe_restriction(r: dict[str, Any]) -> str:
    def at(h: Any, m: Any) -> str:
        return f"{int(h or 0):02d}:{int(m or 0):02d}"

    if r.get("type") == "time-of-day":
        x = r.get("restriction") or {}
        return f"every day {at(x.get('startHour'), x.get('startMin'))}-{at(x.get('endHour'), x.get('endMin'))}"
    parts = [
        f"{str(x.get('startDay', '?'))[:3]} {at(x.get('startHour'), x.get('startMin'))}-"
        f"{str(x.get('endDay', '?'))[:3]} {at(x.get('endHour'), x.get('endMin'))}"
        for x in r.get("restrictions") or []
    ]
    return "on " + ", ".join(parts)


def rotation_of(schedule_id: str, timezone: str, r: dict[str, Any]) -> tuple[SourceRotation | None, list[str]]:
    label = f"rotation {r.get('name') or r.get('id')!r}"
    kind, length = str(r.get("type")), int(r.get("length") or 1)
    if r.get("timeRestriction"):
        return None, [f"{label}: time restriction {describe_restriction(r['timeRestriction'])} cannot be expressed; "
                      "rotation not imported"]  # fmt: skip
    if kind not in UNIT_SECONDS:
        return None, [f"{label}: a {kind!r} rotation cannot be expressed; not imported"]
    people = list(r.get("participants") or [])
    users = tuple(str(p["id"]) for p in people if p.get("type") == "user" and p.get("id"))
    if len(users) != len(people):
        kinds = sorted({str(p.get("type")) for p in people if p.get("type") != "user"})
        return None, [f"{label}: participants of type {', '.join(kinds)} cannot be expressed; not imported"]
    if not users:
        return None, [f"{label}: has no participants; not imported"]
    notes = []
    if kind == "daily" and length == 1:
        period, hours = "daily", None
    elif kind == "weekly" and length == 1:
        period, hours = "weekly", None
    else:
        seconds = UNIT_SECONDS[kind] * length
        if timedelta(seconds=seconds) > MAX_SHIFT:
            return None, [f"{label}: a turn of {length} {kind} units is longer than 14 days; not imported"]
        period, hours = "hours", seconds // 3600
        if kind != "hourly":
            notes.append(f"{label}: a turn of {length} {kind} units is imported as elapsed hours; it moves by the "
                         "clock change at a DST switch")  # fmt: skip
    return (
        SourceRotation(
            id=f"{schedule_id}/{r.get('id')}",
            name=str(r.get("name") or r.get("id")),
            participants=users,
            start=ts(r["startDate"], "a rotation's startDate"),
            period=period,
            hours=hours,
            timezone=timezone,
            end=ts(r["endDate"], "a rotation's endDate") if r.get("endDate") else None,
        ),
        notes,
    )


class OpsgenieSource:
    name = "opsgenie"

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def read(self, now: datetime) -> Account:
        users = []
        for u in self.reader.next_pages("/v2/users", {"limit": 100}):
            contacts = _data(self.reader.get(f"/v2/users/{u['id']}/contacts"), "GET /v2/users/{id}/contacts")
            email = str(u.get("username") or "")
            unmapped = tuple(
                f"{c.get('method')}: {c.get('to')}"
                for c in contacts
                if not (c.get("method") == "email" and str(c.get("to", "")).lower() == email.lower())
            )
            role = str((u.get("role") or {}).get("name") or "User").lower()
            users.append(
                SourceUser(
                    id=str(u["id"]),
                    name=str(u.get("fullName") or email),
                    email=email,
                    role="viewer" if role in VIEWER_ROLES else "responder",
                    timezone=str(u.get("timeZone") or "UTC"),
                    unmapped_contacts=unmapped,
                )
            )
        known = {u.id for u in users}
        teams = []
        for t in _data(self.reader.get("/v2/teams"), "GET /v2/teams"):
            full = _data(self.reader.get(f"/v2/teams/{t['id']}"), "GET /v2/teams/{id}")
            roles = {
                str(m["user"]["id"]): "manager" if m.get("role") == "admin" else "responder"
                for m in full.get("members") or []
                if str((m.get("user") or {}).get("id")) in known
            }
            teams.append(SourceTeam(str(t["id"]), str(t.get("name") or t["id"]), t.get("description") or None, roles))
        schedules = [self._schedule(s, now) for s in self.reader.next_pages("/v2/schedules", {"expand": "rotation"})]
        policies = [self._policy(e) for e in _data(self.reader.get("/v2/escalations"), "GET /v2/escalations")]
        return Account("opsgenie", tuple(users), tuple(teams), tuple(schedules), tuple(policies), ())

    def _schedule(self, s: dict[str, Any], now: datetime) -> SourceSchedule:
        sid, tz = str(s["id"]), str(s.get("timezone") or "UTC")
        rotations: list[SourceRotation] = []
        notes: list[str] = []
        for r in s.get("rotations") or []:
            if r.get("endDate") and ts(r["endDate"], "a rotation's endDate") <= now:
                continue
            made, more = rotation_of(sid, tz, r)
            notes += more
            if made is None:
                continue
            if rotations:
                notes.append(f"rotation {made.name!r}: Opsgenie has it on call together with {rotations[0].name!r}; "
                             "one person is on call per schedule here, so it is not imported")  # fmt: skip
                continue
            rotations.append(made)
        overrides = []
        for o in _data(self.reader.get(f"/v2/schedules/{sid}/overrides"), "GET /v2/schedules/{id}/overrides"):
            user = (o.get("user") or {}).get("id")
            start, end = ts(o["startDate"], "an override's startDate"), ts(o["endDate"], "an override's endDate")
            if (o.get("user") or {}).get("type") != "user" or not user or end <= now or start > now + OVERRIDE_HORIZON:
                continue
            overrides.append(SourceOverride(str(o.get("alias")), str(user), start, end))
        return SourceSchedule(
            id=sid,
            name=str(s.get("name") or sid),
            timezone=tz,
            team=(s.get("ownerTeam") or {}).get("id"),
            rotations=tuple(rotations),
            overrides=tuple(overrides),
            unexpressed=tuple(notes),
        )

    def _policy(self, e: dict[str, Any]) -> SourcePolicy:
        """Opsgenie delays count from the alert's creation; our levels wait after the previous one, so rules with the
        same delay are one level and a level's timeout is the gap to the next rule's delay."""
        notes = []
        by_delay: dict[int, list[SourceTarget]] = {}
        for i, rule in enumerate(e.get("rules") or []):
            delay = rule.get("delay") or {}
            unit = {"minutes": 60, "hours": 3600, "days": 86400}.get(str(delay.get("timeUnit", "minutes")), 60)
            at = int(delay.get("timeAmount") or 0) * unit
            recipient = rule.get("recipient") or {}
            if rule.get("condition", "if-not-acked") != "if-not-acked":
                notes.append(f"rule {i + 1}: condition {rule.get('condition')!r} becomes 'if not acknowledged'")
            if recipient.get("type") in ("user", "schedule") and recipient.get("id"):
                by_delay.setdefault(at, []).append(SourceTarget(str(recipient["type"]), str(recipient["id"])))
            else:
                notes.append(f"rule {i + 1}: a {recipient.get('type')} recipient cannot be expressed; left out")
        repeat = e.get("repeat") or {}
        wait = int(repeat.get("waitInterval") or 0) * 60 or 30 * 60
        delays = sorted(by_delay)
        levels = tuple(
            SourceLevel((delays[i + 1] - d) if i + 1 < len(delays) else wait, tuple(by_delay[d]))
            for i, d in enumerate(delays)
        )
        return SourcePolicy(
            id=str(e["id"]),
            name=str(e.get("name") or e["id"]),
            levels=levels,
            repeat=int(repeat.get("count") or 0),
            team=(e.get("ownerTeam") or {}).get("id"),
            description=e.get("description") or None,
            unexpressed=tuple(notes),
        )

    def on_call(self, schedule_ids: Sequence[str], since: datetime, until: datetime) -> list[OnCallSpan]:
        """Who Opsgenie has on call (``GET /v2/schedules/{id}/timeline``, the final timeline)."""
        spans = set()
        days = max(1, (until - since).days + 1)
        for sid in schedule_ids:
            answer = self.reader.get(
                f"/v2/schedules/{sid}/timeline",
                {"date": since.isoformat(), "interval": days, "intervalUnit": "days", "expand": "base"},
            )
            final = (_data(answer, "GET /v2/schedules/{id}/timeline") or {}).get("finalTimeline") or {}
            for rotation in final.get("rotations") or []:
                for p in rotation.get("periods") or []:
                    who = p.get("recipient") or {}
                    if who.get("type") == "user" and who.get("id"):
                        start, end = ts(p["startDate"], "a period's start"), ts(p["endDate"], "a period's end")
                        spans.add(OnCallSpan(sid, str(who["id"]), start, end))
        return sorted(spans, key=lambda x: (x.schedule, x.start, x.user))
