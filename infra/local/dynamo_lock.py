"""Serialise moto's DynamoDB behind one lock, so conditional writes and transactions are atomic under threads.

moto's DynamoDB backend is plain Python objects mutated without locking: two threads doing a conditional put on the
same key can both pass the condition, and a cancelled ``TransactWriteItems`` can leave the rows it wrote before the
failing condition was evaluated. Real DynamoDB never does either, and our invariants depend on it (S1/S2, one winner
per transition: "Invariants" in docs/architecture.md), so the emulator takes one process-wide re-entrant lock
around every DynamoDB and DynamoDB Streams request.

Hook point: the request handlers' ``call_action`` (``moto.dynamodb.responses.DynamoHandler.call_action`` and
``moto.dynamodbstreams.responses.DynamoDBStreamsHandler.call_action``, the latter inherited from
``moto.core.responses.BaseResponse``). Every path into the backend goes through it: boto3 in-process via ``mock_aws``,
the HTTP server, and Step Functions' DynamoDB integrations (they use boto3 too). Locking whole requests rather than
backend methods keeps the response serialisation (which reads items) inside the lock as well. The emulator's own
direct reads of the backend (streams poller, snapshots) take ``LOCK`` themselves. Observers (``observe``) see each
request and its response before the lock is released: the write-ahead journal records the images a write left
there, so the journal's order is the order of the writes (``journal``).

Cost: one request at a time, which is what moto achieves anyway under the GIL; ``tests/functional/
test_emulator_dynamo_race.py`` proves the invariants and the hook points are pinned by ``hooks.verify_hook_points``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from infra.local import dynamo_txn

#: re-entrant: a request may reach DynamoDB again from inside (e.g. a hook reading a table during a request)
LOCK = threading.RLock()

_installed: list[tuple[type, str, Any]] = []
#: called with (handler, response) after each DynamoDB request, still inside the lock (the write-ahead journal)
_observers: list[Callable[[Any, Any], None]] = []


def observe(observer: Callable[[Any, Any], None]) -> None:
    _observers.append(observer)


def unobserve(observer: Callable[[Any, Any], None]) -> None:
    if observer in _observers:
        _observers.remove(observer)


def _locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call_action(self: Any) -> Any:
        with LOCK:
            response = fn(self)
            for observer in list(_observers):
                observer(self, response)
            return response

    call_action.__oncall_locked__ = True  # type: ignore[attr-defined]
    return call_action


def install() -> None:
    """Wrap the handlers (idempotent)."""
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    if _installed:
        return
    dynamo_txn.install()  # its undo log is only sound while this lock keeps every other writer out
    for cls in (DynamoHandler, DynamoDBStreamsHandler):
        # ``getattr`` resolves the inherited BaseResponse.call_action for the streams handler; restoring deletes the
        # class attribute we added instead of pinning the base implementation onto the subclass.
        own = cls.__dict__.get("call_action")
        current = getattr(cls, "call_action")  # noqa: B009
        _installed.append((cls, "call_action", own))
        cls.call_action = _locked(current)  # type: ignore[method-assign]


def uninstall() -> None:
    if _installed:
        dynamo_txn.uninstall()
    while _installed:
        cls, name, own = _installed.pop()
        if own is None:
            delattr(cls, name)
        else:
            setattr(cls, name, own)


def installed() -> bool:
    return bool(_installed)
