"""The lifecycle sweep: every triggered incident has a running lifecycle within ``SWEEP_AFTER`` plus one schedule
period (docs/architecture.md, "How a page flows").

A lifecycle is started by ``publisher`` when ``incident.triggered`` / ``incident.reopened`` comes off the outbox
stream, retried for a second (``oncall.services.lifecycle_start``). A start still refused (``StartExecution``
throttled through a storm, Step Functions unavailable), or an execution that failed although its fallback should
have kept it alive, leaves a triggered incident that nobody pages. Every minute the sweep lists the running
executions (``ListExecutions``, a thousand a call), reads the triggered incidents opened at least ``SWEEP_AFTER``
ago and, for each one's current generation whose execution ``<id>-<generation>`` (or a restart of it) is not
running:

- ``<id>-<generation>`` was never started: start it (a start racing the publisher's uses the same name and input,
  which AWS answers with the one running execution);
- it ended although the incident is still triggered: start the first unused restart ``<id>-<generation>-r<n>``, up
  to ``MAX_RESTARTS``; after that the incident is reported (error log) and left to people: the fallback has paged
  everyone by then, or the product itself is broken.

Names are deterministic, so two sweeps (or a sweep and the publisher) never start two lifecycles for one incident run,
and a started lifecycle never pages twice: pages are deduplicated per (incident run, level step, person).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from oncall.domain.incidents import Status, execution_name
from oncall.observability import log
from oncall.services.escalation import initial_state
from oncall.services.incident_ports import IncidentFilter, IncidentStore

#: how long a triggered incident may go without a lifecycle before the sweep starts one (the starter's retries end
#: well within it); the sweep runs every minute, so the bound is SWEEP_AFTER + 1 minute
SWEEP_AFTER = timedelta(minutes=2)
#: restarts of one incident run whose lifecycle keeps ending while it is still triggered
MAX_RESTARTS = 3
#: incidents checked per run; the rest wait for the next minute
MAX_PER_RUN = 5000


class LifecycleRuns(Protocol):
    """The lifecycle's executions as the sweep sees them (``oncall.adapters.lifecycle.StepFunctionsLifecycle``)."""

    def running(self) -> set[str]:
        """Names of the running executions."""
        ...

    def start_new(self, name: str, payload: dict[str, Any]) -> bool:
        """Start ``name``; False when an execution of that name already exists (or existed)."""
        ...


@dataclass
class SweepResult:
    checked: int = 0
    running: int = 0
    started: list[str] = field(default_factory=list)
    abandoned: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def sweep(
    incidents: IncidentStore, runs: LifecycleRuns, now: datetime, *, after: timedelta = SWEEP_AFTER
) -> SweepResult:
    """Start the lifecycle of every triggered incident that has gone ``after`` without one."""
    result = SweepResult()
    running = runs.running()
    cursor: dict[str, Any] | None = None
    quiet_since = now - after
    while result.checked < MAX_PER_RUN:
        found, cursor = incidents.paginate(IncidentFilter(status=Status.TRIGGERED, created_to=quiet_since), 100, cursor)
        for incident in found:
            # a reopened incident's new generation may still be starting: the sweep starting the same name meanwhile
            # makes one execution, not two
            if incident.status is not Status.TRIGGERED:
                continue
            result.checked += 1
            try:
                _ensure_running(runs, running, incident.id, incident.generation, result)
            except Exception:  # one incident's failure must not keep the others from being checked
                log.exception("lifecycle sweep: incident %s", incident.id)
                result.failed.append(incident.id)
        if not cursor:
            break
    if result.started or result.abandoned or result.failed:
        log.warning(
            "lifecycle sweep: started %s, abandoned %s, failed %s", result.started, result.abandoned, result.failed
        )
    return result


def _ensure_running(
    runs: LifecycleRuns, running: set[str], incident_id: str, generation: int, result: SweepResult
) -> None:
    base = execution_name(incident_id, generation)
    names = [base] + [f"{base}-r{n}" for n in range(1, MAX_RESTARTS + 1)]
    if running.intersection(names):
        result.running += 1
        return
    for name in names:
        if runs.start_new(name, initial_state(incident_id, generation)):
            result.started.append(name)
            return
    log.error(
        "lifecycle sweep: incident %s generation %s ended %d times while triggered",
        incident_id,
        generation,
        MAX_RESTARTS + 1,
    )
    result.abandoned.append(incident_id)
