"""Step Functions state machines (Standard) from their ASL files: ``${Name}`` placeholders become function ARNs via
DefinitionSubstitutions; logging to a log group at the deployment's level (ALL, with execution data, by default);
X-Ray tracing unless the deployment turns it off. ``bench/cost.py`` prices both per incident.

State machines get explicit names (``<stack>-<name>``) so a function's environment and policy can name the ARN
without a CloudFormation reference: a function both invoked by and signalling a machine would otherwise form a cycle.
The machine's role may invoke exactly the substituted functions (unqualified ARNs: the ASL must not add a
version/alias qualifier).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from aws_cdk import ArnFormat, CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.nag import acknowledge, acknowledge_wildcard_resource
from infra.constructs.naming import cid
from infra.topology import StateMachine

#: added by CDK for LogLevel.ALL delivery and tracing; AWS authorises these only on Resource "*"
SFN_WILDCARD_ACTIONS = [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
]


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def _check_placeholders(decl: StateMachine) -> None:
    """A ``${Name}`` without a substitution would deploy as a literal and fail only when an execution reaches it."""
    used = set(_PLACEHOLDER.findall(decl.definition.read_text()))
    missing = sorted(used - set(decl.function_substitutions))
    unused = sorted(set(decl.function_substitutions) - used)
    if missing or unused:
        raise ValueError(f"state machine {decl.name}: placeholders without substitution {missing}, unused {unused}")


def state_machine_name(stack: Stack, decl: StateMachine) -> str:
    return f"{stack.stack_name}-{decl.name}"


def state_machine_arn(stack: Stack, decl: StateMachine) -> str:
    return stack.format_arn(
        service="states",
        resource="stateMachine",
        resource_name=state_machine_name(stack, decl),
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class Workflows(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machines: tuple[StateMachine, ...],
        functions: Mapping[str, lambda_.IFunction],
        log_retention: logs.RetentionDays,
        log_level: str = "ALL",
        tracing: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.by_name: dict[str, sfn.StateMachine] = {}
        for decl in state_machines:
            name = cid(decl.name)
            _check_placeholders(decl)
            log_group = logs.LogGroup(
                self,
                f"{name}Logs",
                # vended-log groups under /aws/vendedlogs/ keep the account's log resource policy from growing
                log_group_name=f"/aws/vendedlogs/states/{state_machine_name(stack, decl)}",
                retention=log_retention,
                removal_policy=RemovalPolicy.DESTROY,
            )
            machine = sfn.StateMachine(
                self,
                name,
                state_machine_name=state_machine_name(stack, decl),
                state_machine_type=sfn.StateMachineType.STANDARD,
                definition_body=sfn.DefinitionBody.from_file(str(decl.definition)),
                definition_substitutions={
                    placeholder: functions[fn].function_arn
                    for placeholder, fn in sorted(decl.function_substitutions.items())
                },
                logs=sfn.LogOptions(
                    destination=log_group,
                    level=sfn.LogLevel[log_level],
                    include_execution_data=log_level == "ALL",
                ),
                tracing_enabled=tracing,
            )
            for fn in sorted(set(decl.function_substitutions.values())):
                machine.add_to_role_policy(
                    iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[functions[fn].function_arn])
                )
            acknowledge_wildcard_resource(machine.role, SFN_WILDCARD_ACTIONS)
            if log_level != "ALL":
                acknowledge(
                    machine,
                    "AwsSolutions-SF1",
                    f"The operator chose oncall:workflowLogLevel={log_level}: at their alert volume every transition "
                    "logged with its data costs more than it helps (bench/cost.py prices it per incident).",
                )
            if not tracing:
                acknowledge(
                    machine,
                    "AwsSolutions-SF2",
                    "The operator turned X-Ray off (oncall:tracing=false) for this deployment's cost.",
                )
            self.by_name[decl.name] = machine
            CfnOutput(
                stack,
                f"StateMachine{name}Arn",
                value=machine.state_machine_arn,
                description=f"Step Functions state machine '{decl.name}'",
            )
