"""PagerDuty (REST API v2) as a source: users with contact methods, teams and members, schedules with their layers
and future overrides, escalation policies, services with integrations, and ``/oncalls`` for the verification.

Read through the API (``Authorization: Token token=…``, classic ``offset``/``limit``/``more`` pagination, the EU
service region at ``https://api.eu.pagerduty.com``) or from a directory of the same answers saved as JSON files
(``DirectoryReader``). Layers become rotations as described in docs/architecture.md, "Importing": the API lists a
schedule's layers highest precedence first (the UI's "Layer N" before "Layer 1"), a higher layer hides the ones
below it wherever it is active, and a layer with restrictions cannot be expressed by our rotations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
    SourceService,
    SourceTarget,
    SourceTeam,
    SourceUser,
)

DEFAULT_BASE_URL = "https://api.pagerduty.com"
EU_BASE_URL = "https://api.eu.pagerduty.com"
#: how far ahead overrides are read: our rotations are materialised 8 weeks ahead, and an override needs shifts
OVERRIDE_HORIZON = timedelta(weeks=8)
VIEWER_ROLES = frozenset({"observer", "read_only_user", "read_only_limited_user", "restricted_access"})
MAX_SHIFT = timedelta(days=14)


class Reader(Protocol):
    def get(self, path: str, params: Params | None = None) -> dict[str, Any]: ...

    def offset_pages(self, path: str, key: str, params: Params | None = None, limit: int = 100) -> list[Any]: ...


def api_reader(token: str, base_url: str = DEFAULT_BASE_URL, **kwargs: Any) -> RestClient:
    return RestClient(
        base_url,
        {
            "Authorization": f"Token token={token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
            "Content-Type": "application/json",
        },
        vendor="PagerDuty",
        **kwargs,
    )


def ts(raw: Any, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"the source: {what} is not a time ({raw!r})") from None
    if value.tzinfo is None:
        raise SourceError(f"the source: {what} has no UTC offset ({raw!r})")
    return value.astimezone(UTC)


def _ref(obj: Any) -> str | None:
    return str(obj["id"]) if isinstance(obj, dict) and obj.get("id") else None


def _first_team(obj: dict[str, Any]) -> str | None:
    teams = obj.get("teams") or []
    return _ref(teams[0]) if teams else None


# -- layers → rotations -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    id: str
    name: str
    start: datetime
    end: datetime | None
    virtual_start: datetime
    turn_seconds: int
    users: tuple[str, ...]
    restrictions: tuple[dict[str, Any], ...]


def describe_restriction(r: dict[str, Any]) -> str:
    hours = int(r.get("duration_seconds") or 0) / 3600
    at = str(r.get("start_time_of_day") or "?")[:5]
    if r.get("type") == "weekly_restriction":
        day = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][int(r.get("start_day_of_week") or 1) - 1]
        return f"weekly from {day} {at} for {hours:g} h"
    return f"daily from {at} for {hours:g} h"


def _subtract(
    window: tuple[datetime, datetime | None], covered: Sequence[tuple[datetime, datetime | None]]
) -> list[tuple[datetime, datetime | None]]:
    """``window`` minus every ``covered`` interval (None: open-ended), as ordered pieces."""
    pieces = [window]
    for c_start, c_end in covered:
        out: list[tuple[datetime, datetime | None]] = []
        for p_start, p_end in pieces:
            if (c_end is not None and c_end <= p_start) or (p_end is not None and p_end <= c_start):
                out.append((p_start, p_end))
                continue
            if p_start < c_start:
                out.append((p_start, c_start))
            if c_end is not None and (p_end is None or c_end < p_end):
                out.append((c_end, p_end))
        pieces = out
    return pieces


def period_of(turn_seconds: int) -> tuple[str, int | None] | None:
    """Our (period, hours) for a turn length, or None when our rotations cannot express it."""
    if turn_seconds == 86400:
        return "daily", None
    if turn_seconds == 7 * 86400:
        return "weekly", None
    if turn_seconds > 0 and turn_seconds % 3600 == 0 and timedelta(seconds=turn_seconds) <= MAX_SHIFT:
        return "hours", turn_seconds // 3600
    return None


def layers_to_rotations(
    schedule_id: str, timezone: str, layers: Sequence[Layer], now: datetime
) -> tuple[list[SourceRotation], list[str]]:
    """Rotations for ``layers`` (highest precedence first) and a line for everything that could not be expressed."""
    from oncall.domain import rotations as rot
    from oncall.domain.shifts import Interval

    rotations: list[SourceRotation] = []
    notes: list[str] = []
    covered: list[tuple[datetime, datetime | None]] = []
    for layer in layers:
        label = f"layer {layer.name or layer.id!r}"
        if layer.restrictions:
            for r in layer.restrictions:
                notes.append(f"{label}: restriction {describe_restriction(r)} cannot be expressed; layer not imported")
            continue
        if layer.end is not None and layer.end <= now:
            continue  # ended: nothing of it is on call any more
        pieces = [p for p in _subtract((layer.start, layer.end), covered) if p[1] is None or p[1] > now]
        covered.append((layer.start, layer.end))
        if not pieces:
            notes.append(f"{label}: hidden by higher layers from now on; nothing to import")
            continue
        if len(pieces) > 1:
            notes.append(f"{label}: visible again after {pieces[1][0].isoformat()}; only its first part is imported")
        start, end = pieces[0]
        kind = period_of(layer.turn_seconds)
        if kind is None:
            notes.append(f"{label}: a turn of {layer.turn_seconds} s is not whole hours up to 14 days; not imported")
            continue
        if not layer.users:
            notes.append(f"{label}: has no users; not imported")
            continue
        period, hours = kind
        if period == "hours" and layer.turn_seconds % 86400 == 0:
            notes.append(
                f"{label}: a {layer.turn_seconds // 86400}-day turn is imported as elapsed hours; it moves "
                "by the clock change at a DST switch"
            )
        base = rot.Rotation(
            id="probe",
            schedule_id=schedule_id,
            participants=layer.users,
            start=layer.virtual_start,
            timezone=timezone,
            period=period,  # type: ignore[arg-type]  # one of the three, from period_of
            hours=hours,
        )
        # the slot of PagerDuty's virtual rotation that holds ``start``; before the virtual start there is none
        at = max(start, layer.virtual_start)
        found = rot.slots(base, Interval(at, at + timedelta(microseconds=1)))
        n = found[0].index if found else 0
        if found and found[0].start < at and at > now:
            notes.append(f"{label}: the part turn from {at.isoformat()} to the next handoff is not imported")
            n += 1
        k = n % len(layer.users)
        rotations.append(
            SourceRotation(
                id=f"{schedule_id}/{layer.id}",
                name=layer.name or layer.id,
                participants=layer.users[k:] + layer.users[:k],
                start=rot.handoff(base, n),
                period=period,
                hours=hours,
                timezone=timezone,
                end=end,
            )
        )
    return rotations, notes


# -- the source ---------------------------------------------------------------------------------------------------


class PagerDutySource:
    name = "pagerduty"

    def __init__(self, reader: Reader) -> None:
        self.reader = reader

    def read(self, now: datetime) -> Account:
        """The whole account; any failure raises ``SourceError`` before anything is planned."""
        users = [self._user(u) for u in self.reader.offset_pages("/users", "users", {"include[]": ["contact_methods"]})]
        known = {u.id for u in users}
        teams = []
        for t in self.reader.offset_pages("/teams", "teams"):
            members = self.reader.offset_pages(f"/teams/{t['id']}/members", "members")
            roles = {
                str(m["user"]["id"]): _team_role(str(m.get("role") or "responder"))
                for m in members
                if _ref(m.get("user")) in known
            }
            teams.append(SourceTeam(str(t["id"]), str(t.get("name") or t["id"]), t.get("description") or None, roles))
        schedules = [self._schedule(s["id"], now, known) for s in self.reader.offset_pages("/schedules", "schedules")]
        policies = [self._policy(p) for p in self.reader.offset_pages("/escalation_policies", "escalation_policies")]
        services = [
            self._service(s) for s in self.reader.offset_pages("/services", "services", {"include[]": ["integrations"]})
        ]
        return Account("pagerduty", tuple(users), tuple(teams), tuple(schedules), tuple(policies), tuple(services))

    def _user(self, u: dict[str, Any]) -> SourceUser:
        email = str(u.get("email") or "")
        unmapped = []
        for cm in u.get("contact_methods") or []:
            if not isinstance(cm, dict) or "address" not in cm:
                continue  # a reference only (no include[]=contact_methods)
            kind = str(cm.get("type", "")).removesuffix("_contact_method")
            address = str(cm["address"])
            if kind == "email" and address.lower() == email.lower():
                continue
            if kind in ("phone", "sms", "whatsapp") and cm.get("country_code"):
                address = f"+{cm['country_code']} {address}"
            unmapped.append(f"{kind}: {address}")
        return SourceUser(
            id=str(u["id"]),
            name=str(u.get("name") or email),
            email=email,
            role="viewer" if u.get("role") in VIEWER_ROLES else "responder",
            timezone=str(u.get("time_zone") or "UTC"),
            unmapped_contacts=tuple(unmapped),
        )

    def _schedule(self, schedule_id: str, now: datetime, known: set[str]) -> SourceSchedule:
        s = self.reader.get(f"/schedules/{schedule_id}").get("schedule")
        if not isinstance(s, dict):
            raise SourceError(f"PagerDuty: GET /schedules/{schedule_id} answered without a schedule")
        tz = str(s.get("time_zone") or "UTC")
        layers = []
        notes: list[str] = []
        for raw in s.get("schedule_layers") or []:
            users = tuple(str(x["user"]["id"]) for x in raw.get("users") or [] if _ref(x.get("user")))
            gone = [x for x in users if x not in known]
            if gone:
                notes.append(f"layer {raw.get('name')!r}: users {', '.join(gone)} are not in the account; left out")
            layers.append(
                Layer(
                    id=str(raw.get("id") or raw.get("name")),
                    name=str(raw.get("name") or ""),
                    start=ts(raw["start"], "a layer's start"),
                    end=ts(raw["end"], "a layer's end") if raw.get("end") else None,
                    virtual_start=ts(raw["rotation_virtual_start"], "rotation_virtual_start"),
                    turn_seconds=int(raw["rotation_turn_length_seconds"]),
                    users=tuple(x for x in users if x in known),
                    restrictions=tuple(raw.get("restrictions") or ()),
                )
            )
        rotations, more = layers_to_rotations(str(s["id"]), tz, layers, now)
        overrides = []
        params = {"since": now.isoformat(), "until": (now + OVERRIDE_HORIZON).isoformat()}
        for o in self.reader.offset_pages(f"/schedules/{schedule_id}/overrides", "overrides", params):
            user = _ref(o.get("user"))
            end = ts(o["end"], "an override's end")
            if user is None or end <= now:
                continue
            overrides.append(SourceOverride(str(o.get("id")), user, ts(o["start"], "an override's start"), end))
        return SourceSchedule(
            id=str(s["id"]),
            name=str(s.get("name") or s["id"]),
            timezone=tz,
            team=_first_team(s),
            rotations=tuple(rotations),
            overrides=tuple(overrides),
            unexpressed=tuple(notes + more),
        )

    def _policy(self, p: dict[str, Any]) -> SourcePolicy:
        levels = []
        notes = []
        for i, rule in enumerate(p.get("escalation_rules") or []):
            targets = []
            for t in rule.get("targets") or []:
                kind = str(t.get("type", "")).removesuffix("_reference")
                if kind in ("user", "schedule"):
                    targets.append(SourceTarget(kind, str(t["id"])))
                else:
                    notes.append(f"level {i + 1}: a {kind} target cannot be expressed; left out")
            if rule.get("escalation_rule_assignment_strategy") == "round_robin":
                notes.append(f"level {i + 1}: round-robin assignment becomes paging every target")
            levels.append(SourceLevel(int(rule.get("escalation_delay_in_minutes") or 30) * 60, tuple(targets)))
        return SourcePolicy(
            id=str(p["id"]),
            name=str(p.get("name") or p["id"]),
            levels=tuple(levels),
            repeat=int(p.get("num_loops") or 0),
            team=_first_team(p),
            description=p.get("description") or None,
            unexpressed=tuple(notes),
        )

    def _service(self, s: dict[str, Any]) -> SourceService:
        integrations = tuple(
            (str(i.get("name") or i.get("summary") or i.get("id")), str(i.get("type", "")).removesuffix("_reference"))
            for i in s.get("integrations") or []
            if isinstance(i, dict)
        )
        policy = _ref(s.get("escalation_policy"))
        if policy is None:
            raise SourceError(f"PagerDuty: service {s.get('id')} has no escalation policy")
        return SourceService(
            id=str(s["id"]),
            name=str(s.get("name") or s["id"]),
            policy=policy,
            team=_first_team(s),
            description=s.get("description") or None,
            integrations=integrations,
        )

    def on_call(self, schedule_ids: Sequence[str], since: datetime, until: datetime) -> list[OnCallSpan]:
        """Who PagerDuty has on call on each schedule in ``[since, until)`` (``GET /oncalls``)."""
        params: Params = {
            "schedule_ids[]": list(schedule_ids),
            "since": since.isoformat(),
            "until": until.isoformat(),
        }
        spans = set()
        for o in self.reader.offset_pages("/oncalls", "oncalls", params):
            schedule, user = _ref(o.get("schedule")), _ref(o.get("user"))
            if schedule is None or user is None:
                continue  # a direct user level of a policy, not a schedule's on-call
            start = ts(o["start"], "an on-call's start") if o.get("start") else since
            end = ts(o["end"], "an on-call's end") if o.get("end") else until
            spans.add(OnCallSpan(schedule, user, start, end))
        return sorted(spans, key=lambda x: (x.schedule, x.start, x.user))


def _team_role(raw: str) -> str:
    return raw if raw in ("manager", "responder", "observer") else "responder"
