"""The lifecycle sweep: every triggered incident has a running lifecycle within ``SWEEP_AFTER`` plus one schedule
period (docs/architecture.md, "How a page flows").

A lifecycle is started by ``incident_starter`` when ``incident.triggered`` / ``incident.reopened`` reaches it, with
retries (the start's own, then Lambda's). A start still refused after them (``StartExecution`` throttled through a
storm, the event lost), or an execution that failed although its fallback should have kept it alive, leaves a
triggered incident that nobody pages. Every minute the sweep reads the triggered incidents opened at least
``SWEEP_AFTER`` ago and, for each one's current generation:

- no execution ``<id>-<generation>``: start it (a start racing the starter meets the same name: one execution);
- that execution (or its latest restart) is running: nothing to do;
- it ended although the incident is still triggered: start the restart ``<id>-<generation>-r<n>``, up to
  ``MAX_RESTARTS``; after that the incident is reported (error log) and left to people: the fallback has paged
  everyone by then, or the product itself is broken.

Names are deterministic, so two sweeps (or a sweep and the starter) never start two lifecycles for one incident run,
and a started lifecycle never pages twice: pages are deduplicated per (incident run, level step, person).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from oncall.domain.incidents import Status, execution_name
from oncall.services.escalation import initial_state
from oncall.services.incident_ports import IncidentFilter, IncidentStore

log = logging.getLogger(__name__)

#: how long a triggered incident may go without a lifecycle before the sweep starts one (the starter's retries end
#: well within it); the sweep runs every minute, so the bound is SWEEP_AFTER + 1 minute
SWEEP_AFTER = timedelta(minutes=2)
#: restarts of one incident run whose lifecycle keeps ending while it is still triggered
MAX_RESTARTS = 3
#: incidents checked per run (one DescribeExecution each); the rest wait for the next minute
MAX_PER_RUN = 500

RUNNING = "RUNNING"


class LifecycleRuns(Protocol):
    """The lifecycle's executions as the sweep sees them (``oncall.adapters.lifecycle.StepFunctionsLifecycle``)."""

    def status(self, name: str) -> str | None:
        """The execution's status (RUNNING, SUCCEEDED, FAILED, ...); None when there is none of that name."""
        ...

    def start(self, name: str, payload: dict[str, Any]) -> str: ...


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
                _ensure_running(runs, incident.id, incident.generation, result)
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


def _ensure_running(runs: LifecycleRuns, incident_id: str, generation: int, result: SweepResult) -> None:
    name = execution_name(incident_id, generation)
    for attempt in range(MAX_RESTARTS + 1):
        current = name if attempt == 0 else f"{name}-r{attempt}"
        status = runs.status(current)
        if status is None:
            runs.start(current, initial_state(incident_id, generation))
            result.started.append(current)
            return
        if status == RUNNING:
            result.running += 1
            return
    log.error(
        "lifecycle sweep: incident %s generation %s ended %d times while triggered",
        incident_id,
        generation,
        MAX_RESTARTS + 1,
    )
    result.abandoned.append(incident_id)
