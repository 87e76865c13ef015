"""DynamoDB's per-partition throughput limit in the emulator: a token bucket per (table, index, partition key value).

AWS serves each partition key (of the table and of every global secondary index) at most 1,000 write request units
(WRU) and 3,000 read request units (RRU) a second, whatever the table's mode; above that the request is refused and
the SDK retries it. moto has no limit at all, so a hot key never shows locally. ``PartitionThrottle`` charges every
DynamoDB request the emulator serves the way AWS prices it, and refuses what a key cannot afford:

- Writes: one WRU per started KB of the larger of the item before and after (a delete: the item before), twice that
  inside ``TransactWriteItems`` (a ``ConditionCheck`` too). The write also lands on each global index the item is (or
  was) in, when it changes a key or a projected attribute: one index write on the item's index partition key, a
  delete on the old one and a put on the new one when that key moves.
- Reads: one RRU per started 4 KB of a strongly consistent ``GetItem`` (half for an eventually consistent one, twice
  for ``TransactGetItems``), of the items a ``BatchGetItem`` returns, and of a ``Query``'s result on the partition
  key it names (of the table or of the index it reads). A ``Scan`` spans partitions and is not charged.
- A bucket holds ``burst_seconds`` of its rate (AWS keeps up to 300 s of unused capacity; tests keep it short so a
  storm meets the limit) and a request is refused, uncharged, when any key it writes is short of what it costs. A
  request bigger than a full bucket passes when the bucket is full, as a 400 KB item does on AWS. Reads are charged
  when answered (their size is known then) and refused while a key's bucket is in debt.
- Refusals look like AWS's: ``ProvisionedThroughputExceededException`` (HTTP 400, ``ThrottlingReasons``
  ``TableWriteKeyRangeThroughputExceeded`` / ``IndexWriteKeyRangeThroughputExceeded`` and the read ones) for single
  item calls, batches and queries, which boto3 retries itself; a transaction is cancelled
  (``TransactionCanceledException``) with ``ThrottlingError`` as the reason of each item over its key's budget and
  ``None`` for the others, which no SDK retries.

An update's new key values are read from its ``SET`` clauses (``#name = :value``); what it changes is every
attribute its expression names. ``install``/``uninstall`` wrap moto's ``DynamoHandler.call_action`` around the
serialising lock (``dynamo_lock``), so the check and the write it admits are one step; ``faults.Faults``
(``throttle_partitions``) switches it on and off, also from the runner's ``POST /_local/faults``.

Long because pricing a request as AWS does (item sizes, update expressions, index projections, transactions and
batches) and answering as AWS does belong together: split, each half would need the other's details.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from infra.local import dynamo_lock

#: AWS's per-partition-key limits, per second
AWS_WRU_PER_KEY = 1000
AWS_RRU_PER_KEY = 3000

_WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
_READS = ("GetItem", "BatchGetItem", "Query", "TransactGetItems")
_ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"

#: a bucket: (table, index or "" for the table itself, partition key value)
Key = tuple[str, str, str]


@dataclass
class _Tokens:
    level: float
    at: float


@dataclass
class Charge:
    """What one item of a request costs, and where."""

    units: dict[Key, float] = field(default_factory=dict)

    def add(self, key: Key, units: float) -> None:
        self.units[key] = self.units.get(key, 0.0) + units


@dataclass(frozen=True)
class _Index:
    name: str
    hash_attr: str
    key_attrs: frozenset[str]
    #: None: every attribute (ALL)
    projected: frozenset[str] | None


@dataclass(frozen=True)
class _Schema:
    hash_attr: str
    key_attrs: frozenset[str]
    indexes: tuple[_Index, ...]


class PartitionThrottle:
    def __init__(
        self,
        write_per_second: float,
        read_per_second: float | None = None,
        *,
        burst_seconds: float = 1.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write_per_second = float(write_per_second)
        self.read_per_second = float(
            read_per_second if read_per_second is not None else write_per_second * AWS_RRU_PER_KEY / AWS_WRU_PER_KEY
        )
        self.burst_seconds = float(burst_seconds)
        self._now = now
        self._lock = threading.Lock()
        self._write: dict[Key, _Tokens] = {}
        self._read: dict[Key, _Tokens] = {}
        #: refusals by kind (``write``/``read``) and operation, e.g. ``write:TransactWriteItems``
        self.refused: Counter[str] = Counter()
        #: units charged per key (what passed), for the hottest-key report
        self.charged_write: dict[Key, float] = {}
        self.charged_read: dict[Key, float] = {}
        self._schemas: dict[str, _Schema] = {}

    # -- buckets ---------------------------------------------------------------------------------------------------
    def _level(self, buckets: dict[Key, _Tokens], key: Key, rate: float, now: float) -> _Tokens:
        cap = rate * self.burst_seconds
        tokens = buckets.get(key)
        if tokens is None:
            tokens = buckets[key] = _Tokens(cap, now)
        tokens.level = min(cap, tokens.level + (now - tokens.at) * rate)
        tokens.at = now
        return tokens

    def admit_writes(self, charges: list[Charge]) -> list[bool]:
        """Per item, whether its keys can afford it; charges everything only when every item can."""
        with self._lock:
            now = self._now()
            cap = self.write_per_second * self.burst_seconds
            totals: dict[Key, float] = {}
            for charge in charges:
                for key, units in charge.units.items():
                    totals[key] = totals.get(key, 0.0) + units
            short = set()
            for key, units in totals.items():
                level = self._level(self._write, key, self.write_per_second, now).level
                if level < units and level < cap:
                    short.add(key)
            verdict = [not (set(c.units) & short) for c in charges]
            if all(verdict):
                for key, units in totals.items():
                    self._write[key].level -= units
                    self.charged_write[key] = self.charged_write.get(key, 0.0) + units
            return verdict

    def read_allowed(self, keys: Iterable[Key]) -> bool:
        with self._lock:
            now = self._now()
            return all(self._level(self._read, k, self.read_per_second, now).level >= 0 for k in keys)

    def charge_read(self, key: Key, units: float) -> None:
        with self._lock:
            self._level(self._read, key, self.read_per_second, self._now()).level -= units
            self.charged_read[key] = self.charged_read.get(key, 0.0) + units

    def stats(self) -> dict[str, Any]:
        with self._lock:
            hottest_w = sorted(self.charged_write.items(), key=lambda kv: -kv[1])[:1]
            hottest_r = sorted(self.charged_read.items(), key=lambda kv: -kv[1])[:1]
            return {
                "write_units_per_second": self.write_per_second,
                "read_units_per_second": self.read_per_second,
                "burst_seconds": self.burst_seconds,
                "refused": dict(self.refused),
                "hottest_write_key": _key_doc(*hottest_w[0]) if hottest_w else None,
                "hottest_read_key": _key_doc(*hottest_r[0]) if hottest_r else None,
            }

    # -- pricing a request -------------------------------------------------------------------------------------------
    def schema(self, backend: Any, table: str) -> _Schema:
        found = self._schemas.get(table)
        if found is None:
            t = backend.get_table(table)
            base_keys = frozenset(k for k in (t.hash_key_attr, t.range_key_attr) if k)
            indexes = []
            for gsi in t.global_indexes:
                hash_attr = next(k["AttributeName"] for k in gsi.schema if k["KeyType"] == "HASH")
                keys = frozenset(k["AttributeName"] for k in gsi.schema) | base_keys
                projection = gsi.projection or {}
                kind = projection.get("ProjectionType", "ALL")
                projected = None if kind == "ALL" else keys | frozenset(projection.get("NonKeyAttributes") or ())
                indexes.append(_Index(gsi.name, hash_attr, keys, projected))
            found = self._schemas[table] = _Schema(t.hash_key_attr, base_keys, tuple(indexes))
        return found

    def write_charge(self, backend: Any, op: str, request: dict[str, Any], *, transactional: bool) -> Charge:
        """What one write (``Put``/``Update``/``Delete``/``ConditionCheck`` shaped request) costs, and on which keys."""
        table = request["TableName"]
        schema = self.schema(backend, table)
        factor = 2.0 if transactional else 1.0
        charge = Charge()
        new_item: dict[str, Any] | None = request.get("Item")
        key = request.get("Key") or {k: v for k, v in (new_item or {}).items() if k in schema.key_attrs}
        old = _stored(backend, table, key)
        if op == "ConditionCheck":
            charge.add((table, "", _scalar(key.get(schema.hash_attr)) or ""), factor)
            return charge
        changed: set[str] | None = None  # None: the whole item
        if op == "Update":
            names = request.get("ExpressionAttributeNames") or {}
            values = request.get("ExpressionAttributeValues") or {}
            expression = request.get("UpdateExpression") or ""
            changed, assigned = _update_targets(expression, names, values)
            new_item = {**(old or key), **assigned}
            new_size = _size(old or key) + sum(_attr_size(v) for v in values.values())
        elif op == "Delete":
            new_item = None
            new_size = 0
        else:
            new_size = _size(new_item or {})
        size = max(_size(old) if old else 0, new_size)
        charge.add((table, "", _scalar(key.get(schema.hash_attr)) or ""), factor * max(1, math.ceil(size / 1024)))
        for index in schema.indexes:
            before = _scalar(old.get(index.hash_attr)) if old else None
            after = _scalar(new_item.get(index.hash_attr)) if new_item else None
            if before is None and after is None:
                continue
            touches = changed is None or index.projected is None or bool(changed & index.projected) or before != after
            if not touches:
                continue
            index_size = max(_size(old) if old else 0, new_size) if index.projected is None else 100
            units = factor * max(1, math.ceil(index_size / 1024))
            for value in {before, after} - {None}:
                assert value is not None
                charge.add((table, index.name, value), units)
        return charge

    def read_key(self, backend: Any, request: dict[str, Any]) -> Key | None:
        """The partition key a ``Query`` reads (of the table or of its index), None when not an equality on it."""
        table = request["TableName"]
        schema = self.schema(backend, table)
        index_name = request.get("IndexName") or ""
        hash_attr = schema.hash_attr
        if index_name:
            index = next((i for i in schema.indexes if i.name == index_name), None)
            if index is None:
                return None
            hash_attr = index.hash_attr
        names = request.get("ExpressionAttributeNames") or {}
        values = request.get("ExpressionAttributeValues") or {}
        for name, value in re.findall(r"([#\w.]+)\s*=\s*(:\w+)", request.get("KeyConditionExpression") or ""):
            if names.get(name, name) == hash_attr and value in values:
                return (table, index_name, _scalar(values[value]) or "")
        return None


# -- sizes and expressions ---------------------------------------------------------------------------------------------


def _attr_size(value: Any) -> int:
    if not isinstance(value, dict) or not value:
        return 1
    kind, inner = next(iter(value.items()))
    if kind in ("S", "B"):
        return len(inner.encode() if isinstance(inner, str) else inner)
    if kind == "N":
        return len(str(inner)) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS"):
        return sum(len(v.encode() if isinstance(v, str) else v) for v in inner)
    if kind == "NS":
        return sum(len(str(v)) // 2 + 1 for v in inner)
    if kind == "L":
        return 3 + sum(1 + _attr_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _attr_size(v) for k, v in inner.items())
    return 1


def _size(item: dict[str, Any] | None) -> int:
    return sum(len(k.encode()) + _attr_size(v) for k, v in (item or {}).items())


def _scalar(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return None
    inner = next(iter(value.values()))
    return inner.decode(errors="replace") if isinstance(inner, bytes) else str(inner)


_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b", re.IGNORECASE)


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _update_targets(expression: str, names: dict[str, str], values: dict[str, Any]) -> tuple[set[str], dict[str, Any]]:
    """The top-level attributes an update expression changes, and the plain ``name = :value`` assignments."""
    changed: set[str] = set()
    assigned: dict[str, Any] = {}
    pieces = _CLAUSE.split(expression)
    for verb, body in zip(pieces[1::2], pieces[2::2], strict=False):
        for action in _split_top(body):
            path = action.split("=", 1)[0] if verb.upper() == "SET" else action.split()[0]
            top = re.split(r"[.\[]", path.strip(), maxsplit=1)[0]
            attr = names.get(top, top)
            changed.add(attr)
            if verb.upper() == "SET" and "=" in action:
                rhs = action.split("=", 1)[1].strip()
                if rhs in values and top == path.strip():
                    assigned[attr] = values[rhs]
    return changed, assigned


def _stored(backend: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        item = backend.get_item(table, key)
    except Exception:  # an invalid key: moto answers the request itself with the right error
        return None
    if item is None:
        return None
    attrs: dict[str, Any] = item.to_json()["Attributes"]
    return attrs


def _key_doc(key: Key, units: float) -> dict[str, Any]:
    return {"table": key[0], "index": key[1] or None, "partition_key": key[2], "units": round(units, 1)}


# -- the hook ---------------------------------------------------------------------------------------------------------


def _refusal(reason: str, message: str) -> tuple[int, dict[str, str], str]:
    body = {
        "__type": _ERROR_PREFIX + "ProvisionedThroughputExceededException",
        "message": message,
        "ThrottlingReasons": [{"reason": reason}],
    }
    return 400, {"status": "400", "content-type": "application/x-amz-json-1.0"}, json.dumps(body)


def _cancelled(verdict: list[bool]) -> tuple[int, dict[str, str], str]:
    codes = ["None" if ok else "ThrottlingError" for ok in verdict]
    reasons = [
        {"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table or index."}
        if code == "ThrottlingError"
        else {"Code": "None"}
        for code in codes
    ]
    body = {
        "__type": _ERROR_PREFIX + "TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[{', '.join(codes)}]",
        "CancellationReasons": reasons,
    }
    return 400, {"status": "400", "content-type": "application/x-amz-json-1.0"}, json.dumps(body)


def check(throttle: PartitionThrottle, handler: Any) -> tuple[int, dict[str, str], str] | None:
    """A refusal for this request, or None to serve it (a write admitted is charged already)."""
    action = handler._get_action()
    if action not in _WRITES:
        return None
    params: dict[str, Any] = getattr(handler, "params", None) or {}
    backend = handler.dynamodb_backend
    try:
        if action == "TransactWriteItems":
            items = params.get("TransactItems") or []
            charges = [
                throttle.write_charge(backend, op, spec, transactional=True)
                for entry in items
                for op, spec in entry.items()
            ]
        elif action == "BatchWriteItem":
            charges = []
            for table, requests in (params.get("RequestItems") or {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        spec = {"TableName": table, "Item": request["PutRequest"].get("Item") or {}}
                        charges.append(throttle.write_charge(backend, "Put", spec, transactional=False))
                    elif "DeleteRequest" in request:
                        spec = {"TableName": table, "Key": request["DeleteRequest"].get("Key") or {}}
                        charges.append(throttle.write_charge(backend, "Delete", spec, transactional=False))
        else:
            op = action.removesuffix("Item")
            charges = [throttle.write_charge(backend, op, params, transactional=False)]
    except Exception:  # a malformed request: moto answers it with the right error
        return None
    verdict = throttle.admit_writes(charges)
    if all(verdict):
        return None
    throttle.refused[f"write:{action}"] += 1
    if action == "TransactWriteItems":
        return _cancelled(verdict)
    hot = [k for c, ok in zip(charges, verdict, strict=True) if not ok for k in c.units]
    reason = (
        "IndexWriteKeyRangeThroughputExceeded" if any(k[1] for k in hot) else "TableWriteKeyRangeThroughputExceeded"
    )
    return _refusal(reason, "The level of configured provisioned throughput for the table was exceeded.")


def read_target(throttle: PartitionThrottle, handler: Any) -> tuple[Key, float] | None:
    """For a ``Query``/``GetItem``: the partition key it reads and its price per started 4 KB, else None."""
    action = handler._get_action()
    if action not in ("Query", "GetItem"):
        return None
    params: dict[str, Any] = getattr(handler, "params", None) or {}
    backend = handler.dynamodb_backend
    try:
        if action == "Query":
            key = throttle.read_key(backend, params)
        else:
            schema = throttle.schema(backend, params["TableName"])
            key = (params["TableName"], "", _scalar((params.get("Key") or {}).get(schema.hash_attr)) or "")
    except Exception:  # a malformed request: moto answers it with the right error
        return None
    if key is None:
        return None
    return key, 1.0 if params.get("ConsistentRead") else 0.5


_installed: list[tuple[type, Any, Any]] = []
_active: list[PartitionThrottle] = []


def _gated(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call_action(self: Any) -> Any:
        throttle = _active[0] if _active else None
        if throttle is None:
            return fn(self)
        with dynamo_lock.LOCK:
            refused = check(throttle, self)
            if refused is not None:
                return refused
            read = read_target(throttle, self)
            if read is not None and not throttle.read_allowed([read[0]]):
                throttle.refused[f"read:{self._get_action()}"] += 1
                reason = "IndexReadKeyRangeThroughputExceeded" if read[0][1] else "TableReadKeyRangeThroughputExceeded"
                return _refusal(reason, "The level of configured provisioned throughput for the table was exceeded.")
            response = fn(self)
            if read is not None:
                body = response[2] if isinstance(response, tuple) and len(response) == 3 else b""
                size = len(body) if isinstance(body, str | bytes) else 0
                throttle.charge_read(read[0], read[1] * max(1, math.ceil(size / 4096)))
            return response

    call_action.__oncall_throttled__ = True  # type: ignore[attr-defined]
    return call_action


def install(throttle: PartitionThrottle) -> None:
    """Throttle with ``throttle`` from now on (replacing any earlier one); the wrap is put on once."""
    from moto.dynamodb.responses import DynamoHandler

    _active[:] = [throttle]
    if _installed and DynamoHandler.__dict__.get("call_action") is _installed[-1][2]:
        return
    _installed.clear()
    previous = DynamoHandler.__dict__.get("call_action")
    wrapper = _gated(getattr(DynamoHandler, "call_action"))  # noqa: B009
    DynamoHandler.call_action = wrapper  # type: ignore[method-assign]
    _installed.append((DynamoHandler, previous, wrapper))


def uninstall() -> None:
    """No throttling; the wrap is removed if it is still the outermost one (``dynamo_lock`` may have gone first)."""
    _active.clear()
    while _installed:
        cls, previous, wrapper = _installed.pop()
        if cls.__dict__.get("call_action") is wrapper:
            if previous is None:
                delattr(cls, "call_action")
            else:
                setattr(cls, "call_action", previous)  # noqa: B010


def active() -> PartitionThrottle | None:
    return _active[0] if _active else None
