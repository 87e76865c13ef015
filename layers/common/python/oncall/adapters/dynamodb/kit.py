"""The one way every store in this package talks to DynamoDB: the client, attribute codecs, conditional writes,
transactions and their cancellation reasons, batch writes that finish, and whole-result queries.

Every store uses the low-level client (boto3) and spells its item shapes out itself; none uses pynamodb models.
Measured on the two styles before choosing (fresh interpreters, medians):

- Cold start. ``bench/cold_start.py`` times importing each handler, and handlers import no DynamoDB code (the wiring
  builds stores on first use): 298 ms for ``functions/api`` and 36 ms for ``functions/alerts`` either way, within
  noise. A cold function pays at its first request instead: pynamodb costs ~8 ms to import and ~55 ms for the
  botocore client each model's connection builds for itself, where each further boto3 client costs ~4 ms. Importing
  and building the identity and webhook stores in a fresh interpreter went from 450-490 ms to 310-340 ms.
- Calls. The same request per operation in both styles, so the benches count the same: ``bench/alerts.py`` 5 calls
  per new or deduplicated alert, 7 per resolve, 1 per invalid event; ``bench/auth.py`` 6 per login, 1 GetItem per
  authenticated request; ``bench/webhooks.py`` 4 per attempt. A conditional update whose caller wants the new state
  asks for it (``ReturnValues``) instead of reading again: a dead letter and a redelivery read one item fewer.
- Transactions. A low-level ``TransactWriteItems`` keeps our order, so a cancellation reason names our item by
  position (pynamodb reorders items by kind), and alert ingestion's claim rides in the incident store's transaction
  across two tables without a second model layer.
- Configuration. Tables and clients are constructor arguments. pynamodb keeps table, region and endpoint on model
  classes, which had to be rebound at run time.

Item shapes are unchanged by the move: attributes pynamodb left out when empty are still left out, numbers are still
``N``, lists and maps keep their types, so stored data reads as before.

Long because it is every store's one way to write: single writes, transactions and the riders a change's audit record
travels on share the same retry rules for conflicts and capacity, which must not drift apart in separate modules.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

#: one attribute value in DynamoDB's JSON (``{"S": "x"}``, ``{"N": "1"}``, ...)
Attr = dict[str, Any]
#: an item or key: attribute name → value
Item = dict[str, Attr]

#: BatchWriteItem takes at most 25 requests, BatchGetItem 100 keys
BATCH_WRITE_MAX = 25
BATCH_GET_MAX = 100
#: rounds of re-sending what a batch left unprocessed (throttling) before giving up loudly
BATCH_ROUNDS = 8

CONDITION_FAILED = "ConditionalCheckFailed"
TRANSACTION_CONFLICT = "TransactionConflict"
#: how often a write that met a concurrent transaction on one of its items (it wrote nothing) is sent again before
#: its caller hears of it: the SDK retries throttling but not conflicts, and identical alerts racing meet them
CONFLICT_ROUNDS = 5
#: cancellation reasons that mean DynamoDB refused a transaction for capacity (a hot partition key of the table or of
#: an index): nothing was written, and no SDK retry mode retries a cancellation, so ``transact`` sends it again
THROTTLED = ("ThrottlingError", "ProvisionedThroughputExceeded")
#: error codes of a single request refused for capacity, still refused after the SDK's own retries (standard mode:
#: 3 retries, ~1-4 s): ``try_write`` keeps sending it within ``THROTTLE_BUDGET_S``
THROTTLED_ERRORS = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"})
#: how long one write keeps being sent again while DynamoDB refuses it for capacity, backing off with jitter (100 ms
#: doubling, at most 2 s a pause). A hot key's budget refills every second, so a burst is absorbed well inside it;
#: it stays below the API function's 15 s timeout with room for the rest of the request, because an alert refused
#: as a 5xx is sent again by its source as a whole, which adds load exactly when the key is hot
THROTTLE_BUDGET_S = 8.0


class NoRegion(RuntimeError):
    """No AWS region is configured where DynamoDB clients are built."""


def client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A DynamoDB client. Region: ``region``, else ``AWS_REGION`` (Lambda always sets it), else boto3's own resolution
    (``AWS_DEFAULT_REGION``, the profile's config); with none configured this fails here, naming the variable, rather
    than sending requests to a region nobody chose. Endpoint: ``endpoint_url``, else boto3's own
    (``AWS_ENDPOINT_URL_DYNAMODB`` / ``AWS_ENDPOINT_URL``: the local emulator)."""
    import boto3
    from botocore.exceptions import NoRegionError

    try:
        return boto3.client(
            "dynamodb", region_name=region or os.environ.get("AWS_REGION") or None, endpoint_url=endpoint_url
        )
    except NoRegionError:
        raise NoRegion("no AWS region configured for DynamoDB: set AWS_REGION (Lambda sets it)") from None


# -- codecs ------------------------------------------------------------------------------------------------------------


def s(value: str) -> Attr:
    return {"S": value}


def n(value: int) -> Attr:
    return {"N": str(int(value))}


def boolean(value: bool) -> Attr:
    return {"BOOL": value}


def string_set(values: Iterable[str]) -> Attr:
    return {"SS": list(values)}


def strings(values: Iterable[str]) -> Attr:
    """A list of strings (``L`` of ``S``)."""
    return {"L": [s(v) for v in values]}


def numbers(values: Iterable[int]) -> Attr:
    """A list of numbers (``L`` of ``N``)."""
    return {"L": [n(v) for v in values]}


def if_absent() -> dict[str, str]:
    """The condition of a put that must not replace an item."""
    return {"ConditionExpression": "attribute_not_exists(pk)"}


def key(pk: str, sk: str) -> Item:
    """The primary key every table here has: string ``pk`` and ``sk``."""
    return {"pk": s(pk), "sk": s(sk)}


def text(item: Mapping[str, Attr], name: str) -> str | None:
    value = item.get(name)
    return str(value["S"]) if value is not None and "S" in value else None


def number(item: Mapping[str, Attr], name: str, default: int | None = None) -> int | None:
    value = item.get(name)
    return int(value["N"]) if value is not None and "N" in value else default


def plain(item: Mapping[str, Attr]) -> dict[str, Any]:
    """Scalars of an item as Python values (strings, whole numbers as ``int``, booleans); other types are left out.
    For records read whole by tools and tests, not for domain values."""
    out: dict[str, Any] = {}
    for name, value in item.items():
        if "S" in value:
            out[name] = value["S"]
        elif "N" in value:
            figure = float(value["N"])
            out[name] = int(figure) if figure.is_integer() else figure
        elif "BOOL" in value:
            out[name] = value["BOOL"]
    return out


# -- expressions -------------------------------------------------------------------------------------------------------


class Update:
    """One ``UpdateItem`` (or transaction ``Update``) expression with its condition: attribute names and values get
    placeholders as they are used, so no reserved word (``status``, ``timezone``, ``ref``) needs thought.

    ``name("revoked_sessions", sid)`` is a document path (a map key); ``request(condition)`` gives the keyword
    arguments of the request."""

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._values: dict[str, Attr] = {}
        self._set: list[str] = []
        self._remove: list[str] = []
        self._add: list[str] = []

    def name(self, *path: str) -> str:
        parts = []
        for part in path:
            placeholder = next((k for k, v in self._names.items() if v == part), None)
            if placeholder is None:
                placeholder = f"#n{len(self._names)}"
                self._names[placeholder] = part
            parts.append(placeholder)
        return ".".join(parts)

    def value(self, value: Attr) -> str:
        placeholder = f":v{len(self._values)}"
        self._values[placeholder] = value
        return placeholder

    def set(self, name: str, value: Attr, *path: str) -> Update:
        self._set.append(f"{self.name(name, *path)} = {self.value(value)}")
        return self

    def append(self, name: str, values: Attr) -> Update:
        """``values`` (an ``L``) added to the end of the list ``name``."""
        target = self.name(name)
        self._set.append(f"{target} = list_append({target}, {self.value(values)})")
        return self

    def remove(self, name: str, *path: str) -> Update:
        self._remove.append(self.name(name, *path))
        return self

    def add(self, name: str, value: Attr) -> Update:
        self._add.append(f"{self.name(name)} {self.value(value)}")
        return self

    def equals(self, name: str, value: Attr) -> str:
        """A condition: ``name`` holds ``value``."""
        return f"{self.name(name)} = {self.value(value)}"

    def absent(self, name: str) -> str:
        return f"attribute_not_exists({self.name(name)})"

    def exists(self, name: str) -> str:
        return f"attribute_exists({self.name(name)})"

    def request(self, condition: str | None = None) -> dict[str, Any]:
        clauses = [
            f"{verb} {', '.join(parts)}"
            for verb, parts in (("SET", self._set), ("REMOVE", self._remove), ("ADD", self._add))
            if parts
        ]
        out: dict[str, Any] = {"UpdateExpression": " ".join(clauses)}
        if condition:
            out["ConditionExpression"] = condition
        return out | self.placeholders()

    def placeholders(self) -> dict[str, Any]:
        """Only the names and values (a ``ConditionExpression`` on its own, a ``ConditionCheck``)."""
        out: dict[str, Any] = {}
        if self._names:
            out["ExpressionAttributeNames"] = dict(self._names)
        if self._values:
            out["ExpressionAttributeValues"] = dict(self._values)
        return out


# -- failures ----------------------------------------------------------------------------------------------------------


def error_code(exc: BaseException) -> str:
    """The AWS error code of a client error (``""`` for anything else)."""
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def condition_failed(exc: BaseException) -> bool:
    return error_code(exc) == CONDITION_FAILED + "Exception"


def _conflict_pause(round_: int) -> None:
    time.sleep(random.uniform(0, min(0.02 * 2**round_, 0.5)))  # noqa: S311  (jitter, not secrecy)


class _Throttle:
    """The back-off of one operation DynamoDB keeps refusing for capacity, bounded by ``THROTTLE_BUDGET_S``."""

    def __init__(self) -> None:
        self.deadline: float | None = None  # the budget starts at the first refusal
        self.round = 0

    def wait(self) -> bool:
        """Pause before sending again; False once the budget is spent (the caller raises what it got)."""
        if self.deadline is None:
            self.deadline = time.monotonic() + THROTTLE_BUDGET_S
        pause = random.uniform(0, min(0.1 * 2**self.round, 2.0))  # noqa: S311  (jitter, not secrecy)
        if time.monotonic() + pause > self.deadline:
            return False
        self.round += 1
        time.sleep(pause)
        return True


# -- riders: items written with the next write of a change -------------------------------------------------------------

#: items that must be written in the same transaction as the next write made in this context (a change's audit
#: record: it exists exactly when the change does); taken by the first write that commits
_riders: ContextVar[list[dict[str, Any]] | None] = ContextVar("oncall_dynamodb_riders", default=None)
_SINGLE = {"put_item": "Put", "update_item": "Update", "delete_item": "Delete"}


@contextmanager
def riding(*items: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    """Inside the block, the first write (``transact`` or ``try_write``) carries ``items`` in its transaction; the
    list yielded holds what no write has taken yet."""
    box = list(items)
    token = _riders.set(box)
    try:
        yield box
    finally:
        _riders.reset(token)


def riders_pending() -> bool:
    return bool(_riders.get())


def _take_riders() -> list[dict[str, Any]]:
    box = _riders.get()
    if not box:
        return []
    taken = list(box)
    box.clear()
    return taken


def _return_riders(items: list[dict[str, Any]]) -> None:
    box = _riders.get()
    if box is not None and items:
        box[:0] = items


def _try_write_riding(operation: Callable[..., Any], request: dict[str, Any]) -> dict[str, Any] | None:
    """``try_write`` as a transaction of the write and its riders (a transaction returns no attributes: asked for,
    they are read back, consistently)."""
    kind = _SINGLE[operation.__name__]
    ddb = getattr(operation, "__self__")  # noqa: B009  (a bound client method)
    returned = request.pop("ReturnValues", None)
    try:
        transact(ddb, [{kind: request}])
    except Cancelled as exc:
        if exc.condition_failed(stop=1):
            return None
        raise
    if returned in ("ALL_NEW", "UPDATED_NEW") and "Key" in request:
        got = ddb.get_item(TableName=request["TableName"], Key=request["Key"], ConsistentRead=True)
        return {"Attributes": got.get("Item", {})}
    return {}


def try_write(operation: Callable[..., Any], /, **request: Any) -> dict[str, Any] | None:
    """Run one conditional write (``put_item``, ``update_item``, ``delete_item``): its response, or None when its
    condition failed. A write that met a concurrent transaction is sent again (``CONFLICT_ROUNDS``), one refused for
    capacity within ``THROTTLE_BUDGET_S``; every other error raises. With riders pending (``riding``) it is written
    as a transaction with them."""
    if riders_pending() and getattr(operation, "__name__", "") in _SINGLE:
        return _try_write_riding(operation, request)
    conflicts = 0
    throttle = _Throttle()
    while True:
        try:
            response: dict[str, Any] = operation(**request)
            return response
        except Exception as exc:
            if condition_failed(exc):
                return None
            code = error_code(exc)
            if code in THROTTLED_ERRORS and throttle.wait():
                continue
            conflicts += 1
            if code != TRANSACTION_CONFLICT + "Exception" or conflicts >= CONFLICT_ROUNDS:
                raise
            _conflict_pause(conflicts)


class Cancelled(Exception):
    """DynamoDB cancelled a ``TransactWriteItems``: nothing was written. ``reasons`` holds one code per item in the
    order the items were given (``"None"`` for an item that did not cause it). ``response`` is the client error's,
    so whatever reads AWS error codes (``error_code``) still sees ``TransactionCanceledException``."""

    def __init__(self, reasons: Sequence[str], response: Mapping[str, Any] | None = None) -> None:
        super().__init__(",".join(reasons) or "transaction cancelled")
        self.reasons = tuple(reasons)
        self.response = dict(response or {"Error": {"Code": "TransactionCanceledException"}})

    def any_of(self, codes: Iterable[str], start: int = 0, stop: int | None = None) -> bool:
        wanted = set(codes)
        return any(code in wanted for code in self.reasons[start:stop])

    def condition_failed(self, start: int = 0, stop: int | None = None) -> bool:
        """A condition failed on one of the items ``start`` to ``stop`` (all by default)."""
        return self.any_of((CONDITION_FAILED,), start, stop)


def transact(ddb: Any, items: Sequence[Mapping[str, Any]]) -> None:
    """Write ``items`` in one transaction; ``Cancelled`` with each item's reason when DynamoDB cancels it. One
    cancelled only by a concurrent transaction (no condition failed: nothing was decided) is sent again as it is, up
    to ``CONFLICT_ROUNDS`` times; one refused for capacity (``THROTTLED`` reasons, or the whole request throttled)
    within ``THROTTLE_BUDGET_S``. Riders pending (``riding``) are written after ``items``, so reasons keep their
    positions."""
    riders = _take_riders()
    try:
        _transact(ddb, [*items, *riders])
    except BaseException:
        _return_riders(riders)
        raise


def _transact(ddb: Any, items: Sequence[Mapping[str, Any]]) -> None:
    conflicts = 0
    throttle = _Throttle()
    while True:
        try:
            ddb.transact_write_items(TransactItems=list(items))
            return
        except Exception as exc:
            code = error_code(exc)
            if code in THROTTLED_ERRORS and throttle.wait():
                continue
            if code != "TransactionCanceledException":
                raise
            response = getattr(exc, "response", None) or {}
            reasons = [str(r.get("Code") or "None") for r in response.get("CancellationReasons", [])]
            cancelled = Cancelled(reasons, response)
            if not cancelled.condition_failed():
                if cancelled.any_of(THROTTLED) and throttle.wait():
                    continue
                if TRANSACTION_CONFLICT in reasons and conflicts + 1 < CONFLICT_ROUNDS:
                    _conflict_pause(conflicts)
                    conflicts += 1
                    continue
            raise cancelled from exc


# -- batches and whole results -----------------------------------------------------------------------------------------


def _pause(round_: int) -> None:
    # unprocessed items mean throttling: back off before asking again, as the SDK's own retries would
    time.sleep(min(0.05 * 2**round_, 1.0))


def batch_write(ddb: Any, table: str, requests: Sequence[Mapping[str, Any]]) -> None:
    """``PutRequest`` / ``DeleteRequest`` entries in batches of 25, re-sending what DynamoDB leaves unprocessed; an
    error if some are still unprocessed after ``BATCH_ROUNDS`` rounds."""
    for start in range(0, len(requests), BATCH_WRITE_MAX):
        pending: dict[str, Any] = {table: [dict(r) for r in requests[start : start + BATCH_WRITE_MAX]]}
        for round_ in range(BATCH_ROUNDS):
            pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            _pause(round_)
        if pending:
            raise RuntimeError(f"{len(pending.get(table, []))} writes to {table} left unprocessed")


def batch_get(
    ddb: Any, table: str, keys: Sequence[Item], *, consistent: bool = True, projection: str | None = None
) -> list[Item]:
    """The items at ``keys`` that exist (any order), 100 keys a request, asking again for unprocessed keys."""
    found: list[Item] = []
    for start in range(0, len(keys), BATCH_GET_MAX):
        spec: dict[str, Any] = {"Keys": list(keys[start : start + BATCH_GET_MAX]), "ConsistentRead": consistent}
        if projection:
            spec["ProjectionExpression"] = projection
        request: dict[str, Any] = {table: spec}
        for round_ in range(BATCH_ROUNDS):
            got = ddb.batch_get_item(RequestItems=request)
            found += got["Responses"].get(table, [])
            request = got.get("UnprocessedKeys") or {}
            if not request:
                break
            _pause(round_)
        if request:
            raise RuntimeError(f"reads from {table} left unprocessed")
    return found


def query_all(ddb: Any, **request: Any) -> Iterator[Item]:
    """Every item a ``Query`` matches, following ``LastEvaluatedKey`` page by page."""
    while True:
        page = ddb.query(**request)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}
