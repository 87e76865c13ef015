"""Starting an incident's lifecycle where its event is first seen: the outbox stream, before the bus.

The publisher reads each ``incident.triggered`` / ``incident.reopened`` straight off the stream of the transaction
that stored it. Starting ``<id>-<generation>`` there keeps the bus (and a function behind it) off the path from an
alert to its first page (docs/architecture.md, "How a page flows"). A start refused past its short retry budget is
logged and left to the lifecycle sweep, which starts every triggered incident's missing lifecycle within its bound:
it never holds the stream back (every later event of the shard, webhooks and statistics included, would wait
behind it), and after one refusal the rest of the batch is left to the sweep too, so an outage of Step Functions
costs a batch one budget, not one per incident.
"""

from __future__ import annotations

from collections.abc import Iterable

from oncall.domain.events import DomainEvent
from oncall.observability import log
from oncall.services.escalation import start_lifecycle
from oncall.services.incident_ports import Lifecycle

#: the events that start a lifecycle (an un-acknowledgement is also ``incident.triggered``: it starts nothing)
STARTS = frozenset({"incident.triggered", "incident.reopened"})


def start_first(lifecycle: Lifecycle, events: Iterable[DomainEvent]) -> list[str]:
    """Start the lifecycle of every incident event in ``events`` that starts one; the executions started (or found
    running). Never raises."""
    started: list[str] = []
    refused = False
    for event in events:
        if event.detail_type not in STARTS:
            continue
        if refused:
            log.warning("lifecycle of incident %s left to the sweep: Step Functions refused a start", event.entity_id)
            continue
        try:
            arn = start_lifecycle(lifecycle, event.detail)
        except Exception:
            log.warning("lifecycle of incident %s not started; the sweep will", event.entity_id, exc_info=True)
            refused = True
            continue
        if arn:
            started.append(arn)
    return started
