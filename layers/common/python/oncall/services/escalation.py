"""The lifecycle's Lambda tasks: plan the next move, page a level (recording the callback token), hold, time out.

The state machine (``infra/statemachines/incident_lifecycle.asl.json``) carries a small state
``{incident_id, generation, step, next, phase, wait_seconds}`` and calls these through ``functions/escalation``:

- ``plan``: reads the incident and its policy, records an escalation (or the policy's exhaustion) as a conditional
  change with its ``incident.escalated`` event, and says what to do next (``domain.escalation.plan``).
- ``page_level`` (the ASL's ``page`` action, a ``.waitForTaskToken`` task): records the token on the incident
  (only if it is still triggered at this step), then pages everyone the level resolves to. Nobody on call / nobody
  reachable → ``NobodyReachable`` (the ASL catches it and escalates at once, the timeline says why). Moved on
  meanwhile → ``IncidentMoved`` (re-plan).
- ``hold`` (also a callback task): records the token while acknowledged / exhausted / resolved, so the next move
  (resolve, un-ack, close, reopen) ends the wait at once.
- ``hold_timeout``: the wait ran out: an ack timeout re-triggers, a resolved incident is closed.
- ``fallback``: ``plan``, ``escalate`` or ``hold_timeout`` still failed after their retries (throttling, a policy
  that cannot be read, a bug): page everyone on the policy at once (every active admin when the policy cannot be read
  or resolved), record why on the timeline, and hold as exhausted for ``FALLBACK_HOLD_SECONDS`` before planning again
  (docs/architecture.md, "How a page flows"). A lifecycle therefore never ends with nobody paged; if even this fails,
  the execution fails and the lifecycle sweep (``oncall.services.lifecycle_sweep``) starts another.

Every task is idempotent under Step Functions' retries: changes are conditional on the version read, pages carry a
dedup key per (incident, generation, step, person).

What a page says and which buttons it carries is ``oncall.services.incident_pages``; this module decides when and to
whom. A page that waited for a rate window comes back through ``page_wanted`` / ``page_settled``.

Long because the lifecycle's tasks share how a level resolves to people and how a page is sent, and the fallback is
one more of them: split apart they would each re-implement both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any, ClassVar, Protocol

from oncall.domain import texts
from oncall.domain.escalation import Next, Phase, Plan, Policy, Target, TargetType, plan
from oncall.domain.incidents import Action, Incident, Status, execution_name
from oncall.domain.services_catalog import Service
from oncall.domain.users import User
from oncall.observability import log
from oncall.services.identity_ports import UserLookup
from oncall.services.incident_pages import (
    after_ack_buttons,
    fallback_page_entry,
    nobody_on_call_entry,
    outcome_text,
    page_content,
    page_entry,
    page_for,
    page_key,
    unreachable_entry,
)
from oncall.services.incident_ports import (
    CatalogStore,
    IncidentStore,
    Lifecycle,
    OnCall,
    Pager,
    PageResult,
    StaleWrite,
)
from oncall.services.incidents import MAX_ATTEMPTS, IncidentService, entry, event_of

#: after a fallback, how long the lifecycle holds (as exhausted) before it tries to plan again
FALLBACK_HOLD_SECONDS = 15 * 60


class Admins(Protocol):
    """Who is paged when the escalation policy cannot be read: every active admin (there is always at least one)."""

    def active_admins(self) -> list[str]: ...


class Alarms(Protocol):
    """How the operators hear that the lifecycle's fallback itself failed (the execution fails next)."""

    def fallback_failed(self, incident_id: str) -> None: ...


class ChannelPoster(Protocol):
    """The incident's message in its service's Slack channel (``oncall.services.incident_channel``); never raises.
    ``service`` is the incident's service when the caller already read it (None: the poster reads it)."""

    def post(self, incident: Incident, now: datetime, service: Service | None = None) -> str | None: ...


class TaskPeople:
    """The people one task reads, each at most once: who a level resolves to and the names its timeline lines
    give them come from the same read. Made per task and passed down, never kept between tasks (a person renamed or
    deactivated meanwhile is read afresh by the next task; docs/architecture.md, "Reads per page")."""

    def __init__(self, lookup: UserLookup) -> None:
        self.lookup = lookup
        self.read: dict[str, User | None] = {}

    def get(self, user_id: str) -> User | None:
        if user_id not in self.read:
            self.read[user_id] = self.lookup.get(user_id)
        return self.read[user_id]

    def name(self, user_id: str) -> str:
        person = self.get(user_id)
        return person.display_name if person else user_id


class PolicyUnavailable(Exception):
    """A triggered incident's service or escalation policy cannot be found: nobody to page by the policy, so the
    lifecycle goes straight to its fallback (caught by name in the ASL, never retried)."""


class NobodyReachable(Exception):
    """A level resolved to nobody on call, or nobody could be reached: escalate at once (caught by name in the ASL)."""


class IncidentMoved(Exception):
    """The incident is no longer where this task expected it (acknowledged, resolved, newer generation): re-plan."""


def initial_state(incident_id: str, generation: int) -> dict[str, Any]:
    return {
        "incident_id": incident_id,
        "generation": generation,
        "step": 0,
        "next": Next.PAGE.value,
        "phase": Phase.PAGING.value,
        "wait_seconds": 1,
    }


def start_lifecycle(lifecycle: Lifecycle, detail: dict[str, Any]) -> str | None:
    """On ``incident.triggered`` / ``incident.reopened``: start ``<id>-<generation>`` (a retried or duplicate event
    meets ExecutionAlreadyExists, which is success). Un-ack events resume the running execution: nothing to start."""
    incident_id = str(detail["id"])
    generation = int(detail.get("generation", 1))
    if detail.get("trigger_reason") in ("unacknowledged", "ack_timeout"):
        return None
    return lifecycle.start(execution_name(incident_id, generation), initial_state(incident_id, generation))


class EscalationService:
    def __init__(
        self,
        incidents: IncidentStore,
        catalog: CatalogStore,
        people: UserLookup,
        oncall: OnCall,
        pager: Pager,
        lifecycle: Lifecycle,
        incident_service: IncidentService,
        clock: Callable[[], datetime],
        state_machine_arn: str | None = None,
        admins: Admins | None = None,
        alarms: Alarms | None = None,
        channel: ChannelPoster | None = None,
    ) -> None:
        self.incidents = incidents
        self.catalog = catalog
        self.people = people
        self.oncall = oncall
        self.pager = pager
        self.lifecycle = lifecycle
        self.incident_service = incident_service
        self.clock = clock
        self.state_machine_arn = state_machine_arn
        self.admins = admins
        self.alarms = alarms
        self.channel = channel

    # -- plan -------------------------------------------------------------------------------------------------------
    def _policy(self, incident: Incident) -> Policy | None:
        return self._service_policy(incident)[1]

    def _service_policy(self, incident: Incident) -> tuple[Service | None, Policy | None]:
        """The incident's service and its policy, read once per task: the service is passed down to every page
        and to the channel post of that task (docs/architecture.md, "Reads per page")."""
        service = self.catalog.get_service(incident.service_id)
        return service, self.catalog.get_policy(service.escalation_policy_id) if service else None

    def plan(self, state: dict[str, Any], *, advance: bool) -> dict[str, Any]:
        incident_id = str(state["incident_id"])
        generation = int(state["generation"])
        step = int(state.get("step", 0))
        for _ in range(MAX_ATTEMPTS):
            incident = self.incidents.get(incident_id)
            service, policy = self._service_policy(incident) if incident else (None, None)
            decided = plan(
                incident,
                policy,
                generation=generation,
                step=step,
                advance=advance,
                previous_phase=state.get("phase"),
                now=self.clock(),
            )
            if incident is None:
                return decided.state(incident_id, generation)
            if policy is None and incident.generation == generation and incident.status is Status.TRIGGERED:
                raise PolicyUnavailable(f"incident {incident_id}: service {incident.service_id} or its policy is gone")
            try:
                self._record(incident, service, policy, decided)
            except StaleWrite:
                continue
            if decided.phase is not Phase(state.get("phase", Phase.PAGING.value)) and decided.phase in (
                Phase.ACKNOWLEDGED,
                Phase.RESOLVED,
            ):
                self._announce(incident)
            return decided.state(incident_id, generation)
        raise RuntimeError(f"incident {incident_id} kept changing while planning")

    def _record(self, incident: Incident, service: Service | None, policy: Policy | None, decided: Plan) -> None:
        now = self.clock()
        if decided.escalate_to is not None and policy is not None:
            level_no, round_no, level = policy.level_of(decided.escalate_to)
            after = replace(
                incident,
                escalation_step=decided.escalate_to,
                escalation_level=level_no,
                version=incident.version + 1,
                updated_at=now,
            )
            first = decided.escalate_to == 0
            text = texts.paging_level(level_no) if first else texts.escalated(level_no, round_no)
            entries = [
                entry(
                    incident.id,
                    now,
                    "paging" if first else "escalated",
                    text,
                    None,
                    level=level_no,
                    round=round_no,
                    step=decided.escalate_to,
                    timeout_seconds=level.timeout_seconds,
                    version=after.version,
                )
            ]
            event = None if first else event_of(after, "incident.escalated", now, level=level_no, round=round_no)
            self.incidents.commit(incident, after, entries, event)
        elif decided.mark_exhausted:
            everyone = self._resolve(policy.everyone() if policy else (), now)
            # tell everyone first: pages are deduplicated by key, so a retry after a crash does not repeat them
            context = self._context(incident, None, everyone)
            results = {
                uid: self._send(incident, service, uid, "escalation", f"exhausted:{uid}", now, context, exhausted=True)
                for uid in everyone
            }
            after = replace(incident, exhausted=True, version=incident.version + 1, updated_at=now)
            entries = [
                entry(
                    incident.id,
                    now,
                    "exhausted",
                    texts.exhausted(anyone_notified=bool(everyone)),
                    None,
                    notified=sorted(uid for uid, r in results.items() if r.reached or r.pending),
                    version=after.version,
                )
            ]
            self.incidents.commit(incident, after, entries, event_of(after, "incident.escalated", now, exhausted=True))

    def _announce(self, incident: Incident) -> None:
        """Rewrite this round's pages to say who acknowledged / resolved and when, on every recipient's phone (the
        person who pressed a button already sees it; an unchanged message is a no-op). After an acknowledgement
        the buttons stay (Resolve is still useful); after a resolve they go."""
        done: texts.Done
        if incident.status is Status.RESOLVED and incident.resolved_at is not None:
            done, who_id, at, buttons = "resolved", incident.resolved_by, incident.resolved_at, ()
        elif incident.status is Status.ACKNOWLEDGED and incident.acknowledged_at is not None:
            done, who_id, at, buttons = "acknowledged", incident.acknowledged_by, incident.acknowledged_at, None
        else:
            return
        who = self._name(who_id) if who_id else texts.SYSTEM_ACTOR
        text = outcome_text(incident.title, incident.id, done, who, at, severity=incident.severity.value)
        entries = self.incidents.page_entries(incident.id)
        refs = {
            str(e.data["ref"])
            for e in entries
            if e.kind == "page"
            and e.data.get("ref")
            # a digest lists other incidents too: its own buttons answer for each, it is not rewritten for one
            and not e.data.get("digest")
            and e.data.get("generation") == incident.generation
            and e.data.get("cycle") == incident.cycle
        }
        for ref in sorted(refs):
            self.pager.edit(ref, text, after_ack_buttons(incident.id) if buttons is None else buttons)

    # -- page -------------------------------------------------------------------------------------------------------
    def _resolve(self, targets: tuple[Target, ...], now: datetime, people: TaskPeople | None = None) -> list[str]:
        people = people if people is not None else TaskPeople(self.people)
        users: dict[str, None] = {}
        for target in targets:
            if target.type is TargetType.USER:
                person = people.get(target.id)
                if person is not None and person.active:
                    users.setdefault(person.id, None)
            elif target.type is TargetType.TEAM:
                for member in self.oncall.team(target.id, now):
                    users.setdefault(member, None)
            else:
                who = self.oncall.who(target.id, now)
                if who is not None:
                    users.setdefault(who, None)
        return list(users)

    def _send(
        self,
        incident: Incident,
        service: Service | None,
        user_id: str,
        kind: str,
        key: str,
        now: datetime,
        context: Mapping[str, Any] | None = None,
        *,
        exhausted: bool = False,
    ) -> PageResult:
        from oncall.settings import get_settings

        # the service (its name and runbook) was read once by the task, not once per page
        content = page_content(incident, service, get_settings().public_url, exhausted=exhausted)
        return self.pager.send(user_id, page_for(incident, kind, key, content), now, context)

    def page_level(self, state: dict[str, Any], token: str) -> dict[str, Any]:
        """Page everyone the state's level resolves to, once its callback token is armed on the incident."""
        incident_id = str(state["incident_id"])
        generation = int(state["generation"])
        step = int(state["step"])
        if not self.incidents.arm(incident_id, generation=generation, status=Status.TRIGGERED, step=step, token=token):
            raise IncidentMoved(f"incident {incident_id} is no longer triggered at step {step}")
        incident = self.incidents.get(incident_id)
        service, policy = self._service_policy(incident) if incident else (None, None)
        if incident is None or policy is None:
            raise IncidentMoved(f"incident {incident_id} or its policy is gone")
        now = self.clock()
        level_no, round_no, level = policy.level_of(step)
        people = TaskPeople(self.people)
        users = self._resolve(level.targets, now, people)
        if not users:
            self._post_to_channel(incident, now, service)
            self.incidents.add_entries([nobody_on_call_entry(incident_id, level_no, round_no, step, now)])
            raise NobodyReachable(f"level {level_no} of incident {incident_id}: nobody on call")
        context = self._context(incident, step, users, level=level_no, round=round_no)
        entries = []
        results: dict[str, PageResult] = {}
        # low urgency reaches the person by their low-urgency channels (``Kind.LOW_URGENCY``), once
        kind = "low_urgency" if incident.urgency == "low" else "page"
        for uid in users:
            result = results[uid] = self._send(incident, service, uid, kind, f"step{step}:{uid}", now, context)
            entries.append(page_entry(incident, people.name(uid), uid, result, context, now))
        self._post_to_channel(incident, now, service)
        reached = sum(1 for r in results.values() if r.reached)
        pending = [uid for uid, r in results.items() if r.pending]
        if not reached and pending and not self._anyone_pending(incident, step, pending):
            # the queued pages already failed while this task was still paging the others
            pending = []
        if not reached and not pending:
            entries.append(unreachable_entry(incident, level_no, round_no, step, results, people.name, now))
        self.incidents.add_entries(entries)
        if not reached and not pending:
            raise NobodyReachable(f"level {level_no} of incident {incident_id}: nobody reachable")
        return {"paged": reached, "queued": len(pending)}

    def _post_to_channel(self, incident: Incident, now: datetime, service: Service | None) -> None:
        """The service's Slack channel hears of the incident whoever the level resolves to (nobody included), after
        the people: their pages never wait on it (``oncall.services.incident_channel``). ``service`` is the one the
        task already read (None: the poster reads it)."""
        if self.channel is not None:
            self.channel.post(incident, now, service)

    # -- queued pages -----------------------------------------------------------------------------------------------
    @staticmethod
    def _context(incident: Incident, step: int | None, users: list[str], **extra: Any) -> dict[str, Any]:
        """What a queued page carries back to ``page_wanted`` / ``page_settled``: which level of which run of the
        incident it belongs to, and who else that level paged."""
        return {
            "incident_id": incident.id,
            "generation": incident.generation,
            "cycle": incident.cycle,
            "step": step,
            "recipients": list(users),
            **extra,
        }

    def _anyone_pending(self, incident: Incident, step: int, users: list[str]) -> bool:
        """Whether a page of this level to any of ``users`` is out or on its way (strongly consistent reads)."""
        for uid in users:
            status = self.pager.status(
                uid, page_key(incident.id, incident.generation, incident.cycle, f"step{step}:{uid}")
            )
            if status in ("sent", "capped", "queued", "sending"):
                return True
        return False

    def page_wanted(self, context: Mapping[str, Any]) -> bool:
        """A queued page goes out only while its incident still waits at that level (an incident acknowledged or
        escalated meanwhile is not paged about that level any more)."""
        incident = self.incidents.get(str(context["incident_id"]))
        if incident is None or incident.status is not Status.TRIGGERED:
            return False
        if incident.generation != context.get("generation") or incident.cycle != context.get("cycle"):
            return False
        step = context.get("step")
        return step is None or incident.escalation_step == step

    def page_settled(
        self, user_id: str, result: PageResult, context: Mapping[str, Any], now: datetime, *, digest: bool = False
    ) -> None:
        """A queued page went out, failed on every channel, or was dropped. Recorded on the timeline (with its ref,
        so an acknowledgement edits it); when it failed and nobody else of its level was or will be reached, the
        level is unreachable: the waiting Page task fails with ``NobodyReachable`` and the lifecycle escalates at
        once."""
        incident = self.incidents.get(str(context["incident_id"]))
        if incident is None:
            return
        self.incidents.add_entries(
            [page_entry(incident, self._name(user_id), user_id, result, context, now, digest=digest, queued=True)]
        )
        step = context.get("step")
        if result.reached or result.pending or result.status == "cancelled" or step is None:
            return
        others = [u for u in context.get("recipients", []) if u != user_id]
        if self._anyone_pending(incident, int(step), others):
            return
        if not self.page_wanted(context) or not incident.task_token:
            return
        level_no, round_no = int(context.get("level") or 0), int(context.get("round") or 0)
        results = {
            uid: PageResult(
                self.pager.status(uid, page_key(incident.id, incident.generation, incident.cycle, f"step{step}:{uid}"))
                or "failed"
            )
            for uid in others
        }
        results[user_id] = result
        self.incidents.add_entries(
            [unreachable_entry(incident, level_no, round_no, int(step), results, self._name, now)]
        )
        self.lifecycle.fail(incident.task_token, "NobodyReachable", f"level {level_no}: every page failed")

    # -- fallback ---------------------------------------------------------------------------------------------------
    def fallback(self, state: dict[str, Any]) -> dict[str, Any]:
        """A lifecycle task still failed after its retries (``state["error"]``: Step Functions' ``{Error, Cause}``).
        Triggered: page everyone on the policy now (every active admin when the policy cannot be read or resolves to
        nobody), record why, and hold as exhausted for ``FALLBACK_HOLD_SECONDS``. Otherwise nobody waits for a page:
        record why and hold for what the incident is in. Pages carry a dedup key per (incident run, person), so a
        repeated fallback pages nobody twice. If even this fails, the alarms hear it before the error propagates."""
        try:
            return self._fallback(state)
        except Exception:
            if self.alarms is not None:
                self.alarms.fallback_failed(str(state.get("incident_id")))
            raise

    def _fallback(self, state: dict[str, Any]) -> dict[str, Any]:
        incident_id = str(state["incident_id"])
        generation = int(state["generation"])
        step = int(state.get("step", 0))
        raw_error = state.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        why = str(error.get("Error") or "unknown error")[:100]
        cause = str(error.get("Cause") or "")[:500]
        log.error("lifecycle of incident %s failed (%s): %s; falling back", incident_id, why, cause)
        incident = self.incidents.get(incident_id)
        if incident is None or incident.generation != generation or incident.status is Status.CLOSED:
            return Plan(Next.DONE, Phase.DONE, step).state(incident_id, generation)
        # the service is read once: its policy, every page's content and the channel post all come from this read
        service = self._readable(lambda: self.catalog.get_service(incident.service_id))
        policy = self._readable(lambda: self.catalog.get_policy(service.escalation_policy_id)) if service else None
        now = self.clock()
        if incident.status is not Status.TRIGGERED:
            decided = plan(
                incident, policy, generation=generation, step=step, advance=False, previous_phase=state.get("phase")
            )
            text = texts.lifecycle_fallback(why, to_admins=False, reached=None)
            self.incidents.add_entries([entry(incident_id, now, "fallback", text, None, error=why, cause=cause)])
            return decided.state(incident_id, generation)
        people = TaskPeople(self.people)
        users = self._readable(lambda: self._resolve(policy.everyone(), now, people) if policy else []) or []
        to_admins = not users
        if to_admins and self.admins is not None:
            users = self.admins.active_admins()
        from oncall.settings import get_settings

        content = page_content(incident, service, get_settings().public_url, exhausted=False)
        context = self._context(incident, None, users, fallback=True)
        entries = []
        reached = 0
        for uid in users:
            try:
                result = self.pager.send(uid, page_for(incident, "page", f"fallback:{uid}", content), now, context)
            except Exception as exc:  # one person's failure must not keep the others from being paged
                log.exception("fallback page of incident %s to %s failed", incident_id, uid)
                result = PageResult("failed", detail=type(exc).__name__)
            reached += result.reached or result.pending
            if result.status != "duplicate":
                name = self._readable(partial(people.name, uid)) or uid
                entries.append(fallback_page_entry(incident, name, uid, result, now))
        self._post_to_channel(incident, now, service)
        text = texts.lifecycle_fallback(why, to_admins=to_admins, reached=reached)
        entries.append(
            entry(incident_id, now, "fallback", text, None, error=why, cause=cause, to_admins=to_admins, notified=users)
        )
        self.incidents.add_entries(entries)
        held = max(step, incident.escalation_step, 0)
        return Plan(Next.HOLD, Phase.EXHAUSTED, held, wait_seconds=FALLBACK_HOLD_SECONDS).state(incident_id, generation)

    @staticmethod
    def _readable[T](read: Callable[[], T]) -> T | None:
        """``read()``, or None when it fails: the fallback pages with what it can still read."""
        try:
            return read()
        except Exception:
            log.exception("fallback: a read failed; paging with what is left")
            return None

    def _name(self, user_id: str) -> str:
        person = self.people.get(user_id)
        return person.display_name if person else user_id

    # -- hold / timeouts --------------------------------------------------------------------------------------------
    _HOLD_STATUS: ClassVar[dict[str, Status]] = {
        Phase.ACKNOWLEDGED.value: Status.ACKNOWLEDGED,
        Phase.EXHAUSTED.value: Status.TRIGGERED,
        Phase.LOW_URGENCY.value: Status.TRIGGERED,
        Phase.RESOLVED.value: Status.RESOLVED,
    }

    def hold(self, state: dict[str, Any], token: str) -> dict[str, Any]:
        status = self._HOLD_STATUS.get(str(state.get("phase")))
        incident_id = str(state["incident_id"])
        if status is None or not self.incidents.arm(
            incident_id, generation=int(state["generation"]), status=status, step=None, token=token
        ):
            raise IncidentMoved(f"incident {incident_id} is no longer {status}")
        return {"holding": str(state.get("phase"))}

    def hold_timeout(self, state: dict[str, Any]) -> dict[str, Any]:
        """The wait ran out: acknowledged past the ack timeout → re-trigger; resolved past the period → close."""
        incident_id = str(state["incident_id"])
        generation = int(state["generation"])
        phase = state.get("phase")
        if phase == Phase.ACKNOWLEDGED.value:
            incident = self.incidents.get(incident_id)
            policy = self._policy(incident) if incident else None
            if policy is not None and policy.ack_timeout_seconds:
                self.incident_service.system_act(incident_id, Action.ACK_TIMEOUT, generation=generation)
        elif phase == Phase.RESOLVED.value:
            self.incident_service.system_act(incident_id, Action.AUTO_CLOSE, generation=generation)
        elif phase == Phase.LOW_URGENCY.value:
            self._raise_if_due(incident_id, generation)
        return state

    def _raise_if_due(self, incident_id: str, generation: int) -> None:
        """A low-urgency incident still open when support hours start becomes high urgency and pages from the first
        level, as a new round (its page keys differ from the low-urgency notice's, so the page is not taken for a
        duplicate)."""
        for _ in range(MAX_ATTEMPTS):
            incident = self.incidents.get(incident_id)
            now = self.clock()
            if (
                incident is None
                or incident.generation != generation
                or incident.status is not Status.TRIGGERED
                or incident.urgency != "low"
                or incident.raise_at is None
                or now < incident.raise_at
            ):
                return
            after = replace(
                incident,
                urgency="high",
                raise_at=None,
                escalation_step=-1,
                cycle=incident.cycle + 1,
                version=incident.version + 1,
                updated_at=now,
            )
            line = entry(
                incident_id, now, "urgency", texts.raised_to_high(), None, urgency="high", version=after.version
            )
            try:
                self.incidents.commit(incident, after, [line], None)
                return
            except StaleWrite:
                continue
