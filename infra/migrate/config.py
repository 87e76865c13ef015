"""The on-call setup as code: ``make export`` writes our teams, schedules with their rotations, escalation policies
and services as YAML (no secret: integration keys stay where they are); ``make apply FILE=…`` reads such a file
into the importer's neutral account and runs the same plan, so the diff a reviewer sees is the dry run's table
(docs/architecture.md, "Importing").

Objects are named by ``key`` (our id when exported; any stable word when written by hand): renaming an object keeps
its key, so it is updated, not created again. References are by name (a team, a schedule, a policy) and people by
email (or username when they have none).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from infra.migrate.model import (
    Account,
    SourceError,
    SourceLevel,
    SourcePolicy,
    SourceRotation,
    SourceSchedule,
    SourceService,
    SourceTarget,
    SourceTeam,
    SourceUser,
)
from infra.migrate.outcome import Hub, walk

VERSION = 1


def _iso(dt: datetime | None) -> str | None:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z") if dt else None


def export(hub: Hub, actor: Any) -> dict[str, Any]:
    """Everything ``actor`` can see, as the YAML document's data."""
    people = {u.id: u for u in walk(lambda n, c: hub.users.list(actor, n, c))}

    def person(user_id: str) -> str:
        user = people.get(user_id) or hub.user_store.get(user_id)
        return str(user.email or user.username) if user is not None else user_id

    teams = [t for t in walk(lambda n, c: hub.teams.listed(actor, n, c)) if t.id != "default"]
    team_name = {t.id: t.name for t in teams}
    doc: dict[str, Any] = {"version": VERSION, "teams": [], "schedules": [], "policies": [], "services": []}
    for t in teams:
        members = {person(u.id): role.value for u, role in hub.teams.members(actor, t.id)}
        doc["teams"].append(
            {
                "key": t.id,
                "name": t.name,
                "description": t.description,
                "members": members,
                "slack_channel": t.slack_channel,
            }
        )
    schedules = list(walk(lambda n, c: hub.schedules.list_schedules(actor, n, c, None)))
    schedule_name = {s.id: s.name for s in schedules}
    for s in schedules:
        rotations = [
            {
                "key": r.id,
                "name": r.name,
                "participants": [person(p) for p in r.participants],
                "start": _iso(r.start),
                "period": r.period,
                **({"hours": r.hours} if r.period == "hours" else {}),
                **({"timezone": r.timezone} if r.timezone != s.timezone else {}),
                **({"end": _iso(r.end)} if r.end else {}),
            }
            for r in hub.schedules.list_rotations(s.id, actor)
        ]
        doc["schedules"].append(
            {
                "key": s.id,
                "name": s.name,
                "timezone": s.timezone,
                "team": team_name.get(s.team_id or "default"),
                "rotations": rotations,
            }
        )
    policies = list(walk(lambda n, c: hub.catalog.list_policies(actor, n, c, None)))
    policy_name = {p.id: p.name for p in policies}
    for p in policies:
        levels = []
        for lv in p.levels:
            targets = []
            for t in lv.targets:
                if t.type.value == "user":
                    targets.append({"user": person(t.id)})
                elif t.type.value == "schedule":
                    targets.append({"schedule": schedule_name.get(t.id, t.id)})
                else:
                    targets.append({"team": team_name.get(t.id, t.id)})
            levels.append({"timeout_seconds": lv.timeout_seconds, "targets": targets})
        doc["policies"].append(
            {
                "key": p.id,
                "name": p.name,
                "team": team_name.get(p.team_id or "default"),
                "description": p.description,
                "repeat": p.repeat,
                "levels": levels,
            }
        )
    for svc in walk(lambda n, c: hub.catalog.list_services(actor, n, c, None)):
        doc["services"].append(
            {
                "key": svc.id,
                "name": svc.name,
                "team": team_name.get(svc.team_id or "default"),
                "description": svc.description,
                "policy": policy_name.get(svc.escalation_policy_id, svc.escalation_policy_id),
                "slack_channel": svc.slack_channel,
            }
        )
    return doc


def _need(obj: Any, field: str, where: str, kind: type = str) -> Any:
    value = obj.get(field) if isinstance(obj, dict) else None
    if not isinstance(value, kind) or (kind is str and not value):
        raise SourceError(f"{where}.{field}: required ({kind.__name__})")
    return value


def _channel(raw: Any, where: str) -> str | None:
    """A Slack channel id (``C0123ABCD``), or None for none: checked by the product's own rule before anything is
    applied."""
    from oncall.domain.errors import InvalidInput
    from oncall.domain.slack import check_channel_id

    if raw is not None and not isinstance(raw, str):
        raise SourceError(f"{where}: a Slack channel id such as C0123ABCD")
    try:
        return check_channel_id(raw)
    except InvalidInput as exc:
        raise SourceError(f"{where}: {exc.message.split(': ', 1)[-1]}") from None


def _time(raw: Any, where: str) -> datetime:
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            raise SourceError(f"{where}: not an RFC 3339 time ({raw!r})") from None
    if value.tzinfo is None:
        raise SourceError(f"{where}: needs a UTC offset ({raw!r})")
    return value.astimezone(UTC)


def account(doc: Any) -> Account:
    """The neutral account a configuration file describes; any mistake is a ``SourceError`` naming its place."""
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise SourceError(f"the file must be a mapping with 'version: {VERSION}' (make export writes one)")
    people: dict[str, SourceUser] = {}

    def ref(raw: Any, where: str) -> str:
        if not isinstance(raw, str) or not raw:
            raise SourceError(f"{where}: a person's email (or username)")
        if raw not in people:
            mail = "@" in raw
            people[raw] = SourceUser(raw, raw, raw if mail else "", username=None if mail else raw)
        return raw

    def key_of(obj: dict[str, Any], where: str) -> str:
        return str(obj.get("key") or _need(obj, "name", where))

    team_keys: dict[str, str] = {}
    teams = []
    for i, t in enumerate(doc.get("teams") or []):
        where = f"teams[{i}]"
        key, name = key_of(t, where), _need(t, "name", where)
        team_keys[name] = key
        members = {ref(p, f"{where}.members"): str(r) for p, r in (t.get("members") or {}).items()}
        bad = [r for r in members.values() if r not in ("manager", "responder", "observer")]
        if bad:
            raise SourceError(f"{where}.members: a role is manager, responder or observer (not {bad[0]!r})")
        channel = _channel(t.get("slack_channel"), f"{where}.slack_channel")
        teams.append(SourceTeam(key, name, t.get("description"), members, channel, says_slack_channel=True))

    def team(obj: dict[str, Any], where: str) -> str | None:
        name = obj.get("team")
        if name is None:
            return None
        if name not in team_keys:
            raise SourceError(f"{where}.team: no team {name!r} in this file")
        return team_keys[name]

    schedule_keys: dict[str, str] = {}
    schedules = []
    for i, s in enumerate(doc.get("schedules") or []):
        where = f"schedules[{i}]"
        key, name, tz = key_of(s, where), _need(s, "name", where), _need(s, "timezone", where)
        schedule_keys[name] = key
        rotations = []
        for j, r in enumerate(s.get("rotations") or []):
            at = f"{where}.rotations[{j}]"
            participants = r.get("participants") if isinstance(r, dict) else None
            if not isinstance(participants, list) or not participants:
                raise SourceError(f"{at}.participants: a list of people")
            period = _need(r, "period", at)
            if period not in ("daily", "weekly", "hours"):
                raise SourceError(f"{at}.period: daily, weekly or hours")
            rotations.append(
                SourceRotation(
                    id=f"{key}/{r.get('key') or r.get('name') or j}",
                    name=str(r.get("name") or ""),
                    participants=tuple(ref(p, f"{at}.participants") for p in participants),
                    start=_time(r.get("start"), f"{at}.start"),
                    period=period,
                    hours=int(r["hours"]) if period == "hours" and r.get("hours") else None,
                    timezone=str(r.get("timezone") or tz),
                    end=_time(r["end"], f"{at}.end") if r.get("end") else None,
                )
            )
        schedules.append(SourceSchedule(key, name, tz, team(s, where), tuple(rotations)))
    policy_keys: dict[str, str] = {}
    policies = []
    for i, p in enumerate(doc.get("policies") or []):
        where = f"policies[{i}]"
        key, name = key_of(p, where), _need(p, "name", where)
        policy_keys[name] = key
        levels = []
        for j, lv in enumerate(p.get("levels") or []):
            targets = []
            for k, t in enumerate(lv.get("targets") or []):
                if "user" in t:
                    targets.append(SourceTarget("user", ref(t["user"], f"{where}.levels[{j}].targets[{k}].user")))
                elif t.get("schedule") in schedule_keys:
                    targets.append(SourceTarget("schedule", schedule_keys[t["schedule"]]))
                elif "schedule" in t:
                    raise SourceError(f"{where}.levels[{j}].targets[{k}].schedule: no schedule {t['schedule']!r}")
                elif t.get("team") in team_keys:
                    targets.append(SourceTarget("team", team_keys[t["team"]]))
                else:
                    raise SourceError(f"{where}.levels[{j}].targets[{k}]: a user, a schedule or a team of this file")
            levels.append(SourceLevel(int(_need(lv, "timeout_seconds", f"{where}.levels[{j}]", int)), tuple(targets)))
        policies.append(
            SourcePolicy(key, name, tuple(levels), int(p.get("repeat") or 0), team(p, where), p.get("description"))
        )
    services = []
    for i, svc in enumerate(doc.get("services") or []):
        where = f"services[{i}]"
        policy = _need(svc, "policy", where)
        if policy not in policy_keys:
            raise SourceError(f"{where}.policy: no policy {policy!r} in this file")
        services.append(
            SourceService(
                key_of(svc, where),
                _need(svc, "name", where),
                policy_keys[policy],
                team(svc, where),
                svc.get("description"),
                slack_channel=_channel(svc.get("slack_channel"), f"{where}.slack_channel"),
                says_slack_channel=True,
            )
        )
    return Account("config", tuple(people.values()), tuple(teams), tuple(schedules), tuple(policies), tuple(services))
