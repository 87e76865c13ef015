"""Lambda functions from the topology, each with its own role granting exactly what its declaration names.

No managed policies and no CDK helper functions: every function gets an explicit log group (so CDK never adds its
log-retention custom resource) and an inline policy built from ``Function.tables`` (read vs write),
``publishes``, ``state_machines``, ``secrets`` and ``checks_readiness``. Reserved concurrency comes from the topology
(``Function.reserved_concurrency``) as the deployment adjusts it (``StackSettings.reservations``): it keeps the
paging path's share of the account's Lambda pool through an ingestion flood and bounds ingestion; README "Sizing and
limits" explains the figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.layers import ARCHITECTURE, RUNTIME, Layers, code_with_bytecode
from infra.constructs.nag import acknowledge, acknowledge_wildcard_resource
from infra.constructs.naming import cid
from infra.constructs.secrets import SecretParameter
from infra.topology import Function, Topology

TABLE_READ = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
]
TABLE_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
STATE_MACHINE_ACTIONS = [
    "states:StartExecution",
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
    # which lifecycles run (the lifecycle sweep); read-only, and scoped to the machine like the rest
    "states:ListExecutions",
]
#: variables naming deployed resources: set from the topology only, so a declaration cannot point them elsewhere
RESOURCE_VARIABLE_PREFIXES = (
    "ONCALL_TABLE_",
    "ONCALL_BUS_NAME",
    "ONCALL_STATE_MACHINE_",
    "ONCALL_SECRET_",
    "ONCALL_QUEUE_",
)
#: what ``GET /health/ready`` asks of the bus and of each state machine (read-only; tables: ``TABLE_READ``)
READINESS_BUS = ["events:DescribeEventBus"]
READINESS_STATE_MACHINE = ["states:DescribeStateMachine"]
SQS_SEND = ["sqs:SendMessage"]
MAIL_SENDER = "ONCALL_EMAIL_SENDER"
SES_SEND = ["ses:SendEmail", "ses:SendRawEmail"]
#: SMS: Publish to a phone number names no resource; every topic ARN is excluded, so it cannot publish to topics
SMS_PUBLISH = ["sns:Publish"]
SNS_TOPICS = "arn:aws:sns:*:*:*"
#: the opt-out check is account-wide
SMS_OPT_OUT = ["sns:CheckIfPhoneNumberIsOptedOut"]
#: what Lambda's active tracing adds to the role (AWS offers no resource-level scoping for it)
XRAY_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


@dataclass(frozen=True)
class Resources:
    """What functions may be granted, by topology name."""

    tables: Mapping[str, dynamodb.Table]
    bus: events.IEventBus
    state_machine_arns: Mapping[str, str]
    secrets: Mapping[str, SecretParameter]
    #: declared queues (``Function.queues`` may send to them)
    queues: Mapping[str, sqs.IQueue] = field(default_factory=dict)
    #: the operator's settings (``infra/settings.py``), by variable: every function gets them, except the mail
    #: sender, which only functions that send mail get, with SES grants on exactly its address and domain
    settings: Mapping[str, str] = field(default_factory=dict)


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topology: Topology,
        resources: Resources,
        layers: Layers,
        log_retention: logs.RetentionDays,
        stage: str,
        reservations: Mapping[str, int] | None = None,
        tracing: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        self.by_name: dict[str, lambda_.Function] = {}
        self.roles: dict[str, iam.Role] = {}
        self.settings = resources.settings
        #: reserved concurrency per function that has one (what the event source mappings are held to)
        self.reservations: dict[str, int] = dict(reservations or {})
        self._tracing = lambda_.Tracing.ACTIVE if tracing else lambda_.Tracing.DISABLED
        self._declared = {decl.name: decl.environment for decl in topology.functions}
        for decl in topology.functions:
            self._add(decl, topology, resources, layers, log_retention, stage)

    def _add(
        self,
        decl: Function,
        topology: Topology,
        resources: Resources,
        layers: Layers,
        log_retention: logs.RetentionDays,
        stage: str,
    ) -> None:
        name = cid(decl.name)
        role = iam.Role(
            self,
            f"{name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"OnCall Hub function '{decl.name}': only what infra/topology.py declares for it",
        )
        log_group = logs.LogGroup(self, f"{name}Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        environment = {
            "ONCALL_STAGE": stage,
            "ONCALL_BUS_NAME": resources.bus.event_bus_name,
            "POWERTOOLS_SERVICE_NAME": f"oncall-{decl.name}",
            "POWERTOOLS_METRICS_NAMESPACE": "OnCallHub",
            "POWERTOOLS_LOG_LEVEL": "INFO",
            # request/response bodies carry personal data (emails, chat ids): keep them out of X-Ray
            "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        }
        for tname, access in sorted(decl.tables.items()):
            table = resources.tables[tname]
            tdecl = topology.table(tname)
            environment[tdecl.env_var] = table.table_name
            arns = [table.table_arn] + [f"{table.table_arn}/index/{ix.name}" for ix in tdecl.indexes]
            actions = TABLE_READ + (TABLE_WRITE if access == "write" else [])
            role.add_to_policy(iam.PolicyStatement(actions=actions, resources=arns))
        if decl.publishes:
            role.add_to_policy(
                iam.PolicyStatement(actions=["events:PutEvents"], resources=[resources.bus.event_bus_arn])
            )
        if decl.checks_readiness:
            role.add_to_policy(iam.PolicyStatement(actions=READINESS_BUS, resources=[resources.bus.event_bus_arn]))
        for smname in decl.state_machines:
            arn = resources.state_machine_arns[smname]
            environment[topology.state_machine(smname).env_var] = arn
            actions = STATE_MACHINE_ACTIONS + (READINESS_STATE_MACHINE if decl.checks_readiness else [])
            role.add_to_policy(iam.PolicyStatement(actions=actions, resources=[arn]))
        for secret_name in decl.secrets:
            secret = resources.secrets[secret_name]
            environment[next(s for s in topology.secrets if s.name == secret_name).env_var] = secret.name
            role.add_to_policy(iam.PolicyStatement(actions=["ssm:GetParameter"], resources=[secret.arn]))
        for qname in decl.queues:
            queue = resources.queues[qname]
            environment[topology.queue(qname).env_var] = queue.queue_url
            role.add_to_policy(iam.PolicyStatement(actions=SQS_SEND, resources=[queue.queue_arn]))
        sender = resources.settings.get(MAIL_SENDER)
        environment.update({k: v for k, v in resources.settings.items() if k != MAIL_SENDER})
        if decl.sends_email and sender:
            environment[MAIL_SENDER] = sender
            role.add_to_policy(iam.PolicyStatement(actions=SES_SEND, resources=ses_identity_arns(self, sender)))
        # declared settings may override a default (e.g. POWERTOOLS_LOG_LEVEL), never a name CDK derives, and never
        # an operator's setting: two sources for one value would leave one of them silently ignored
        clashes = sorted(k for k in decl.environment if k.startswith(RESOURCE_VARIABLE_PREFIXES))
        if clashes:
            raise ValueError(f"function {decl.name}: environment may not set {clashes}; CDK derives them")
        _refuse_settings_clash(decl.name, decl.environment, resources.settings)
        environment.update(decl.environment)

        fn = lambda_.Function(
            self,
            name,
            description=f"OnCall Hub '{decl.name}'",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=decl.handler,
            code=code_with_bytecode(decl.code_dir),
            layers=layers.all,
            memory_size=decl.memory_mb,
            timeout=Duration.seconds(decl.timeout_s),
            environment=environment,
            role=role,
            log_group=log_group,
            tracing=self._tracing,
            reserved_concurrent_executions=self.reservations.get(decl.name),
        )
        for secret_name in decl.secrets:
            # a function never starts before the parameters it reads hold their first value
            fn.node.add_dependency(resources.secrets[secret_name].resource)
        acknowledge(
            fn,
            "AwsSolutions-L1",
            "Pinned to python3.13 on purpose: the dependency layer is built for cp313 (manylinux aarch64) and "
            "the test suite runs on 3.13; moving runtimes is a deliberate change of layer, tests and runtime together.",
        )
        if decl.sends_sms:
            role.add_to_policy(iam.PolicyStatement(actions=SMS_PUBLISH, not_resources=[SNS_TOPICS]))
            role.add_to_policy(iam.PolicyStatement(actions=SMS_OPT_OUT, resources=["*"]))
        acknowledge_wildcard_resource(role, XRAY_ACTIONS + (SMS_OPT_OUT if decl.sends_sms else []))
        self.by_name[decl.name] = fn
        self.roles[decl.name] = role

    def set_everywhere(self, variable: str, value: str) -> None:
        """One more setting for every function (one only known once other resources exist)."""
        for name, fn in self.by_name.items():
            _refuse_settings_clash(name, self._declared[name], {variable: value})
            fn.add_environment(variable, value)


def _refuse_settings_clash(function: str, declared: Mapping[str, str], settings: Mapping[str, str]) -> None:
    both = sorted(set(declared) & set(settings))
    if both:
        raise ValueError(f"function {function}: {both} set both by infra/topology.py and by deployment settings")


def ses_identity_arns(scope: Construct, sender: str) -> list[str]:
    """The sender's address and domain identities: SES authorises a send against the From identity."""
    from email.utils import parseaddr

    from aws_cdk import Stack

    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2]
    if not domain:
        raise ValueError(f"oncall:emailSender {sender!r} is not an email address")
    stack = Stack.of(scope)
    return [stack.format_arn(service="ses", resource="identity", resource_name=name) for name in (address, domain)]
