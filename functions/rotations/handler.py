"""Hourly job (EventBridge ``rate(1 hour)``): materialise every rotation's shifts up to the horizon.

``now`` is the scheduled event's ``time``, so a delayed or replayed invocation plans the window it was meant for.
Re-running is harmless (slot ids are deterministic; stored ones are skipped), and a run cut short by the timeout is
finished by the next one.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from oncall import observability, wiring
from oncall.adapters.eventbridge import event_time
from oncall.observability import log


@observability.handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = wiring.core.schedule_service().materialise_all(event_time(event, wiring.clock()))
    for r in results:
        if r.conflicts:
            log.warning("rotation slots skipped: they overlap stored shifts", extra=r.to_dict())
    return {
        "rotations": len(results),
        "created": sum(r.created for r in results),
        "conflicts": sum(len(r.conflicts) for r in results),
    }
