"""Grafana OnCall (public API v1) as a source: users, teams, schedules with their on-call shifts, escalation chains
with their steps, and integrations; a schedule's final shifts for the verification.

Read through the API (``Authorization: <token>``, ``next``-link pagination, any base URL: Grafana Cloud's OnCall
API URL or a self-hosted instance) or from saved answers. A ``rolling_users`` shift is a rotation when every turn is
on call for its whole length; its ``level`` is its precedence, as a PagerDuty layer's position is, so shifts become
rotations by the same rule (``pagerduty.layers_to_rotations``, docs/architecture.md, "Importing").
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from infra.migrate.http import Params, RestClient
from infra.migrate.model import (
    Account,
    OnCallSpan,
    SourceError,
    SourceLevel,
    SourceOverride,
    SourcePolicy,
    SourceSchedule,
    SourceService,
    SourceTarget,
    SourceTeam,
    SourceUser,
)
from infra.migrate.pagerduty import OVERRIDE_HORIZON, Layer, layers_to_rotations, ts

UNIT_SECONDS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400}
ALL_DAYS = {"MO", "TU", "WE", "TH", "FR", "SA", "SU"}
#: what a chain's last notifying step waits before the policy repeats or is exhausted (OnCall has no such wait)
LAST_LEVEL_S = 30 * 60


class Reader(Protocol):
    def get(self, path: str, params: Params | None = None) -> dict[str, Any]: ...

    def next_pages(self, path: str, params: Params | None = None) -> list[Any]: ...


class _Results:
    """OnCall lists as ``{"count", "next", "previous", "results"}``; ``RestClient.next_pages`` reads ``data`` and
    ``paging.next``, so this follows ``next`` itself over the same guarded client."""

    def __init__(self, client: RestClient) -> None:
        self.client = client

    def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        return self.client.get(path, params)

    def next_pages(self, path: str, params: Params | None = None) -> list[Any]:
        import urllib.parse

        items: list[Any] = []
        url: str | None = self.client.url(path, params)
        base = urllib.parse.urlsplit(self.client.base_url)
        while url:
            link = urllib.parse.urlsplit(url)
            if (link.scheme, link.netloc) != (base.scheme, base.netloc):
                raise SourceError(f"Grafana OnCall: a next-page link points to another host ({link.netloc})")
            page = self.client.get(url)
            got = page.get("results")
            if not isinstance(got, list):
                raise SourceError(f"Grafana OnCall: GET {path} answered without a 'results' list")
            items += got
            url = page.get("next") if got else None
        return items


class _SavedResults:
    """Saved answers: each file one answer (or a list of pages) with ``results``."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def get(self, path: str, params: Params | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = self.reader.get(path.rstrip("/"))
        return answer

    def next_pages(self, path: str, params: Params | None = None) -> list[Any]:
        items: list[Any] = self.reader.offset_pages(path.rstrip("/"), "results")
        return items


def api_reader(token: str, base_url: str, **kwargs: Any) -> _Results:
    return _Results(RestClient(base_url, {"Authorization": token}, vendor="Grafana OnCall", **kwargs))


def saved_reader(reader: Any) -> _SavedResults:
    return _SavedResults(reader)


def _local(raw: str, tz: str, what: str) -> datetime:
    """OnCall's shift times are wall-clock times in the shift's zone (``2020-09-05T08:00:00``)."""
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"Grafana OnCall: {what} is not a time ({raw!r})") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(UTC)


def shift_layer(shift: dict[str, Any], tz: str, known: set[str]) -> tuple[Layer | None, list[str]]:
    label = f"shift {shift.get('name') or shift.get('id')!r}"
    frequency, interval = str(shift.get("frequency")), int(shift.get("interval") or 1)
    if shift.get("type") != "rolling_users":
        return None, [f"{label}: a {shift.get('type')} shift cannot be expressed as a rotation; not imported"]
    if frequency not in UNIT_SECONDS:
        return None, [f"{label}: a {frequency} frequency cannot be expressed; not imported"]
    turn = UNIT_SECONDS[frequency] * interval
    if int(shift.get("duration") or 0) != turn:
        hours = int(shift.get("duration") or 0) / 3600
        return None, [f"{label}: on call {hours:g} h of every {turn // 3600} h (a restriction) cannot be expressed; "
                      "not imported"]  # fmt: skip
    days = set(shift.get("by_day") or [])
    if days and days != ALL_DAYS:
        return None, [f"{label}: only on {', '.join(sorted(days))} (a restriction) cannot be expressed; not imported"]
    groups = [list(g) for g in shift.get("rolling_users") or []]
    if any(len(g) != 1 for g in groups):
        return None, [f"{label}: several people on call together in one turn cannot be expressed; not imported"]
    users = [str(g[0]) for g in groups if str(g[0]) in known]
    if not users:
        return None, [f"{label}: has no (imported) users; not imported"]
    k = int(shift.get("start_rotation_from_user_index") or 0) % len(users)
    zone = str(shift.get("time_zone") or tz)
    start = _local(str(shift["start"]), zone, "a shift's start")
    rotation_start = _local(str(shift.get("rotation_start") or shift["start"]), zone, "a shift's rotation_start")
    return (
        Layer(
            id=str(shift["id"]),
            name=str(shift.get("name") or shift["id"]),
            start=max(start, rotation_start),
            end=_local(str(shift["until"]), zone, "a shift's until") if shift.get("until") else None,
            virtual_start=start,
            turn_seconds=turn,
            users=tuple(users[k:] + users[:k]),
            restrictions=(),
        ),
        [],
    )


class GrafanaOnCallSource:
    name = "grafana-oncall"

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def read(self, now: datetime) -> Account:
        raw_users = self.reader.next_pages("/api/v1/users/")
        users = []
        for u in raw_users:
            slack = [f"slack: {s.get('user_id')}" for s in u.get("slack") or [] if isinstance(s, dict)]
            phone = ["phone: verified in Grafana OnCall"] if u.get("is_phone_number_verified") else []
            users.append(
                SourceUser(
                    id=str(u["id"]),
                    name=str(u.get("name") or u.get("username") or u.get("email")),
                    email=str(u.get("email") or ""),
                    role="viewer" if u.get("role") == "viewer" else "responder",
                    timezone=str(u.get("timezone") or "UTC"),
                    unmapped_contacts=tuple(slack + phone),
                )
            )
        known = {u.id for u in users}
        teams = []
        for t in self.reader.next_pages("/api/v1/teams/"):
            members = {str(u["id"]): "responder" for u in raw_users if str(t["id"]) in (u.get("teams") or [])}
            teams.append(SourceTeam(str(t["id"]), str(t.get("name") or t["id"]), None, members))
        shifts: dict[str, dict[str, Any]] = {str(s["id"]): s for s in self.reader.next_pages("/api/v1/on_call_shifts/")}
        schedules = [self._schedule(s, shifts, known, now) for s in self.reader.next_pages("/api/v1/schedules/")]
        chains = self.reader.next_pages("/api/v1/escalation_chains/")
        steps = self.reader.next_pages("/api/v1/escalation_policies/")
        policies = [self._policy(c, [s for s in steps if s.get("escalation_chain_id") == c["id"]]) for c in chains]
        services = []
        for i in self.reader.next_pages("/api/v1/integrations/"):
            chain = (i.get("default_route") or {}).get("escalation_chain_id")
            if not chain:
                continue  # an integration that pages nobody: nothing to carry over
            services.append(
                SourceService(
                    id=str(i["id"]),
                    name=str(i.get("name") or i["id"]),
                    policy=str(chain),
                    team=i.get("team_id"),
                    description=None,
                    integrations=((str(i.get("name") or i["id"]), str(i.get("type") or "")),),
                )
            )
        return Account("grafana-oncall", tuple(users), tuple(teams), tuple(schedules), tuple(policies), tuple(services))

    def _schedule(
        self, s: dict[str, Any], shifts: dict[str, dict[str, Any]], known: set[str], now: datetime
    ) -> SourceSchedule:
        sid, tz = str(s["id"]), str(s.get("time_zone") or "UTC")
        notes: list[str] = []
        if s.get("type") == "ical":
            notes.append("an iCal schedule has no shifts in the API; recreate it as rotations (not imported)")
        layers: list[tuple[int, Layer]] = []
        overrides = []
        for shift_id in s.get("shifts") or []:
            shift = shifts.get(str(shift_id))
            if shift is None:
                continue
            if shift.get("type") == "override":
                zone = str(shift.get("time_zone") or tz)
                start = _local(str(shift["start"]), zone, "an override's start")
                end = start + timedelta(seconds=int(shift.get("duration") or 0))
                people = [str(u) for u in shift.get("users") or [] if str(u) in known]
                if end > now and start < now + OVERRIDE_HORIZON and len(people) == 1:
                    overrides.append(SourceOverride(str(shift["id"]), people[0], start, end))
                elif end > now and len(people) != 1:
                    notes.append(f"override {shift.get('name')!r}: {len(people)} people at once cannot be expressed")
                continue
            layer, more = shift_layer(shift, tz, known)
            notes += more
            if layer is not None:
                layers.append((int(shift.get("level") or 0), layer))
        ordered = [layer for _, layer in sorted(layers, key=lambda x: -x[0])]
        rotations, more = layers_to_rotations(sid, tz, ordered, now)
        return SourceSchedule(
            id=sid,
            name=str(s.get("name") or sid),
            timezone=tz,
            team=s.get("team_id"),
            rotations=tuple(rotations),
            overrides=tuple(overrides),
            unexpressed=tuple(notes + more),
        )

    def _policy(self, chain: dict[str, Any], steps: list[dict[str, Any]]) -> SourcePolicy:
        """Steps run in ``position`` order; notifying steps with no wait between them are one level, and a ``wait``
        is the timeout of the level before it."""
        notes: list[str] = []
        levels: list[tuple[list[SourceTarget], int]] = []
        repeat = 0
        waiting = False
        for step in sorted(steps, key=lambda x: int(x.get("position") or 0)):
            kind = str(step.get("type"))
            if kind == "wait":
                if levels:
                    levels[-1] = (levels[-1][0], levels[-1][1] + int(step.get("duration") or 0))
                waiting = True
                continue
            targets: list[SourceTarget] = []
            if kind in ("notify_persons", "notify_person_next_each_time"):
                targets = [SourceTarget("user", str(u)) for u in step.get("persons_to_notify") or []]
                if kind == "notify_person_next_each_time":
                    notes.append(f"step {step.get('position')}: 'next person each time' becomes paging every person")
            elif kind == "notify_on_call_from_schedule" and step.get("notify_on_call_from_schedule"):
                targets = [SourceTarget("schedule", str(step["notify_on_call_from_schedule"]))]
            elif kind == "repeat_escalation":
                repeat = 5  # OnCall repeats a chain up to five times
                continue
            else:
                notes.append(f"step {step.get('position')}: a {kind} step cannot be expressed; left out")
                continue
            if levels and not waiting:
                levels[-1][0].extend(targets)
            else:
                levels.append((targets, 0))
            waiting = False
        if levels and levels[-1][1] == 0:
            levels[-1] = (levels[-1][0], LAST_LEVEL_S)
            notes.append(f"the last level waits {LAST_LEVEL_S // 60} min before the policy repeats or ends")
        return SourcePolicy(
            id=str(chain["id"]),
            name=str(chain.get("name") or chain["id"]),
            levels=tuple(SourceLevel(max(1, wait), tuple(targets)) for targets, wait in levels),
            repeat=repeat,
            team=chain.get("team_id"),
            unexpressed=tuple(notes),
        )

    def on_call(self, schedule_ids: Sequence[str], since: datetime, until: datetime) -> list[OnCallSpan]:
        """Who OnCall has on call (``GET /api/v1/schedules/{id}/final_shifts``)."""
        spans = set()
        for sid in schedule_ids:
            params = {
                "start_date": since.date().isoformat(),
                "end_date": (until + timedelta(days=1)).date().isoformat(),
            }
            for f in self.reader.next_pages(f"/api/v1/schedules/{sid}/final_shifts", params):
                if f.get("user_pk"):
                    start = ts(f["shift_start"], "a final shift's start")
                    end = ts(f["shift_end"], "a final shift's end")
                    spans.add(OnCallSpan(sid, str(f["user_pk"]), start, end))
        return sorted(spans, key=lambda x: (x.schedule, x.start, x.user))
