"""The write-ahead journal: what the emulator changed since the last snapshot, so a runner killed outright (kill -9,
a crash, a power cut) loses nothing it acknowledged.

The snapshot (``persistence``) is taken every ~30 s; between two, every change is appended here as one JSON line:

- ``ddb``: a DynamoDB item's image *after* a write (``PutItem``, ``UpdateItem``, ``DeleteItem``, ``BatchWriteItem``,
  ``TransactWriteItems``), or ``null`` when it is gone. Images, not requests: replaying an image is idempotent and
  does not re-evaluate conditions or ``SET n = n + 1`` against a different starting state. Written inside the
  DynamoDB lock (``dynamo_lock.observe``), so the journal's order is the order the writes happened in.
- ``work+`` / ``work-``: background work accepted and finished (asynchronous invocations, rule deliveries, see
  ``eventbus.Delivery``): what is accepted and not finished runs again after a restart, at least once, as Lambda's
  asynchronous queue does.
- ``clock``: the clock's offset after a jump.

**Durability.** Each line is written with one ``write(2)`` on an ``O_APPEND`` descriptor before the request that made
it returns, so it is in the kernel when the writer hears "done": a killed process loses none of it. ``sync()``
(fsync) makes it survive a power cut too; the gateway calls it before it answers, so every 2xx the API sends is on
disk (docs/architecture.md, "Invariants": a 2xx means stored). Concurrent requests share one fsync (group commit):
a caller waits for the fsync in progress and finds its own line already synced. ``bench/runner.py`` measures the
cost. Modes (``ONCALL_LOCAL_DURABILITY``): ``fsync`` (default), ``write`` (survives kill -9, not a power cut),
``off`` (snapshots only: a hard kill loses up to 30 s).

**Generations.** Files are ``journal-<n>.jsonl``. A snapshot first rotates to generation n+1 (under the DynamoDB lock,
so no write falls between), records n+1 in the snapshot, and once the snapshot is safely written removes every
older file. A start replays, on top of the snapshot, every file from the snapshot's generation on, in order; a crash
between rotation and snapshot leaves both generations, and replaying both is correct because replay is idempotent. A
torn last line (the process died mid-write) is ignored: its request never returned.

Replay happens with DynamoDB Streams on, so each replayed image becomes a stream record again and the outbox's
consumers hear about changes made after the snapshot (at least once: one already handled before the crash is handed
over again, and consumers drop it by ``version``, "How an event flows" in docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from infra.local.codec import dec, enc

log = logging.getLogger("oncall.local.journal")

Mode = Literal["fsync", "write", "off"]
MODES: tuple[Mode, ...] = ("fsync", "write", "off")
PREFIX = "journal-"
SUFFIX = ".jsonl"

#: DynamoDB actions whose effects are journaled; anything else that writes (PartiQL) is kept by the next snapshot
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


def _path(directory: Path, generation: int) -> Path:
    return directory / f"{PREFIX}{generation:08d}{SUFFIX}"


def generations(directory: Path) -> list[int]:
    out = []
    for p in directory.glob(f"{PREFIX}*{SUFFIX}"):
        try:
            out.append(int(p.name[len(PREFIX) : -len(SUFFIX)]))
        except ValueError:
            continue
    return sorted(out)


def read(directory: Path, since: int) -> Iterator[dict[str, Any]]:
    """Every record of generations ``since`` and later, in order (a torn last line is skipped)."""
    for generation in generations(directory):
        if generation < since:
            continue
        with _path(directory, generation).open("rb") as fh:
            for raw in fh:
                if not raw.endswith(b"\n"):
                    log.warning("journal %d: torn last line ignored (the process died writing it)", generation)
                    break
                record: dict[str, Any] = json.loads(raw)
                yield dec(record)


class Journal:
    def __init__(self, directory: Path, mode: Mode = "fsync") -> None:
        if mode not in MODES:
            raise ValueError(f"durability mode {mode!r} is not one of {', '.join(MODES)}")
        self.directory = directory
        self.mode = mode
        self.generation = 0
        self.appended = 0
        self.syncs = 0
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    def open(self, generation: int) -> None:
        """Append to ``generation`` from now on (after replaying everything up to it). Disabled, it only counts, so the
        next snapshot still supersedes (and removes) files an earlier run left."""
        with self._lock:
            self._close()
            self.generation = generation
            if not self.enabled:
                return
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(_path(self.directory, generation), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def append(self, record: dict[str, Any]) -> None:
        if self._fd is None:
            return
        line = json.dumps(enc(record), separators=(",", ":")).encode() + b"\n"
        with self._lock:
            if self._fd is None:
                return
            os.write(self._fd, line)
            self._written += 1
            self.appended += 1

    def sync(self) -> None:
        """Make everything appended so far survive a power cut (a no-op unless the mode is ``fsync``)."""
        if self.mode != "fsync":
            return
        target = self._written
        if self._synced >= target:
            return
        with self._sync_lock:
            if self._synced >= target:  # the fsync we waited for covered our lines
                return
            with self._lock:
                fd, upto = self._fd, self._written
            if fd is None:
                return
            with contextlib.suppress(OSError):  # rotated and closed meanwhile: rotation fsyncs before closing
                os.fsync(fd)
            self._synced = max(self._synced, upto)
            self.syncs += 1

    def rotate(self) -> int:
        """Start the next generation (call with DynamoDB held still); returns it."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)
            self._synced = self._written
            self._close()
            self.generation += 1
            if not self.enabled:
                return self.generation
            self._fd = os.open(_path(self.directory, self.generation), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            return self.generation

    def drop_before(self, generation: int) -> None:
        """Remove the files a written snapshot has made redundant."""
        for old in generations(self.directory):
            if old < generation:
                _path(self.directory, old).unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self.mode == "fsync":
                os.fsync(self._fd)
            self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# --- DynamoDB: the images a request left behind -------------------------------------------------------------------
def dynamodb_observer(journal: Journal) -> Callable[[Any, Any], None]:
    """A ``dynamo_lock`` observer that journals the item images a write request left (inside the lock)."""

    def observe(handler: Any, response: Any) -> None:
        try:
            action = handler._get_action()
        except Exception:
            return
        if action not in WRITES:
            return
        status = response[0] if isinstance(response, tuple) and response else 200
        if action != "TransactWriteItems" and isinstance(status, int) and status >= 300:
            return  # nothing changed; a cancelled transaction is journaled anyway (its images are unchanged)
        params = handler.body if isinstance(handler.body, dict) else {}
        backend = handler.dynamodb_backend
        for table, key in _touched(action, params, backend):
            try:
                item = backend.get_item(table, key)
            except Exception:  # the table is gone
                log.debug("journal: %s is gone", table, exc_info=True)
                continue
            image = item.to_json()["Attributes"] if item is not None else None
            journal.append({"k": "ddb", "t": table, "key": key, "item": image})

    return observe


def _key_of(backend: Any, table: str, item: dict[str, Any]) -> dict[str, Any]:
    t = backend.get_table(table)
    names = [t.hash_key_attr] + ([t.range_key_attr] if t.range_key_attr else [])
    return {n: item[n] for n in names if n in item}


def _touched(action: str, params: dict[str, Any], backend: Any) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    try:
        if action == "PutItem":
            out.append((params["TableName"], _key_of(backend, params["TableName"], params["Item"])))
        elif action in ("UpdateItem", "DeleteItem"):
            out.append((params["TableName"], params["Key"]))
        elif action == "BatchWriteItem":
            for table, requests in (params.get("RequestItems") or {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        out.append((table, _key_of(backend, table, request["PutRequest"]["Item"])))
                    elif "DeleteRequest" in request:
                        out.append((table, request["DeleteRequest"]["Key"]))
        else:
            for entry in params.get("TransactItems") or []:
                for kind in ("Put", "Update", "Delete"):
                    op = entry.get(kind)
                    if op:
                        key = _key_of(backend, op["TableName"], op["Item"]) if kind == "Put" else op["Key"]
                        out.append((op["TableName"], key))
    except Exception:
        log.exception("journal: could not read the keys of a %s", action)
    return out
