"""The transactional outbox: a change and the event describing it are written in ONE ``TransactWriteItems``.

A service that changes an entity adds one outbox item to the transaction that writes the change, so either both are
stored or neither is; the ``outbox`` table's stream hands each new item to ``functions/publisher``, which puts it on
the ``oncall`` bus (``relay``). A crash between "write" and "publish" therefore loses nothing: the stream keeps the
record until the publisher succeeds (docs/architecture.md, "How an event flows").

Item format (table ``outbox``, TTL ``expires_at``, one day by default):

===============  =================================================================================================
``pk``           ``<entity_type>#<entity_id>``
``sk``           ``v#<version, 12 digits>``: sorts by version; written on ``attribute_not_exists(pk)``, so one
                 version of one entity can be announced only once (a retried transaction cannot publish twice)
``detail_type``  e.g. ``shift.created``
``detail``       the snapshot as JSON text: DynamoDB would turn floats into decimals and reorder nothing else, but
                 text round-trips the snapshot exactly
``occurred_at``  RFC 3339; becomes the event's ``time``
===============  =================================================================================================

The parts: ``model`` (the item and its keys), ``items`` (``add`` to a pynamodb ``TransactWrite``, ``transact_put``
for a low-level ``TransactItems`` element), ``stream`` (an item back from a stream record) and ``bus`` (``relay``).
The names below are the package's public surface; importers use them from here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from oncall.adapters.outbox.bus import PUT_EVENTS_MAX, EventBus, bus_entry, relay
from oncall.adapters.outbox.stream import event_from_image, inserted_events

if TYPE_CHECKING:
    from oncall.adapters.outbox.items import add, transact_put
    from oncall.adapters.outbox.model import DEFAULT_TTL, OutboxItem, outbox_pk, outbox_sk

#: the writing side, imported on first use: it brings pynamodb (~80 ms of cold import), which the publisher, reading
#: the stream, never needs
_WRITING = {
    "add": "items",
    "transact_put": "items",
    "DEFAULT_TTL": "model",
    "OutboxItem": "model",
    "outbox_pk": "model",
    "outbox_sk": "model",
}


def __getattr__(name: str) -> Any:
    if name in _WRITING:
        return getattr(importlib.import_module(f"{__name__}.{_WRITING[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_TTL",
    "PUT_EVENTS_MAX",
    "EventBus",
    "OutboxItem",
    "add",
    "bus_entry",
    "event_from_image",
    "inserted_events",
    "outbox_pk",
    "outbox_sk",
    "relay",
    "transact_put",
]
