"""Secrets Manager secrets from the topology, generated at deploy time so no secret value ever sits in the template."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.constructs.nag import acknowledge
from infra.constructs.naming import cid
from infra.topology import Secret


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, secrets: tuple[Secret, ...]) -> None:
        super().__init__(scope, construct_id)
        self.by_name: dict[str, secretsmanager.Secret] = {}
        for decl in secrets:
            secret = secretsmanager.Secret(
                self,
                cid(decl.name),
                description=decl.doc or f"OnCall Hub secret '{decl.name}'",
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=64, exclude_punctuation=True
                ),
            )
            acknowledge(
                secret,
                "AwsSolutions-SMG4",
                "Values are either issued by a third party and set by the operator (e.g. a Telegram bot token, "
                "rotated in that service) or our own signing keys, whose rotation needs a key-overlap window the "
                "app does not implement yet; rotation is an operator runbook step, not a Lambda rotation schedule.",
            )
            self.by_name[decl.name] = secret
            CfnOutput(
                Stack.of(self),
                f"Secret{cid(decl.name)}Arn",
                value=secret.secret_arn,
                description=f"Secrets Manager secret '{decl.name}' ({decl.env_var})",
            )
