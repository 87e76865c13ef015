"""The seams between the runner's parts, so each can be built and tested on its own.

- ``Invoker``: runs one invocation of a declared function the way Lambda would (``workers.WorkerPools``).
- The emulator (``emulator.Emulator``) takes an ``Invoker`` and routes everything AWS would hand to Lambda through it:
  ``lambda:Invoke`` from Step Functions, EventBridge rule targets, scheduled rules, DynamoDB stream batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class InvokeResult:
    #: the handler's return value (JSON-compatible), or Lambda's error document when ``error_type`` is set
    payload: Any
    #: ``None`` on success; otherwise the exception's class name, as Lambda reports ``errorType``
    error_type: str | None = None
    error_message: str | None = None
    #: wall time of the handler call, milliseconds
    duration_ms: float = 0.0
    #: the worker process had to import the handler first
    cold: bool = False
    worker_pid: int = 0

    @property
    def ok(self) -> bool:
        return self.error_type is None


class Invoker(Protocol):
    def invoke(self, function: str, event: Any) -> InvokeResult:
        """Run ``function`` on ``event`` and wait for the result. Safe to call from many threads at once."""
        ...
