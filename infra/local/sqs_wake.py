"""Queue pollers woken by sends, so an idle queue is not polled every second (docs/architecture.md, "Local runner").

Lambda long-polls a queue (20 s); the runner's ``QueuePoller`` polled an empty queue at least once a second per
consumer thread, which was most of the idle runner's CPU. Wrapping moto's ``SQSBackend.send_message`` (which
``send_message_batch`` and the runner's own re-queueing also go through) tells the queue's poller right after a
message is stored, with its delay, so pollers sleep up to ``IDLE_SECONDS`` between polls and still see a new message
at once and a delayed one when it is due. A message its consumer failed comes back when the visibility the poller
set runs out, and the poller wakes for that itself (``queues``); anything else (a visibility timeout running out
after a crash) is found by the poller's own backoff, which starts again at its short interval after every batch.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

#: how long an idle queue's poller sleeps when nothing wakes it (Lambda's long-poll maximum)
IDLE_SECONDS = 20.0

_observers: list[Callable[[str, float], None]] = []
_installed: list[Any] = []


def observe(observer: Callable[[str, float], None]) -> None:
    """``observer(queue_name, delay_seconds)`` after every message moto stores."""
    _observers.append(observer)


def unobserve(observer: Callable[[str, float], None]) -> None:
    if observer in _observers:
        _observers.remove(observer)


def install() -> None:
    """Wrap ``SQSBackend.send_message`` (idempotent)."""
    from moto.sqs.models import SQSBackend

    if _installed:
        return
    original = SQSBackend.send_message
    signature = inspect.signature(original)

    @functools.wraps(original)
    def send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        message = original(self, queue_name, *args, **kwargs)
        # the delay moto applied: the one asked for, else the queue's own
        delay = signature.bind(self, queue_name, *args, **kwargs).arguments.get("delay_seconds")
        if delay is None:
            delay = getattr(self.get_queue(queue_name), "delay_seconds", 0)
        for observer in list(_observers):
            observer(queue_name, float(delay or 0))
        return message

    _installed.append(original)
    SQSBackend.send_message = send_message  # type: ignore[method-assign]


def uninstall() -> None:
    from moto.sqs.models import SQSBackend

    while _installed:
        SQSBackend.send_message = _installed.pop()  # type: ignore[method-assign]
