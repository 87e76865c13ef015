"""The OnCall Hub stack: whatever ``infra/topology.py`` declares, nothing it does not.

Generic over the ``Topology`` value it is given, so tables, functions, routes, rules, schedules, state machines and
secrets added to the topology appear here without code changes (and tests can synthesize an extended topology).
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.alarms import Alarms
from infra.constructs.api import Api
from infra.constructs.dashboard import Dashboard
from infra.constructs.data import Tables
from infra.constructs.events import Bus, Rules
from infra.constructs.functions import Functions, Resources
from infra.constructs.layers import Layers
from infra.constructs.queues import DeclaredQueues
from infra.constructs.secrets import Secrets
from infra.constructs.streams import StreamConsumers
from infra.constructs.workflows import Workflows, state_machine_arn
from infra.settings import StackSettings
from infra.topology import Topology


class OnCallStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology,
        allow_missing_deps_layer: bool = False,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        knobs: StackSettings | None = None,
        stage: str = "aws",
        settings: Mapping[str, str] | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        topology.validate()
        self.topology = topology
        knobs = knobs or StackSettings.model_validate({})
        reservations = knobs.reservations({f.name: f.reserved_concurrency for f in topology.functions})
        secrets = Secrets(self, "Secrets", secrets=topology.secrets)
        self.tables = Tables(self, "Tables", tables=topology.tables)
        self.bus = Bus(self, "Events", name=topology.bus_name)
        layers = Layers(self, "Layers", allow_missing_deps=allow_missing_deps_layer)
        self.queues = DeclaredQueues(self, "Queues", queues=topology.queues)
        self.functions = Functions(
            self,
            "Functions",
            topology=topology,
            resources=Resources(
                tables=self.tables.by_name,
                bus=self.bus.bus,
                state_machine_arns={sm.name: state_machine_arn(self, sm) for sm in topology.state_machines},
                secrets=secrets.by_name,
                queues=self.queues.by_name,
                settings=dict(settings or {}),
            ),
            layers=layers,
            log_retention=log_retention,
            stage=stage,
            reservations=reservations,
            tracing=knobs.tracing,
        )
        self.queues.consume(self.functions.by_name, self.functions.reservations)
        StreamConsumers(
            self,
            "Streams",
            tables=topology.tables,
            table_resources=self.tables.by_name,
            functions=self.functions.by_name,
            roles=self.functions.roles,
        )
        self.api = Api(
            self,
            "Api",
            routes=topology.routes,
            functions=self.functions.by_name,
            throttle_rate=knobs.throttle_rate,
            throttle_burst=knobs.throttle_burst,
            ingest_throttle=(knobs.ingest_throttle_rate, knobs.ingest_throttle_burst),
            log_retention=log_retention,
        )
        # Pages link to the product's public URL: the operator's (oncall:publicUrl), else the HTTP API's own. The API
        # is built from the functions, so its URL is added afterwards; CloudFormation sees no cycle because only the
        # integrations and permissions refer to functions, never the API resource whose endpoint this reads.
        if "ONCALL_PUBLIC_URL" not in self.functions.settings:
            self.functions.set_everywhere("ONCALL_PUBLIC_URL", self.api.url)
        self.workflows = Workflows(
            self,
            "Workflows",
            state_machines=topology.state_machines,
            functions=self.functions.by_name,
            log_retention=log_retention,
            log_level=knobs.workflow_log_level,
            tracing=knobs.tracing,
        )
        self.rules = Rules(
            self,
            "Rules",
            rules=topology.rules,
            schedules=topology.schedules,
            bus=self.bus.bus,
            functions=self.functions.by_name,
            state_machines=self.workflows.by_name,
            queues=self.queues.by_name,
        )
        self.alarms: Alarms | None = None
        self.dashboard: Dashboard | None = None
        if knobs.alarms != "off":
            self.alarms = Alarms(
                self,
                "Alarms",
                functions=self.functions.by_name,
                state_machines=self.workflows.by_name,
                level=knobs.alarms,
            )
            self.alarms.watch_dead_letter_queues(self)
        if knobs.dashboard:
            self.dashboard = Dashboard(self, "Dashboard", functions=self.functions.by_name)
