"""moto's ``TransactWriteItems`` without its copy of every table it touches, so a transaction costs what it writes.

moto 5.2.5 backs each transaction up with ``copy.deepcopy`` of the whole of every table the transaction names, to
roll back a cancelled one. The outbox and incidents tables grow with every incident, so each transaction costs time
proportional to everything stored: profiled through the runner while incidents open at 5/s, the copies were a fifth
of the emulator's CPU, and they grow without bound. Real DynamoDB's transactions cost what they touch.

Here the same moto method runs with ``copy`` bound to an identity (its rollback then puts the very same table object
back), and before it runs, the items the transaction names are remembered one by one (a deep copy of each, since an
update mutates its item in place) with the length of each table's stream shard. On any exception, whatever moto did,
those items are put back and the stream records the transaction appended are dropped, newest first. Only correct
because every DynamoDB request runs under ``dynamo_lock.LOCK`` (nothing else writes between the snapshot and the
restore); ``install`` is called by ``dynamo_lock.install`` for that reason.

Hook point (pinned with moto in ``hooks.verify_hook_points``): ``moto.dynamodb.models.DynamoDBBackend.
transact_write_items(self, transact_items)``, whose only use of the name ``copy`` is that backup.
"""

from __future__ import annotations

import copy
import functools
import types
from typing import Any

_installed: list[Any] = []


class _NoTableCopy:
    """What moto's ``copy`` resolves to inside the transaction: tables are not copied (the undo log below does it)."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        return value


def _undo_log(
    backend: Any, transact_items: list[dict[str, Any]]
) -> tuple[list[tuple[Any, Any, Any, Any]], list[tuple[Any, int]]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    items: list[tuple[Any, Any, Any, Any]] = []
    shards: dict[int, tuple[Any, int]] = {}
    for entry in transact_items:
        if len(entry) != 1:
            continue  # moto refuses it before writing anything from it
        op = next(iter(entry.values()))
        table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        attrs = op.get("Item") if "Item" in op else op.get("Key")
        if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
            continue  # moto raises a validation error for it; the items before it are still restored
        try:
            hash_key = DynamoType(attrs[table.hash_key_attr])
            range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
            if table.range_key_attr and table.range_key_attr not in attrs:
                continue
            current = table.items.get(hash_key)
            if range_key is not None:
                current = current.get(range_key) if isinstance(current, dict) else None
        except (KeyError, TypeError, AttributeError):
            continue
        items.append((table, hash_key, range_key, copy.deepcopy(current)))
        if table.stream_shard is not None and id(table) not in shards:
            shards[id(table)] = (table.stream_shard, len(table.stream_shard.items))
    return items, list(shards.values())


def _restore(items: list[tuple[Any, Any, Any, Any]], shards: list[tuple[Any, int]]) -> None:
    for table, hash_key, range_key, previous in reversed(items):
        if range_key is None:
            if previous is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = previous
        elif previous is None:
            bucket = table.items.get(hash_key)
            if bucket is not None:
                bucket.pop(range_key, None)
                if not bucket:
                    del table.items[hash_key]
        else:
            table.items[hash_key][range_key] = previous
    for shard, length in shards:
        del shard.items[length:]


def install() -> None:
    """Replace the method (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    if _installed:
        return
    original = DynamoDBBackend.__dict__["transact_write_items"]
    without_copy = types.FunctionType(
        original.__code__,
        {**original.__globals__, "copy": _NoTableCopy},
        original.__name__,
        original.__defaults__,
        original.__closure__,
    )

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        items, shards = _undo_log(self, transact_items)
        try:
            without_copy(self, transact_items)
        except BaseException:
            _restore(items, shards)
            raise

    _installed.append(original)
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def uninstall() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    while _installed:
        DynamoDBBackend.transact_write_items = _installed.pop()  # type: ignore[method-assign]
