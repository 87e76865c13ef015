"""The topology's secrets as SSM SecureString parameters, generated inside the account at deploy time.

Secrets Manager bills $0.40 a secret a month, more than the rest of a small organisation's bill together; SSM
Parameter Store's standard parameters cost nothing to keep and nothing to read at our rates. CloudFormation cannot
create a SecureString, and a value in the template would be readable by anyone who can read the stack, so one small
function of the stack's own (``secret_parameter/index.py``) answers a ``Custom::SecretParameter`` resource per
secret: it writes 64 random letters and digits once and never overwrites what an operator put there since.

Each parameter is ``/<stack name>/secrets/<name>``; a function is granted ``ssm:GetParameter`` on exactly the
parameters its declaration names (docs/architecture.md, "Configuration"). They are encrypted with the account's
``aws/ssm`` key, whose policy lets principals of the account decrypt through SSM: who may read a value is decided by
``ssm:GetParameter``, as ``secretsmanager:GetSecretValue`` decided it before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnOutput, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.layers import ARCHITECTURE, RUNTIME
from infra.constructs.nag import acknowledge
from infra.constructs.naming import cid
from infra.topology import Secret

HANDLER_DIR = Path(__file__).with_name("secret_parameter")
RESOURCE_TYPE = "Custom::SecretParameter"


@dataclass(frozen=True)
class SecretParameter:
    name: str
    arn: str
    resource: CustomResource


def parameter_name(stack_name: str, secret: Secret) -> str:
    return f"/{stack_name}/secrets/{secret.name}"


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, secrets: tuple[Secret, ...]) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        names = {s.name: parameter_name(stack.stack_name, s) for s in secrets}
        arns = {
            n: stack.format_arn(service="ssm", resource="parameter", resource_name=p.lstrip("/"))
            for n, p in names.items()
        }
        role = iam.Role(
            self,
            "WriterRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="OnCall Hub: creates and deletes the stack's secret parameters, nothing else",
        )
        log_group = logs.LogGroup(
            self, "WriterLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[log_group.log_group_arn]
            )
        )
        if arns:
            role.add_to_policy(
                iam.PolicyStatement(
                    actions=["ssm:PutParameter", "ssm:DeleteParameter"], resources=sorted(arns.values())
                )
            )
        writer = lambda_.Function(
            self,
            "Writer",
            description="OnCall Hub: generates the secret parameters' first values",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="index.handler",
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__"]),
            memory_size=128,
            timeout=Duration.seconds(60),
            role=role,
            log_group=log_group,
        )
        acknowledge(
            writer,
            "AwsSolutions-L1",
            "Pinned to python3.13 like every function of the stack; moving runtimes is one deliberate change.",
        )
        self.writer = writer
        self.by_name: dict[str, SecretParameter] = {}
        for decl in secrets:
            resource = CustomResource(
                self,
                cid(decl.name),
                service_token=writer.function_arn,
                resource_type=RESOURCE_TYPE,
                properties={"Name": names[decl.name], "Description": decl.doc or f"OnCall Hub secret '{decl.name}'"},
                removal_policy=RemovalPolicy.DESTROY,
            )
            # the policy must exist before CloudFormation asks the writer to put anything
            resource.node.add_dependency(role)
            self.by_name[decl.name] = SecretParameter(names[decl.name], arns[decl.name], resource)
            CfnOutput(
                stack,
                f"Secret{cid(decl.name)}Parameter",
                value=names[decl.name],
                description=f"SSM SecureString parameter '{decl.name}' ({decl.env_var})",
            )
