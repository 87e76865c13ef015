"""Escalation policies and the lifecycle's decisions. Pure: the state machine's Lambda tasks read state, call ``plan``
and write what it says.

A policy is ordered levels (each: users and/or schedules, ``timeout_seconds``) run ``1 + repeat`` times. The lifecycle
walks *steps*: step ``s`` pages level ``s % len(levels)`` in round ``s // len(levels)``; after the last step the policy
is *exhausted*: everyone on it is told once and the incident waits for a human.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from oncall.domain.errors import InvalidInput
from oncall.domain.incidents import Incident, Status
from oncall.domain.names import check_name

MAX_LEVELS = 10
MAX_TARGETS = 20
MAX_REPEAT = 9
#: Step Functions allows up to a year; a level longer than a day is a policy mistake, not a wish
MIN_TIMEOUT = 1
MAX_TIMEOUT = 24 * 3600
#: how long a wait without a deadline (acknowledged, exhausted) lasts before it is re-armed; bounded so an execution
#: never nears the one-year limit and re-arming costs a handful of transitions a week
HOLD_SECONDS = 7 * 24 * 3600


class TargetType(StrEnum):
    USER = "user"
    SCHEDULE = "schedule"
    #: whoever is on call now on any of the team's schedules
    TEAM = "team"


@dataclass(frozen=True)
class Target:
    type: TargetType
    id: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type.value, "id": self.id}


@dataclass(frozen=True)
class Level:
    targets: tuple[Target, ...]
    timeout_seconds: int

    def to_dict(self) -> dict[str, Any]:
        return {"targets": [t.to_dict() for t in self.targets], "timeout_seconds": self.timeout_seconds}


@dataclass(frozen=True)
class Policy:
    id: str
    name: str
    levels: tuple[Level, ...]
    repeat: int = 0
    #: after an acknowledgement, re-trigger if not resolved within this many seconds (None: never)
    ack_timeout_seconds: int | None = None
    #: after resolve, close automatically after this many seconds
    auto_close_seconds: int = 24 * 3600
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 1
    description: str | None = field(default=None)
    #: the owning team (``oncall.domain.teams``); None: stored before teams, the default team's
    team_id: str | None = None

    @property
    def steps(self) -> int:
        return len(self.levels) * (1 + self.repeat)

    def level_of(self, step: int) -> tuple[int, int, Level]:
        """(level number from 1, round from 1, level) of ``step``."""
        index = step % len(self.levels)
        return index + 1, step // len(self.levels) + 1, self.levels[index]

    def everyone(self) -> tuple[Target, ...]:
        seen: dict[Target, None] = {}
        for level in self.levels:
            for target in level.targets:
                seen.setdefault(target, None)
        return tuple(seen)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "team_id": self.team_id or "default",
            "description": self.description,
            "levels": [lv.to_dict() for lv in self.levels],
            "repeat": self.repeat,
            "ack_timeout_seconds": self.ack_timeout_seconds,
            "auto_close_seconds": self.auto_close_seconds,
            "version": self.version,
        }


def check_policy(
    name: str, levels: list[Level], repeat: int, ack_timeout_seconds: int | None, auto_close_seconds: int
) -> None:
    check_name(name)
    if not levels:
        raise InvalidInput("levels", "at least one level is needed")
    if len(levels) > MAX_LEVELS:
        raise InvalidInput("levels", f"at most {MAX_LEVELS} levels")
    for i, level in enumerate(levels):
        if not level.targets:
            raise InvalidInput(f"levels[{i}].targets", "at least one target is needed")
        if len(level.targets) > MAX_TARGETS:
            raise InvalidInput(f"levels[{i}].targets", f"at most {MAX_TARGETS} targets")
        if not MIN_TIMEOUT <= level.timeout_seconds <= MAX_TIMEOUT:
            raise InvalidInput(f"levels[{i}].timeout_seconds", f"must be between {MIN_TIMEOUT} and {MAX_TIMEOUT}")
    if not 0 <= repeat <= MAX_REPEAT:
        raise InvalidInput("repeat", f"must be between 0 and {MAX_REPEAT}")
    if ack_timeout_seconds is not None and not MIN_TIMEOUT <= ack_timeout_seconds <= HOLD_SECONDS:
        raise InvalidInput("ack_timeout_seconds", f"must be between {MIN_TIMEOUT} and {HOLD_SECONDS}")
    if not MIN_TIMEOUT <= auto_close_seconds <= 30 * 24 * 3600:
        raise InvalidInput("auto_close_seconds", f"must be between {MIN_TIMEOUT} and {30 * 24 * 3600}")


class Next(StrEnum):
    """What the state machine does after a plan (the ASL's Choice switches on it)."""

    PAGE = "page"  # page a level, wait for an answer up to the level's timeout
    HOLD = "hold"  # wait for an answer (acknowledged; exhausted), up to ``wait_seconds``
    CLOSE_WAIT = "close_wait"  # resolved: wait ``wait_seconds``, then auto-close
    DONE = "done"  # closed, or a newer generation took over


class Phase(StrEnum):
    PAGING = "paging"
    ACKNOWLEDGED = "acknowledged"
    EXHAUSTED = "exhausted"
    #: low urgency: the on-call was notified once; no escalation, only a wait for an answer (or for the raise)
    LOW_URGENCY = "low_urgency"
    RESOLVED = "resolved"
    DONE = "done"


@dataclass(frozen=True)
class Plan:
    next: Next
    phase: Phase
    step: int = 0
    #: the callback / wait timeout for the next state (≥ 1; Step Functions wants a positive integer)
    wait_seconds: int = 1
    #: the plan needs a recorded change first: an escalation to ``step`` (or the policy marked exhausted)
    escalate_to: int | None = None
    mark_exhausted: bool = False

    def state(self, incident_id: str, generation: int) -> dict[str, Any]:
        """The execution's state after this plan (the Plan task's output)."""
        return {
            "incident_id": incident_id,
            "generation": generation,
            "step": self.step,
            "next": self.next.value,
            "phase": self.phase.value,
            "wait_seconds": max(1, int(self.wait_seconds)),
        }


def plan(
    incident: Incident | None,
    policy: Policy | None,
    *,
    generation: int,
    step: int,
    advance: bool,
    previous_phase: str | None,
    now: datetime | None = None,
) -> Plan:
    """Decide the lifecycle's next move from what is stored.

    ``step`` is the step the execution paged last; ``advance`` is set after a timeout or an unreachable level.
    Coming back to ``triggered`` from an acknowledgement (un-ack, ack timeout) starts paging over at step 0.
    """
    if incident is None or incident.generation != generation or incident.status is Status.CLOSED:
        return Plan(Next.DONE, Phase.DONE, step)
    if incident.status is Status.RESOLVED:
        seconds = policy.auto_close_seconds if policy else 24 * 3600
        return Plan(Next.CLOSE_WAIT, Phase.RESOLVED, step, wait_seconds=seconds)
    if incident.status is Status.ACKNOWLEDGED:
        timeout = policy.ack_timeout_seconds if policy and policy.ack_timeout_seconds else HOLD_SECONDS
        return Plan(Next.HOLD, Phase.ACKNOWLEDGED, step, wait_seconds=timeout)
    starting = incident.escalation_step < 0 or previous_phase == Phase.ACKNOWLEDGED.value
    if incident.urgency == "low" and not starting and policy is not None:
        # low urgency: the first level was notified; nobody is woken further, whatever the level timeouts say
        wait = HOLD_SECONDS
        if incident.raise_at is not None and now is not None:
            wait = min(HOLD_SECONDS, max(1, int((incident.raise_at - now).total_seconds()) + 1))
        return Plan(Next.HOLD, Phase.LOW_URGENCY, max(incident.escalation_step, 0), wait_seconds=wait)
    # triggered: start over after an acknowledgement ended (un-ack, ack timeout reset the stored step to -1)
    target = 0 if starting else (step + 1 if advance else step)
    # the stored step is the truth when a retried task or a racing plan already moved it further
    target = max(target, incident.escalation_step)
    if policy is None or target >= policy.steps:
        return Plan(
            Next.HOLD,
            Phase.EXHAUSTED,
            max(target, 0),
            wait_seconds=HOLD_SECONDS,
            mark_exhausted=not incident.exhausted,
        )
    _, _, level = policy.level_of(target)
    return Plan(
        Next.PAGE,
        Phase.PAGING,
        target,
        wait_seconds=level.timeout_seconds,
        escalate_to=target if target != incident.escalation_step else None,
    )


def callback_data(action: str, incident_id: str) -> str:
    """Telegram ``callback_data`` for a page button: ``inc:<action>:<id>``, well under Telegram's 64 bytes."""
    data = f"inc:{action}:{incident_id}"
    if len(data.encode()) > 64:
        raise ValueError("callback data exceeds 64 bytes")
    return data
