"""CloudFormation custom resource ``Custom::SecretParameter``: an SSM SecureString parameter holding a generated value.

CloudFormation can create only plain ``String`` parameters, and a value given in the template would sit in it for
anyone who can read the stack. This handler generates the value inside the account instead: 64 letters and digits
from ``secrets``, written once (``Overwrite=False``) so that a later deploy never replaces what an operator put
there (a bot token, an identity provider's client secret). Deleting the resource deletes the parameter.

Runs as the stack's own small function (Python standard library and the runtime's boto3 only) and answers
CloudFormation itself by PUT to the pre-signed ``ResponseURL``: no provider framework, no second function.
Values never reach a log line, a response or an exception message.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import string
import urllib.request
from typing import Any

ALPHABET = string.ascii_letters + string.digits
LENGTH = 64


def generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def apply(event: dict[str, Any], ssm: Any) -> str:
    """Do what the request asks; the parameter's name is the physical id."""
    props = event.get("ResourceProperties") or {}
    name = str(props.get("Name") or "")
    if event["RequestType"] == "Delete":
        physical = str(event.get("PhysicalResourceId") or "")
        if physical.startswith("/"):  # a failed create answers with a non-name id: nothing to delete then
            with contextlib.suppress(ssm.exceptions.ParameterNotFound):
                ssm.delete_parameter(Name=physical)
        return physical
    if not name.startswith("/"):
        raise ValueError("property Name must be a parameter path starting with '/'")
    if event["RequestType"] == "Update" and event.get("PhysicalResourceId") == name:
        return name  # only the description changed: the value stays as the operator left it
    # a parameter kept from an earlier stack of the same name is adopted: never overwrite a value someone set
    with contextlib.suppress(ssm.exceptions.ParameterAlreadyExists):
        ssm.put_parameter(
            Name=name,
            Description=str(props.get("Description") or "")[:1024],
            Value=generate(),
            Type="SecureString",
            Overwrite=False,
        )
    return name


def respond(event: dict[str, Any], status: str, physical: str, reason: str = "") -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:256] or status,
            "PhysicalResourceId": physical or event.get("LogicalResourceId", "secret-parameter"),
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {},
        }
    ).encode()
    url = str(event["ResponseURL"])
    if not url.startswith(("https://", "http://")):
        raise ValueError("ResponseURL is not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - checked just above: CloudFormation's pre-signed URL
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=20) as reply:  # noqa: S310 - CloudFormation's pre-signed S3 URL
        reply.read()


def handler(event: dict[str, Any], context: Any, ssm: Any = None) -> None:
    if ssm is None:
        import boto3

        ssm = boto3.client("ssm")
    try:
        physical = apply(event, ssm)
    except Exception as exc:
        # the class and message of a boto3 error name the parameter and the refusal, never a value
        respond(event, "FAILED", str(event.get("PhysicalResourceId") or ""), f"{exc.__class__.__name__}: {exc}")
        return
    respond(event, "SUCCESS", physical)
