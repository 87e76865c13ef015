"""The emulated AWS account the local runner (and functional tests) run on: moto, made to behave like AWS.

Long because it is the one place that starts and stops every part in order (moto, hooks, the journal, pollers,
deliveries, schedules, snapshots): the order is the correctness, and it reads best in one file.

``Emulator(topology, invoker).start()`` gives one process:

- moto's in-memory backends, reachable two ways that share them: in-process (``mock_aws`` started with
  ``reset=False``; ~3× faster, used by the emulator itself and handler-level tests) and moto's server on ``host:port``
  (``motoserver``, ``endpoint_url``), used by the runner's worker processes and by external tools (``aws
  --endpoint-url``, scripts). Port 4566 is LocalStack's and Floci's, so the same scripts work against all three.
- Step Functions executes state machines (``execute_state_machine``); ``MOTO_PORT`` points its service
  integrations at the server whenever boto3 is not intercepted in-process. Its waits (task timeouts, ``Wait``
  states, retry intervals) run on the emulator's clock (``waits``), so ``advance_clock`` ends them as it passes.
- DynamoDB serialised behind one lock (``dynamo_lock``), because moto's is not atomic under threads.
- Every function the topology declares is registered in moto's docker-free Lambda backend (``oncall-<name>``), and
  every invocation moto would make (``lambda.invoke`` by a client, a Step Functions ``lambda:invoke`` task, an
  EventBridge target, a schedule, a stream batch) goes to ``invoker.invoke(<declared name>, event)``: see ``hooks``
  and ``routing``.
- The ``oncall`` bus, the declared rules and their targets (delivered with the real envelope, ``eventbus``), the
  declared schedules (fired by ``scheduler`` in real time and by ``advance_clock``), the state machines (ASL with
  ``${Name}`` → function ARNs), the queues rules target and the declared secrets (random values).
- A poller per streamed table handing real DynamoDB Streams events to the table's ``stream_consumer`` (``streams``).
- A poller per declared queue handing real SQS events to the queue's consumer with partial batch failures
  (``queues``); moto keeps delays, visibility, receive counts and the redrive to the dead-letter queue.
- The mail sender (``ONCALL_EMAIL_SENDER``, default ``oncall@oncall.local``): its domain is a verified SES identity,
  so functions' SES v2 sends land in moto's SES (the runner's mail outbox).
- With ``data_dir``: state restored at start, saved on ``stop()`` and every ``snapshot_seconds`` (``persistence``;
  interrupted executions are restarted from the beginning), and every change in between written ahead to the
  journal (``journal``; ``durability``: ``fsync``, ``write`` or ``off``) and replayed on top of the snapshot at the
  next start, so a runner killed outright keeps what it acknowledged. ``data_dir=None`` keeps nothing. Background
  work not done when ``stop()`` is called is kept and done after the restart: asynchronous invocations and rule
  deliveries (``eventbus.Delivery``'s pending work), stream records (the backlog) and queue messages.

Stop order for a runner: ``emulator.stop()`` before closing the worker pools, so in-flight stream batches, schedules
and executions finish against live workers before the snapshot is taken.

moto's backends and the patched classes are process-wide, so one ``Emulator`` runs per process at a time; starting a
second one raises. Importing this module has no side effects: everything happens in ``start()`` and is undone by
``stop()`` (backends wiped, patches removed, environment restored).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from infra.local import dynamo_lock, journal, persistence, sqs_wake
from infra.local.clock import Clock, ShiftedClock
from infra.local.config import DEFAULT_MAIL_SENDER
from infra.local.contracts import Invoker
from infra.local.eventbus import Delivery
from infra.local.hooks import ClockHooks, Hooks, verify_hook_points
from infra.local.motoserver import CLIENT_ENV, ProcessEnvironment, start_server
from infra.local.queues import QueuePoller
from infra.local.resources import (
    ACCOUNT_ID,
    PREFIX,
    REGION,
    create_all,
    function_environment,
    queue_arn,
    queue_url,
    state_machine_arn,
    table_name,
)
from infra.local.routing import FunctionRoutes
from infra.local.scheduler import Scheduler
from infra.local.streams import StreamPoller, wake_on_writes
from infra.local.waits import ClockWaits
from infra.topology import Topology

log = logging.getLogger("oncall.local.emulator")

_ACTIVE: Emulator | None = None
_ACTIVE_LOCK = threading.Lock()


class Emulator:
    def __init__(
        self,
        topology: Topology,
        invoker: Invoker,
        *,
        host: str = "127.0.0.1",
        port: int = 4566,
        data_dir: Path | None = None,
        clock: Clock | None = None,
        snapshot_seconds: float = 30.0,
        scheduler_tick_seconds: float = 0.5,
        stream_poll_seconds: float = 0.1,
        stream_retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0),
        lambda_retry_delays: tuple[float, ...] = (1.0, 2.0),
        delivery_threads: int = 16,
        queue_poll_seconds: float = 0.1,
        queue_retry_seconds: int = 1,
        durability: journal.Mode = "fsync",
    ) -> None:
        self.topology = topology
        self.invoker = invoker
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.clock: Clock = clock if clock is not None else ShiftedClock()
        #: what Step Functions waits with while this emulator runs
        self.waits = ClockWaits(now=self.clock.now)
        self.snapshot_seconds = snapshot_seconds
        self.scheduler_tick_seconds = scheduler_tick_seconds
        self.stream_poll_seconds = stream_poll_seconds
        self.stream_retry_delays = stream_retry_delays
        self.lambda_retry_delays = lambda_retry_delays
        self.delivery_threads = delivery_threads
        self.queue_poll_seconds = queue_poll_seconds
        self.queue_retry_seconds = queue_retry_seconds
        self._queue_pollers: dict[str, QueuePoller] = {}
        self.account = ACCOUNT_ID
        self.region = REGION
        #: names of executions restarted from the snapshot at the last start
        self.restarted_executions: list[str] = []
        #: what the hooks hand Lambda's work to, and what fires the schedules
        self.routes = FunctionRoutes(topology, invoker, self.clock, account=self.account, region=self.region)
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self._mock: Any = None
        self._server: Any = None
        self._hooks: Hooks | None = None
        self._clock_hooks: ClockHooks | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._delivery: Delivery | None = None
        self._scheduler: Scheduler | None = None
        self._pollers: dict[str, StreamPoller] = {}
        self._parked: dict[str, list[dict[str, Any]]] = {}
        self._env = ProcessEnvironment()
        self._snapshots = persistence.PeriodicSnapshots(self.snapshot, snapshot_seconds)
        self._snapshot_lock = threading.Lock()
        self._running = False
        #: the write-ahead journal (off without a data folder)
        self.journal = journal.Journal(self.data_dir or Path("."), durability if self.data_dir is not None else "off")
        self._observer = journal.dynamodb_observer(self.journal)
        self._wake_pollers = wake_on_writes(self._pollers)
        self._queue_poller_names: dict[str, str] = {}
        #: journal records replayed at the last start
        self.replayed = 0

    # --- lifecycle ----------------------------------------------------------------------------------------------
    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> Emulator:
        global _ACTIVE
        with _ACTIVE_LOCK:
            if _ACTIVE is not None:
                raise RuntimeError("an Emulator is already running in this process (moto's backends are global)")
            _ACTIVE = self
        try:
            self._start()
        except BaseException:
            self._teardown(save=False)
            raise
        return self

    def _start(self) -> None:
        verify_hook_points()
        self.topology.validate()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._env.set(CLIENT_ENV)

        from moto import mock_aws

        self._mock = mock_aws(
            config={
                "lambda": {"use_docker": False},
                "stepfunctions": {"execute_state_machine": True},
            }
        )
        self._mock.start(reset=False)
        dynamo_lock.install()
        sqs_wake.install()
        self._hooks = Hooks(self.routes)
        self._hooks.install()
        self._clock_hooks = ClockHooks(self.waits)
        self._clock_hooks.install()
        self.clock.subscribe(self.waits.advanced)

        self._server, self.port = start_server(self.host, self.port)
        self._env.set({"MOTO_PORT": str(self.port)})

        state = persistence.read(self.data_dir) if self.data_dir else None
        create_all(self.client, self.topology, account=self.account, region=self.region, table_streams=state is None)
        if state is not None:
            loaded = persistence.restore(self.client, state, self.topology, self.clock)
            self._parked = persistence.parked_of(state)
            log.info("restored %d items from %s", loaded, self.data_dir)
        pending = persistence.pending_work_of(state)
        if self.data_dir is not None:
            self._replay(state, pending)

        self._executor = ThreadPoolExecutor(max_workers=self.delivery_threads, thread_name_prefix="oncall-deliver")
        self._delivery = self.routes.delivery = Delivery(
            invoker=self.invoker,
            clients=self.client,
            executor=self._executor,
            retry_delays=self.lambda_retry_delays,
            journal=self.journal.append,
        )
        for table in self.topology.tables:
            if table.stream_consumer:
                poller = StreamPoller(
                    table_name=table_name(table),
                    consumer=table.stream_consumer,
                    invoker=self.invoker,
                    account=self.account,
                    region=self.region,
                    poll_seconds=self.stream_poll_seconds,
                    retry_delays=self.stream_retry_delays,
                    backlog=persistence.backlog_of(state, table_name(table)),
                    on_park=self._on_park,
                )
                self._pollers[table_name(table)] = poller
                poller.start()
        dynamo_lock.observe(self._wake_pollers)
        self.allow_mail_from(os.environ.get("ONCALL_EMAIL_SENDER") or DEFAULT_MAIL_SENDER)
        for queue in self.topology.queues:
            qpoller = QueuePoller(
                queue=queue,
                queue_url=queue_url(queue.name, self.account, self.region),
                queue_arn=queue_arn(queue.name, self.account, self.region),
                region=self.region,
                invoker=self.invoker,
                sqs=lambda: self.client("sqs"),
                threads=self.topology.function(queue.consumer).local_concurrency,
                poll_seconds=self.queue_poll_seconds,
                retry_seconds=self.queue_retry_seconds,
                max_idle_seconds=sqs_wake.IDLE_SECONDS,
            )
            self._queue_pollers[queue.name] = qpoller
            self._queue_poller_names[queue_url(queue.name, self.account, self.region).rsplit("/", 1)[1]] = queue.name
            qpoller.start()
        sqs_wake.observe(self._wake_queue_poller)
        self._running = True
        if state is not None:
            self.restarted_executions = persistence.restart_executions(self.client, state)
            requeued = persistence.restore_queues(self.client, state)
            if requeued:
                log.info("%d queue messages kept from the last run are back on their queues", requeued)
        self._delivery.resume(pending)
        self._scheduler = Scheduler(
            clock=self.clock,
            rules=self.routes.scheduled_rules,
            fire=self.routes.fire,
            tick_seconds=self.scheduler_tick_seconds,
        )
        self._scheduler.start()
        if self.data_dir is not None and self.snapshot_seconds > 0:
            self._snapshots.start()

    def stop(self) -> None:
        """Save (with ``data_dir``), stop every thread, wipe the backends and undo every patch."""
        if self._mock is None:
            return
        self._teardown(save=True)

    def _teardown(self, *, save: bool) -> None:
        global _ACTIVE
        try:
            self._snapshots.stop()
            if self._scheduler is not None:
                self._scheduler.stop()
            for poller in self._pollers.values():
                poller.stop()
            for qpoller in self._queue_pollers.values():
                qpoller.stop()
            if save and self._running and self.data_dir is not None:
                self.snapshot()
            dynamo_lock.unobserve(self._observer)
            dynamo_lock.unobserve(self._wake_pollers)
            sqs_wake.unobserve(self._wake_queue_poller)
            self.clock.unsubscribe(self._journal_clock)
            self.journal.close()
            if self._running:
                self._stop_executions()
            self._running = False
            if self._delivery is not None:
                self._delivery.close()
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
            if self._server is not None:
                self._server.stop()
        finally:
            self.clock.unsubscribe(self.waits.advanced)
            if self._clock_hooks is not None:
                self._clock_hooks.uninstall()
            if self._hooks is not None:
                self._hooks.uninstall()
            dynamo_lock.uninstall()
            sqs_wake.uninstall()
            if self._mock is not None:
                self._mock.stop(remove_data=True)
            self._env.restore()
            self._mock = self._server = self._hooks = self._executor = self._delivery = self._scheduler = None
            self.routes.delivery = None
            self._clock_hooks = None
            self._pollers.clear()
            self._queue_pollers = {}
            self._clients = {}
            with _ACTIVE_LOCK:
                if _ACTIVE is self:
                    _ACTIVE = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _stop_executions(self) -> None:
        """Executions run in moto's threads, waiting on the clock: end them so nothing outlives the stop."""
        try:
            sfn = self.client("stepfunctions")
            for ex in persistence.running_executions(sfn):
                arn = ex["stateMachineArn"].replace(":stateMachine:", ":execution:") + ":" + ex["name"]
                try:
                    sfn.stop_execution(executionArn=arn, cause="emulator stopped")
                except Exception:  # already finished between the listing and the stop
                    log.debug("stop_execution %s", arn, exc_info=True)
        except Exception:
            log.exception("stopping running executions failed")

    # --- clients --------------------------------------------------------------------------------------------------
    def client(self, service: str) -> Any:
        """An in-process boto3 client (intercepted by ``mock_aws``); one per service, shared by threads."""
        with self._clients_lock:
            c = self._clients.get(service)
            if c is None:
                import boto3

                session: Any = boto3.session.Session(region_name=self.region)
                c = session.client(service)
                self._clients[service] = c
            return c

    def worker_environment(self, function: str) -> dict[str, str]:
        """Environment for a process running ``function`` against this emulator over its port."""
        env = dict(CLIENT_ENV)
        env["AWS_ENDPOINT_URL"] = self.endpoint_url
        env.update(
            function_environment(
                self.topology.function(function), self.region, topology=self.topology, account=self.account
            )
        )
        return env

    def advance_clock(self, delta: timedelta, catch_up: int | None = None) -> list[str]:
        """Move the clock forward and fire, in order, every schedule due up to the new time; each firing's event has
        ``time`` = its due time and has been handled when this returns. Step Functions waits the jump covers (task
        timeouts, ``Wait`` states, retry intervals) end as soon as the clock has moved, before the schedules fire;
        what the executions do next runs on its own. ``catch_up`` fires at most that many of each schedule's latest
        occurrences in the jump (what EventBridge does after an outage is fire none of the missed ones; a week played
        in fast-forward needs one of each, not ten thousand). Returns ``["<rule>@<time>", ...]``."""
        if self._scheduler is None:
            raise RuntimeError("the emulator is not running")
        return [str(f) for f in self._scheduler.advance(delta, catch_up)]

    def now(self) -> datetime:
        return self.clock.now()

    # --- streams ----------------------------------------------------------------------------------------------------
    def _wake_queue_poller(self, queue: str, delay_seconds: float) -> None:
        name = self._queue_poller_names.get(queue)
        if name is not None:
            self._queue_pollers[name].nudge(delay_seconds)

    def _on_park(self, table: str, records: list[dict[str, Any]], reason: str) -> None:
        self._parked.setdefault(table, []).extend(records)

    def parked_records(self) -> dict[str, list[dict[str, Any]]]:
        """Stream records the poller gave up on, per table (kept across restarts)."""
        return {k: list(v) for k, v in self._parked.items()}

    def queue_poller(self, queue: str) -> QueuePoller:
        return self._queue_pollers[queue]

    def allow_mail_from(self, sender: str) -> None:
        """Verify the sender's domain in the emulator's SES (moto, like SES, refuses mail from unverified ones)."""
        from email.utils import parseaddr

        domain = parseaddr(sender)[1].rpartition("@")[2]
        if not domain:
            raise ValueError(f"ONCALL_EMAIL_SENDER={sender!r} is not an email address")
        ses = self.client("sesv2")
        try:
            ses.get_email_identity(EmailIdentity=domain)
        except ses.exceptions.NotFoundException:
            ses.create_email_identity(EmailIdentity=domain)

    def stream_poller(self, table: str) -> StreamPoller:
        return self._pollers[table if table.startswith(PREFIX) else PREFIX + table]

    # --- state machines -------------------------------------------------------------------------------------------
    def state_machine_arn(self, name: str) -> str:
        return state_machine_arn(name, self.account, self.region)

    # --- persistence ------------------------------------------------------------------------------------------------
    def _replay(self, state: dict[str, Any] | None, pending: dict[str, dict[str, Any]]) -> None:
        """The journal on top of the snapshot (streams are on by now), then journal from a fresh generation."""
        assert self.data_dir is not None
        since = int((state or {}).get("journal_generation") or 0)
        kept = journal.generations(self.data_dir)
        self.replayed, offset = persistence.replay(self.client, journal.read(self.data_dir, since), pending)
        current = getattr(self.clock, "offset", None)
        if isinstance(current, timedelta) and offset > current.total_seconds():
            self.clock.advance(timedelta(seconds=offset) - current)
        if self.replayed:
            log.info("replayed %d journaled changes made after the last snapshot", self.replayed)
        self.journal.open(max([since, *kept]) + 1)
        if self.journal.enabled:
            dynamo_lock.observe(self._observer)
            self.clock.subscribe(self._journal_clock)

    def _journal_clock(self, delta: timedelta) -> None:
        offset = getattr(self.clock, "offset", None)
        if isinstance(offset, timedelta):
            self.journal.append({"k": "clock", "offset": offset.total_seconds()})

    def snapshot(self) -> dict[str, Any]:
        """Capture the state (and write it to ``data_dir`` when set); returns what was captured."""
        with self._snapshot_lock:
            offset = getattr(self.clock, "offset", None)
            delivery = self._delivery
            state = persistence.capture(
                self.client,
                backlogs=lambda: {name: p.backlog() for name, p in self._pollers.items()},
                parked=self._parked,
                clock_offset=offset.total_seconds() if isinstance(offset, timedelta) else None,
                rotate=self.journal.rotate,
                pending_work=delivery.pending_work if delivery is not None else None,
                queues=lambda: persistence.queue_messages(self.account, self.region),
                account=self.account,
                region=self.region,
            )
            if self.data_dir is not None:
                persistence.write(self.data_dir, state)
                self.journal.drop_before(state["journal_generation"])
            return state
