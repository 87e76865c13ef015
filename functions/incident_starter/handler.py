"""The ``lifecycle-sweep`` schedule, every minute: triggered incidents without a running lifecycle for two minutes
get one (``oncall.services.lifecycle_sweep``; docs/architecture.md, "How a page flows").

Lifecycles are started by the publisher straight off the outbox stream (``oncall.services.lifecycle_start``); this
function is their retry path, and the one function that may start one on its own.
"""

from __future__ import annotations

from typing import Any

from oncall import observability, wiring
from oncall.adapters.eventbridge import event_time
from oncall.services.lifecycle_sweep import sweep


@observability.handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    now = event_time(event, wiring.clock())
    swept = sweep(wiring.incidents.incident_store(), wiring.incidents.lifecycle_runs(), now)
    return {"checked": swept.checked, "running": swept.running, "started": swept.started}
