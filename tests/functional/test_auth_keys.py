"""Signing keys from an SSM SecureString parameter (the deployed stack's path), against moto, and the admin CLI's
table lookup."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3

from oncall.adapters.secrets import SecretReader
from oncall.domain.tokens import TokenKind
from oncall.security.jwt import TokenCodec
from oncall.security.keys import KeySource
from oncall.settings import KeySettings


def test_keys_come_from_the_secret_and_rotation_keeps_old_tokens(aws):
    sm = boto3.client("ssm", region_name="us-east-1")
    arn = "/OnCallHub/secrets/jwt-keys"
    sm.put_parameter(Name=arn, Value="r" * 64, Type="SecureString")
    ticks = [0.0]
    reader = SecretReader(sm, max_age=300, monotonic=lambda: ticks[0])
    source = KeySource(KeySettings.from_env({"ONCALL_SECRET_JWT_KEYS": arn}).keys, reader.value)
    codec = TokenCodec(source.get, issuer="i", audience="a")
    now = datetime.now(UTC)
    old_token = codec.encode(TokenKind.ACCESS, sub="u", sid="s", ver=0, jti="j", iat=int(now.timestamp()), ttl=60)

    # the operator rotates: a key set with the new key current and the old one still listed
    old_kid = source.get().current_kid
    keys = json.dumps({"current": "k2", "k2": "n" * 64, old_kid: "r" * 64})
    sm.put_parameter(Name=arn, Value=keys, Type="SecureString", Overwrite=True)
    assert source.get().current_kid == old_kid  # cached for max_age
    ticks[0] = 301
    assert source.get().current_kid == "k2"
    assert codec.decode(old_token, TokenKind.ACCESS, now).sub == "u"
    new_token = codec.encode(TokenKind.ACCESS, sub="u", sid="s", ver=0, jti="j2", iat=int(now.timestamp()), ttl=60)
    assert codec.decode(new_token, TokenKind.ACCESS, now).jti == "j2"


def test_admin_cli_finds_the_users_table_from_the_stack(aws):
    from infra.admin import find_users_table

    iam = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    template = {
        "Resources": {
            "Other": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.13",
                    "Handler": "handler.handler",
                    "Role": role,
                    "Code": {"ZipFile": "def handler(e, c):\n    return None\n"},
                },
            },
            "Api": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.13",
                    "Handler": "handler.handler",
                    "Role": role,
                    "Code": {"ZipFile": "def handler(e, c):\n    return None\n"},
                    "Environment": {"Variables": {"ONCALL_TABLE_USERS": "OnCallHub-users-ABC123"}},
                },
            },
        }
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="OnCallHub", TemplateBody=json.dumps(template)
    )
    assert find_users_table("OnCallHub", "us-east-1") == "OnCallHub-users-ABC123"
