"""Local state that survives a restart: a JSON snapshot in the data folder, written on stop and periodically.

moto keeps everything in memory. Two ways to persist it were considered:

- *Replaying moto's request recorder* re-executes every request ever made, including their side effects: each
  ``PutEvents`` would deliver again, each ``StartExecution`` would run again and page people again, and the log grows
  without bound. Rejected.
- *Dumping data, re-creating resources* (chosen): resources are declared in the topology and re-created from it at
  every start (so a changed topology simply applies), and only data is saved: every DynamoDB table's items (tables
  not in the topology, e.g. made with the aws cli, with their key schema), the secret parameters' values, the stream
  backlog (records not yet handed to their consumer, so an outbox event written just before Ctrl-C is still
  published), records the stream poller parked, the clock offset, and the Step Functions executions that were
  running.

Restore order matters: declared tables are created with streams off, items are loaded through the DynamoDB API,
then streams are switched on, so restored items do not re-enter the stream as new INSERTs.

**Executions interrupted by a restart are restarted from the beginning** with the same name and input (moto cannot
serialise a running execution's position). Our state machines are written for that: every step is idempotent
("How a page flows" and "Invariants" in docs/architecture.md), and the restarted execution keeps the name
``<incident>-<generation>``, so a retried start still meets ``ExecutionAlreadyExists``. Finished executions and SQS
messages are not kept: nothing in the product reads them back after the fact.

The file is written atomically (temporary file + ``os.replace``), so a crash mid-write leaves the previous snapshot.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from infra.local import dynamo_lock
from infra.local.clock import Clock
from infra.local.codec import dec, enc
from infra.local.resources import ACCOUNT_ID, PREFIX, REGION, SECRET_PATH, enable_streams, table_name
from infra.topology import Topology

log = logging.getLogger("oncall.local.persistence")

FORMAT = 1
FILE_NAME = "emulator-state.json"

Clients = Callable[[str], Any]


_enc, _dec = enc, dec


def _table_spec(desc: dict[str, Any]) -> dict[str, Any]:
    """create_table arguments that rebuild an undeclared table's keys and indexes from its description."""
    spec: dict[str, Any] = {
        "TableName": desc["TableName"],
        "AttributeDefinitions": desc["AttributeDefinitions"],
        "KeySchema": desc["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    gsis = [
        {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
        for g in desc.get("GlobalSecondaryIndexes", [])
    ]
    if gsis:
        spec["GlobalSecondaryIndexes"] = gsis
    lsis = [
        {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
        for g in desc.get("LocalSecondaryIndexes", [])
    ]
    if lsis:
        spec["LocalSecondaryIndexes"] = lsis
    stream = desc.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return spec


def capture(
    clients: Clients,
    *,
    backlogs: Callable[[], dict[str, list[dict[str, Any]]]],
    parked: dict[str, list[dict[str, Any]]],
    clock_offset: float | None,
    rotate: Callable[[], int] | None = None,
    pending_work: Callable[[], dict[str, Any]] | None = None,
    queues: Callable[[], dict[str, list[dict[str, Any]]]] | None = None,
    account: str = ACCOUNT_ID,
    region: str = REGION,
) -> dict[str, Any]:
    """Everything worth keeping, read consistently: DynamoDB is held still while the journal moves to its next
    generation (``rotate``) and tables and backlogs are read, so items come from moto's backend (~60 ms for 5,000;
    a scan through a client took ~3 s, and every alert and page waited for each periodic snapshot)."""
    ddb = clients("dynamodb")
    tables: dict[str, Any] = {}
    with dynamo_lock.LOCK:
        generation = rotate() if rotate is not None else 0
        names = [n for page in ddb.get_paginator("list_tables").paginate() for n in page["TableNames"]]
        for name in names:
            desc = ddb.describe_table(TableName=name)["Table"]
            tables[name] = {"spec": _table_spec(desc), "items": _enc(table_items(account, region, name))}
        streams = backlogs()
    return {
        "format": FORMAT,
        "saved_at": datetime.now(UTC).isoformat(),
        "clock_offset_seconds": clock_offset,
        "tables": tables,
        "stream_backlog": _enc(streams),
        "stream_parked": _enc(parked),
        "secrets": _secrets(clients("ssm")),
        "executions": running_executions(clients("stepfunctions")),
        "journal_generation": generation,
        "pending_work": enc(pending_work() if pending_work is not None else {}),
        "queues": enc(queues() if queues is not None else {}),
    }


def table_items(account: str, region: str, name: str) -> list[dict[str, Any]]:
    """Every item of a table as a consistent scan returns it to boto3 (attribute values typed, binary as bytes)."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[account][region].get_table(name)
    return [{k: _as_returned(v) for k, v in item.to_json()["Attributes"].items()} for item in table.all_items()]


def _as_returned(value: dict[str, Any]) -> dict[str, Any]:
    """One typed attribute value as the SDK hands it out: moto keeps binary as it arrived (bytes, or the wire's
    base64 text) and nested values typed."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": _binary(inner)}
    if kind == "BS":
        return {"BS": [_binary(v) for v in inner]}
    if kind == "M":
        return {"M": {k: _as_returned(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_as_returned(v) for v in inner]}
    return {kind: inner}


def _binary(value: Any) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray) else base64.b64decode(value)


def queue_messages(account: str, region: str) -> dict[str, list[dict[str, Any]]]:
    """Every message of every queue (visible, delayed or in flight), oldest first, read from moto's backend without
    receiving them (a receive would change their visibility and receive count)."""
    import time

    from moto.sqs.models import sqs_backends

    now = time.time()
    out: dict[str, list[dict[str, Any]]] = {}
    for name, queue in list(sqs_backends[account][region].queues.items()):
        messages = [
            {
                "body": m.body,
                "group": m.group_id,
                "dedup": m.deduplication_id,
                "delay": max(0, round(float(m.delayed_until or 0) - now)),
            }
            for m in list(queue._messages)
        ]
        if messages:
            out[name] = messages
    return out


def restore_queues(clients: Clients, state: dict[str, Any]) -> int:
    """Send the saved messages again (new ids, receive counts from zero); returns how many."""
    sqs = clients("sqs")
    sent = 0
    for name, messages in dec(state.get("queues") or {}).items():
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            log.warning("queue %s is no longer declared: %d saved messages dropped", name, len(messages))
            continue
        for m in messages:
            kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": m["body"]}
            if m.get("group"):
                kwargs["MessageGroupId"] = m["group"]
                if m.get("dedup"):
                    kwargs["MessageDeduplicationId"] = m["dedup"]
            elif m.get("delay"):
                kwargs["DelaySeconds"] = min(900, int(m["delay"]))
            sqs.send_message(**kwargs)
            sent += 1
    return sent


def pending_work_of(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not state:
        return {}
    work: dict[str, dict[str, Any]] = dec(state.get("pending_work") or {})
    return work


def replay(
    clients: Clients, records: Iterable[dict[str, Any]], pending: dict[str, dict[str, Any]]
) -> tuple[int, float]:
    """Apply the journal on top of the restored snapshot (see ``journal``): item images through the DynamoDB API
    (streams on, so each becomes a stream record again), pending work added and removed in ``pending``. Returns the
    number of records applied and the largest clock offset journaled (0 when none)."""
    ddb = clients("dynamodb")
    applied = 0
    offset = 0.0
    for record in records:
        kind = record.get("k")
        if kind == "ddb":
            try:
                if record["item"] is not None:
                    ddb.put_item(TableName=record["t"], Item=record["item"])
                else:
                    ddb.delete_item(TableName=record["t"], Key=record["key"])
            except ddb.exceptions.ResourceNotFoundException:
                log.warning("journal: table %s no longer exists; its change is dropped", record["t"])
                continue
        elif kind == "work+":
            pending[record["id"]] = record["job"]
        elif kind == "work-":
            pending.pop(record["id"], None)
        elif kind == "clock":
            offset = max(offset, float(record["offset"]))
        applied += 1
    return applied, offset


def _secrets(ssm: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=SECRET_PATH, Recursive=True, WithDecryption=True
    ):
        for parameter in page["Parameters"]:
            out[parameter["Name"]] = parameter["Value"]
    return out


def running_executions(sfn: Any) -> list[dict[str, str]]:
    out = []
    for machine in sfn.list_state_machines()["stateMachines"]:
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
        ):
            for ex in page["executions"]:
                desc = sfn.describe_execution(executionArn=ex["executionArn"])
                out.append({"stateMachineArn": machine["stateMachineArn"], "name": ex["name"], "input": desc["input"]})
    return out


def write(data_dir: Path, state: dict[str, Any]) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / FILE_NAME
    fd, tmp = tempfile.mkstemp(dir=data_dir, prefix=".state-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read(data_dir: Path) -> dict[str, Any] | None:
    path = data_dir / FILE_NAME
    if not path.is_file():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    if state.get("format") != FORMAT:
        raise RuntimeError(
            f"{path}: snapshot format {state.get('format')} is not {FORMAT}; move it away to start fresh"
        )
    return state


def restore(clients: Clients, state: dict[str, Any], topology: Topology, clock: Clock) -> int:
    """Everything but executions and stream records, in the order that keeps restored items out of the streams:
    items (declared tables exist with streams off), then streams on, then secrets and the clock offset (a clock only
    moves forward). Returns the number of items loaded."""
    loaded = restore_tables(clients, state, topology)
    enable_streams(clients("dynamodb"), topology.tables)
    restore_secrets(clients, state)
    offset = state.get("clock_offset_seconds")
    current = getattr(clock, "offset", None)
    if offset is not None and isinstance(current, timedelta) and offset > current.total_seconds():
        clock.advance(timedelta(seconds=offset) - current)
    return loaded


class PeriodicSnapshots:
    """Calls ``snapshot`` every ``seconds`` on a thread of its own until ``stop()``: a runner killed outright loses
    at most that much."""

    def __init__(self, snapshot: Callable[[], object], seconds: float) -> None:
        self.snapshot = snapshot
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="oncall-snapshot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.snapshot()
            except Exception:
                log.exception("periodic snapshot failed")


def restore_tables(clients: Clients, state: dict[str, Any], topology: Topology) -> int:
    """Load saved items (declared tables already exist, streams off); create undeclared tables first. Returns the
    number of items loaded."""
    ddb = clients("dynamodb")
    declared = {table_name(t) for t in topology.tables}
    existing = set(ddb.list_tables()["TableNames"])
    loaded = 0
    for name, saved in state.get("tables", {}).items():
        streamed = None
        if name not in declared and name not in existing:
            spec = dict(saved["spec"])
            streamed = spec.pop("StreamSpecification", None)
            ddb.create_table(**spec)
        loaded += _load_items(ddb, name, _dec(saved["items"]))
        if streamed:
            ddb.update_table(TableName=name, StreamSpecification=streamed)
    return loaded


def _load_items(ddb: Any, name: str, items: Iterable[dict[str, Any]]) -> int:
    batch: list[dict[str, Any]] = []
    count = 0

    def flush() -> None:
        request = {name: [{"PutRequest": {"Item": item}} for item in batch]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        batch.clear()

    for item in items:
        batch.append(item)
        count += 1
        if len(batch) == 25:
            flush()
    if batch:
        flush()
    return count


def restore_secrets(clients: Clients, state: dict[str, Any]) -> None:
    ssm = clients("ssm")
    for name, value in (state.get("secrets") or {}).items():
        if not name.startswith("/"):
            # saved when the runner kept secrets in Secrets Manager as ``oncall-<name>``: same value, new home, so
            # signed-in sessions and linked bots survive the upgrade
            name = SECRET_PATH + name.removeprefix(PREFIX)
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def restart_executions(clients: Clients, state: dict[str, Any]) -> list[str]:
    sfn = clients("stepfunctions")
    started = []
    for ex in state.get("executions") or []:
        try:
            sfn.start_execution(stateMachineArn=ex["stateMachineArn"], name=ex["name"], input=ex["input"])
            started.append(ex["name"])
        except sfn.exceptions.StateMachineDoesNotExist:
            log.warning("execution %s: its state machine is no longer declared; not restarted", ex["name"])
        except sfn.exceptions.ExecutionAlreadyExists:
            started.append(ex["name"])
    return started


def backlog_of(state: dict[str, Any] | None, table: str) -> list[dict[str, Any]]:
    if not state:
        return []
    records: list[dict[str, Any]] = _dec((state.get("stream_backlog") or {}).get(table, []))
    return records


def parked_of(state: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    if not state:
        return {}
    parked: dict[str, list[dict[str, Any]]] = _dec(state.get("stream_parked") or {})
    return parked
