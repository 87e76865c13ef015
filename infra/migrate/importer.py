"""From a source account to OnCall Hub: match what exists, decide create / match / update / skip for every object,
and with ``apply`` perform it through our services only, so every invariant (no overlapping shifts, teams, audit)
holds as it does for the API (docs/architecture.md, "Importing").

One pass in dependency order (teams, people, memberships, schedules with their rotations and overrides, policies,
services): with ``apply`` off it decides exactly what ``apply`` would do, with ids of objects not created yet shown as
``new:…``. A re-run finds everything by the ledger (or by name/email when a run stopped between an object and its
record) and changes only what differs; a failure of one object is reported and the rest goes on.

Long because it is that one pass: each kind's matching, comparison and write sit beside the others so the id maps
they share (source id → ours, ``new:…`` in a dry run) are filled and read in one order, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from infra.migrate.model import Account, SourceRotation, SourceSchedule
from infra.migrate.outcome import Action, Hub, Ledger, NewKey, Outcome, username_for, walk, zone_name


class Importer:
    def __init__(self, account: Account, hub: Hub, ledger: Ledger, actor: Any, *, apply: bool) -> None:
        self.account = account
        self.hub = hub
        self.ledger = ledger
        self.actor = actor
        self.apply = apply
        self.recorded = ledger.load(account.source)
        self.out = Outcome(account.source, apply)
        self.ids: dict[str, dict[str, str]] = {
            k: {} for k in ("team", "user", "schedule", "rotation", "policy", "service")
        }
        self.out.ids = self.ids

    # -- plumbing -------------------------------------------------------------------------------------------------

    def _act(self, action: Action) -> Action:
        self.out.actions.append(action)
        return action

    def _remember(self, kind: str, source_id: str, ours: str, found_by: str) -> None:
        self.ids[kind][source_id] = ours
        if self.apply and found_by != "ledger" and not ours.startswith("new:"):
            self.ledger.record(self.account.source, kind, source_id, ours)

    def _recorded(self, kind: str, source_id: str) -> str | None:
        return self.recorded.get((kind, source_id))

    def _attempt(self, action: Action, write: Callable[[], Any]) -> Any:
        """Run ``write`` when applying; a refusal marks ``action`` failed with the reason and the run goes on."""
        from oncall.domain.errors import DomainError

        if not self.apply:
            return None
        try:
            return write()
        except DomainError as exc:
            action.op = "failed"
            action.reason = f"{exc.code}: {exc.message}" + (f" {exc.details}" if exc.details else "")
            return None

    # -- the run --------------------------------------------------------------------------------------------------

    def run(self) -> Outcome:
        self._teams()
        self._users()
        self._memberships()
        for schedule in self.account.schedules:
            self._schedule(schedule)
        self._policies()
        self._services()
        return self.out

    def _teams(self) -> None:
        existing = {t.id: t for t in walk(lambda n, c: self.hub.teams.listed(self.actor, n, c))}
        by_name = {t.name.lower(): t for t in existing.values()}
        for src in self.account.teams:
            rec = self._recorded("team", src.id)
            team, how = (existing.get(rec), "ledger") if rec else (None, "")
            if team is None and src.name.lower() in by_name:
                team, how = by_name[src.name.lower()], "name"
            if team is None:
                action = self._act(Action("team", src.id, src.name, "create", f"new:team:{src.id}"))
                made = self._attempt(
                    action,
                    partial(
                        self.hub.teams.create,
                        self.actor,
                        name=src.name,
                        description=src.description,
                        slack_channel=src.slack_channel,
                    ),
                )
                ours = made.id if made is not None else action.ours
                action.ours = ours
                if action.op != "failed":
                    self._remember("team", src.id, str(ours), "created")
                continue
            changes = {k: v for k, v in (("name", src.name), ("description", src.description)) if getattr(team, k) != v}
            if src.says_slack_channel and team.slack_channel != src.slack_channel:
                changes["slack_channel"] = src.slack_channel
            action = self._act(
                Action("team", src.id, src.name, "update" if changes else "match", team.id, f"found by {how}", changes)
            )
            if changes:
                self._attempt(action, partial(self.hub.teams.update, self.actor, team.id, changes))
            self._remember("team", src.id, team.id, how)

    def _memberships_of(self, user_id: str) -> dict[str, str]:
        out: dict[str, str] = {}
        for team in self.account.teams:
            if user_id in team.members and team.id in self.ids["team"]:
                out[self.ids["team"][team.id]] = team.members[user_id]
        return out

    def _users(self) -> None:
        from oncall.domain.users import Role
        from oncall.services.users import NewUser

        people = list(walk(lambda n, c: self.hub.users.list(self.actor, n, c)))
        by_id = {u.id: u for u in people}
        by_email = {u.email.lower(): u for u in people if u.email}
        taken = {u.username for u in people}
        by_username = {u.username: u for u in people}
        for src in self.account.users:
            rec = self._recorded("user", src.id)
            person, how = (by_id.get(rec), "ledger") if rec else (None, "")
            if person is None and src.email and src.email.lower() in by_email:
                person, how = by_email[src.email.lower()], "email"
            if person is None and src.username in by_username:
                person, how = by_username[str(src.username)], "username"
            lost = f"; not carried over: {', '.join(src.unmapped_contacts)}" if src.unmapped_contacts else ""
            if person is not None:
                note = "" if person.active else " (disabled here: will not be paged)"
                self._act(Action("user", src.id, src.email, "match", person.id, f"found by {how}{note}{lost}"))
                self._remember("user", src.id, person.id, how)
                continue
            if "@" not in src.email:
                self._act(Action("user", src.id, src.name, "skip", None, "no email address to match or invite by"))
                continue
            teams = {t: r for t, r in self._memberships_of(src.id).items() if not t.startswith("new:")}
            new = NewUser(
                username=username_for(src.email, taken),
                password=None,
                role=Role(src.role),
                display_name=src.name[:128],
                email=src.email,
                timezone=zone_name(src.timezone) or "UTC",
                teams=teams or None,
            )
            action = self._act(
                Action(
                    "user",
                    src.id,
                    src.email,
                    "create",
                    f"new:user:{src.id}",
                    f"as {new.username}, {src.role}, no password (sign-in: single sign-on or an admin's reset){lost}",
                )
            )
            made = self._attempt(action, partial(self.hub.users.create, self.actor, new))
            if made is not None:
                action.ours = made.id
            if action.op != "failed":
                self._remember("user", src.id, str(action.ours), "created")

    def _memberships(self) -> None:
        from oncall.domain.teams import TeamRole

        for team in self.account.teams:
            ours_team = self.ids["team"].get(team.id)
            for src_user, role in sorted(team.members.items()):
                ours_user = self.ids["user"].get(src_user)
                if ours_team is None or ours_user is None:
                    continue
                label = f"{src_user} in {team.name}"
                if ours_team.startswith("new:") or ours_user.startswith("new:"):
                    if not ours_user.startswith("new:"):
                        self._act(Action("membership", f"{team.id}/{src_user}", label, "create", None, role))
                    continue  # a new person is created in their teams
                person = self.hub.user_store.get(ours_user)
                have = (person.teams or {}).get(ours_team) if person is not None else None
                if have == role:
                    self._act(Action("membership", f"{team.id}/{src_user}", label, "match", None, role))
                    continue
                action = self._act(
                    Action("membership", f"{team.id}/{src_user}", label, "update" if have else "create", None, role)
                )
                self._attempt(
                    action,
                    partial(self.hub.teams.put_member, self.actor, ours_team, ours_user, TeamRole(role)),
                )

    def _team_of(self, source_team: str | None) -> str | None:
        return self.ids["team"].get(source_team) if source_team else None

    def _schedule(self, src: SourceSchedule) -> None:
        svc = self.hub.schedules
        if not hasattr(self, "_existing_schedules"):
            self._existing_schedules = {s.id: s for s in walk(lambda n, c: svc.list_schedules(self.actor, n, c, None))}
        existing = self._existing_schedules
        tz = zone_name(src.timezone)
        if tz is None:
            self._act(Action("schedule", src.id, src.name, "skip", None, f"unknown time zone {src.timezone!r}"))
            return
        team = self._team_of(src.team)
        rec = self._recorded("schedule", src.id)
        current, how = (existing.get(rec), "ledger") if rec else (None, "")
        if current is None:
            named = [s for s in existing.values() if s.name.lower() == src.name.lower()]
            current, how = (named[0], "name") if named else (None, "")
        notes = "; ".join(src.unexpressed)
        if current is None:
            action = self._act(Action("schedule", src.id, src.name, "create", f"new:schedule:{src.id}", notes))
            if team is None or not team.startswith("new:"):
                made = self._attempt(
                    action, lambda: svc.create_schedule(self.actor, name=src.name, timezone=tz, team_id=team)
                )
                if made is not None:
                    action.ours = made.id
            if action.op == "failed":
                return
            self._remember("schedule", src.id, str(action.ours), "created")
        else:
            changes: dict[str, Any] = {}
            if current.name != src.name:
                changes["name"] = src.name
            if current.timezone != tz:
                changes["timezone"] = tz
            if team is not None and (current.team_id or "default") != team:
                changes["team_id"] = team
            action = self._act(
                Action("schedule", src.id, src.name, "update" if changes else "match", current.id, notes, changes)
            )
            if changes:
                self._attempt(
                    action,
                    lambda: svc.update_schedule(
                        self.actor,
                        current.id,
                        name=changes.get("name"),
                        timezone=changes.get("timezone"),
                        team=None,
                        team_id=changes.get("team_id"),
                    ),
                )
            self._remember("schedule", src.id, current.id, how)
        ours = str(action.ours)
        for rotation in src.rotations:
            self._rotation(ours, rotation)
        for override in src.overrides:
            self._override(ours, src, override)

    def _participants(self, rotation: SourceRotation) -> tuple[list[str], list[str]]:
        mine = [self.ids["user"].get(p) for p in rotation.participants]
        missing = [p for p, m in zip(rotation.participants, mine, strict=True) if m is None]
        return [m for m in mine if m is not None], missing

    def _rotation(self, schedule_id: str, src: SourceRotation) -> None:
        svc = self.hub.schedules
        participants, missing = self._participants(src)
        note = f"participants left out (not imported): {', '.join(missing)}" if missing else ""
        if not participants:
            self._act(Action("rotation", src.id, src.name, "skip", None, "none of its participants was imported"))
            return
        new = schedule_id.startswith("new:") or any(p.startswith("new:") for p in participants)
        stored = [] if schedule_id.startswith("new:") else svc.list_rotations(schedule_id)
        rec = self._recorded("rotation", src.id)
        current = next((r for r in stored if r.id == rec), None) if rec else None
        how = "ledger" if current else ""
        if current is None and not rec:
            named = [r for r in stored if r.name == src.name]
            current, how = (named[0], "name") if named else (None, "")
        if current is None:
            action = self._act(Action("rotation", src.id, src.name, "create", f"new:rotation:{src.id}", note))
            if not new:
                made = self._attempt(
                    action,
                    lambda: svc.create_rotation(
                        self.actor,
                        schedule_id=schedule_id,
                        participants=participants,
                        start=src.start,
                        period=src.period,
                        hours=src.hours,
                        end=src.end,
                        timezone=src.timezone,
                        name=src.name,
                    ),
                )
                if made is not None:
                    action.ours = made[0].id
                    if made[1].conflicts:
                        action.reason = (action.reason + "; " if action.reason else "") + (
                            f"{len(made[1].conflicts)} slot(s) not written: they overlap shifts already stored"
                        )
            if action.op != "failed":
                self._remember("rotation", src.id, str(action.ours), "created")
            return
        wanted = {
            "participants": participants,
            "start": src.start,
            "period": src.period,
            "hours": src.hours,
            "timezone": src.timezone,
            "end": src.end,
            "name": src.name,
        }
        have = {
            "participants": list(current.participants),
            "start": current.start,
            "period": current.period,
            "hours": current.hours,
            "timezone": current.timezone,
            "end": current.end,
            "name": current.name,
        }
        changes = {k: v for k, v in wanted.items() if have[k] != v}
        shown = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in changes.items()}
        action = self._act(
            Action("rotation", src.id, src.name, "update" if changes else "match", current.id, note, shown)
        )
        if changes:
            made = self._attempt(
                action,
                lambda: svc.update_rotation(
                    self.actor, schedule_id=schedule_id, rotation_id=current.id, changes=dict(wanted)
                ),
            )
            # our rotations change at the end of the running turn (docs/architecture.md, "Importing")
            when = made[0].effective_from.isoformat() if made is not None else "the end of the running turn"
            action.reason = (action.reason + "; " if action.reason else "") + f"the new rule holds from {when}"
            self.out.changed.setdefault(src.id.split("/", 1)[0], []).append(
                f"rotation {src.name!r} changed: the source's new rule holds here from {when}"
            )
        self._remember("rotation", src.id, current.id, how)

    def _override(self, schedule_id: str, schedule: SourceSchedule, src: Any) -> None:
        user = self.ids["user"].get(src.user)
        label = f"{src.user} {src.start.isoformat()}–{src.end.isoformat()}"
        if user is None:
            self._act(Action("override", src.id, label, "skip", None, "its person was not imported"))
            return
        if schedule_id.startswith("new:") or user.startswith("new:"):
            self._act(Action("override", src.id, label, "create", None, "after its schedule's rotations"))
            return
        svc = self.hub.schedules
        stored = list(walk(lambda n, c: svc.list_shifts(schedule_id, src.start, src.end, n, c)))
        if any(s.user_id == user and s.start == src.start and s.end == src.end for s in stored):
            self._act(Action("override", src.id, label, "match", None, "the same shift is stored"))
            return
        action = self._act(Action("override", src.id, label, "create", None, ""))
        made = self._attempt(
            action,
            lambda: svc.override(self.actor, schedule_id=schedule_id, user_id=user, start=src.start, end=src.end),
        )
        if made is not None:
            action.ours = made.id

    def _policies(self) -> None:
        from oncall.domain.escalation import MAX_REPEAT, MAX_TIMEOUT, MIN_TIMEOUT, Level, Target, TargetType

        svc = self.hub.catalog
        existing = {p.id: p for p in walk(lambda n, c: svc.list_policies(self.actor, n, c, None))}
        for src in self.account.policies:
            notes = list(src.unexpressed)
            levels: list[Level] = []
            pending = False
            for i, lv in enumerate(src.levels):
                targets = []
                for t in lv.targets:
                    ours = self.ids[t.type].get(t.id)
                    if ours is None:
                        notes.append(f"level {i + 1}: {t.type} {t.id} was not imported; left out")
                        continue
                    pending = pending or ours.startswith("new:")
                    targets.append(Target(TargetType(t.type), ours))
                timeout = min(MAX_TIMEOUT, max(MIN_TIMEOUT, lv.delay_seconds))
                if timeout != lv.delay_seconds:
                    notes.append(f"level {i + 1}: a delay of {lv.delay_seconds} s becomes {timeout} s")
                if targets:
                    levels.append(Level(tuple(targets), timeout))
                else:
                    notes.append(f"level {i + 1}: no target left; level dropped")
            repeat = min(MAX_REPEAT, src.repeat)
            if repeat != src.repeat:
                notes.append(f"repeats {src.repeat} times in the source; at most {MAX_REPEAT} here")
            team = self._team_of(src.team)
            pending = pending or bool(team and team.startswith("new:"))
            reason = "; ".join(notes)
            if not levels:
                self._act(Action("policy", src.id, src.name, "skip", None, reason or "no level"))
                continue
            rec = self._recorded("policy", src.id)
            current, how = (existing.get(rec), "ledger") if rec else (None, "")
            if current is None:
                named = [p for p in existing.values() if p.name.lower() == src.name.lower()]
                current, how = (named[0], "name") if named else (None, "")
            if current is None:
                action = self._act(Action("policy", src.id, src.name, "create", f"new:policy:{src.id}", reason))
                if not pending:
                    made = self._attempt(
                        action,
                        partial(
                            svc.create_policy,
                            self.actor,
                            name=src.name,
                            levels=levels,
                            repeat=repeat,
                            description=src.description,
                            team_id=team,
                        ),
                    )
                    if made is not None:
                        action.ours = made.id
                if action.op != "failed":
                    self._remember("policy", src.id, str(action.ours), "created")
                continue
            changes: dict[str, Any] = {}
            if current.name != src.name:
                changes["name"] = src.name
            if current.levels != tuple(levels):
                changes["levels"] = tuple(levels)
            if current.repeat != repeat:
                changes["repeat"] = repeat
            if current.description != src.description:
                changes["description"] = src.description
            if team is not None and (current.team_id or "default") != team:
                changes["team_id"] = team
            shown = {k: ([lv.to_dict() for lv in v] if k == "levels" else v) for k, v in changes.items()}
            action = self._act(
                Action("policy", src.id, src.name, "update" if changes else "match", current.id, reason, shown)
            )
            if changes and not pending:
                self._attempt(action, partial(svc.update_policy, self.actor, current.id, changes))
            self._remember("policy", src.id, current.id, how)

    def _services(self) -> None:
        svc = self.hub.catalog
        existing = {s.id: s for s in walk(lambda n, c: svc.list_services(self.actor, n, c, None))}
        for src in self.account.services:
            policy = self.ids["policy"].get(src.policy)
            if policy is None:
                self._act(
                    Action("service", src.id, src.name, "skip", None, f"its policy {src.policy} was not imported")
                )
                continue
            team = self._team_of(src.team)
            pending = policy.startswith("new:") or bool(team and team.startswith("new:"))
            rec = self._recorded("service", src.id)
            current, how = (existing.get(rec), "ledger") if rec else (None, "")
            if current is None:
                named = [s for s in existing.values() if s.name.lower() == src.name.lower()]
                current, how = (named[0], "name") if named else (None, "")
            if current is None:
                action = self._act(Action("service", src.id, src.name, "create", f"new:service:{src.id}", "new key"))
                if not pending:
                    made = self._attempt(
                        action,
                        partial(
                            svc.create_service,
                            self.actor,
                            name=src.name,
                            escalation_policy_id=policy,
                            description=src.description,
                            team_id=team,
                            slack_channel=src.slack_channel,
                        ),
                    )
                    if made is not None:
                        service, key = made
                        action.ours = service.id
                        self.out.keys.append(NewKey(service.name, service.id, key, src.integrations))
                if action.op != "failed":
                    self._remember("service", src.id, str(action.ours), "created")
                continue
            changes: dict[str, Any] = {}
            if current.name != src.name:
                changes["name"] = src.name
            if current.description != src.description:
                changes["description"] = src.description
            if current.escalation_policy_id != policy:
                changes["escalation_policy_id"] = policy
            if src.says_slack_channel and current.slack_channel != src.slack_channel:
                changes["slack_channel"] = src.slack_channel
            if team is not None and (current.team_id or "default") != team:
                changes["team_id"] = team
            action = self._act(
                Action(
                    "service",
                    src.id,
                    src.name,
                    "update" if changes else "match",
                    current.id,
                    "its key is unchanged (rotate it in the API if it was lost)",
                    dict(changes),
                )
            )
            if changes and not pending:
                self._attempt(action, partial(svc.update_service, self.actor, current.id, changes))
            self._remember("service", src.id, current.id, how)
