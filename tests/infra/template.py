"""Reading a synthesized CloudFormation template: resources by type, references, and IAM grants flattened."""

from __future__ import annotations

from typing import Any

Template = dict[str, Any]


def resources(template: Template, rtype: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in template["Resources"].items() if r["Type"] == rtype}


def props(template: Template, lid: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][lid].get("Properties", {})
    return properties


def render(value: Any) -> str:
    """A reference as a comparable string: ``X.Arn`` for GetAtt, ``X`` for Ref, joins concatenated."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        lid, attr = value["Fn::GetAtt"]
        return f"{lid}.{attr}"
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return str(sep).join(render(p) for p in parts)
    raise AssertionError(f"unexpected reference shape: {value!r}")


def ref_id(value: Any) -> str:
    """The logical id a Ref/GetAtt points at."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    raise AssertionError(f"not a reference: {value!r}")


def secret_writer_id(template: Template) -> str:
    """The stack's one function that is not declared in the topology: the ``Custom::SecretParameter`` handler."""
    tokens = {ref_id(r["Properties"]["ServiceToken"]) for r in resources(template, "Custom::SecretParameter").values()}
    assert len(tokens) == 1, tokens
    return tokens.pop()


def function_ids(template: Template) -> dict[str, str]:
    """Declared function name → logical id, via the POWERTOOLS_SERVICE_NAME each one carries."""
    out: dict[str, str] = {}
    writer = secret_writer_id(template)
    for lid, res in resources(template, "AWS::Lambda::Function").items():
        if lid == writer:
            continue
        service = res["Properties"].get("Environment", {}).get("Variables", {}).get("POWERTOOLS_SERVICE_NAME", "")
        assert service.startswith("oncall-"), f"{lid} is not one of our functions"
        out[service.removeprefix("oncall-")] = lid
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


#: what SMS publishing excludes (``infra/constructs/functions.py``): every SNS topic
SNS_TOPICS = "arn:aws:sns:*:*:*"


def role_grants(template: Template, role_lid: str) -> set[tuple[str, str]]:
    """Every (action, resource) an IAM role is allowed, across all policies attached to it (inline or not)."""
    grants: set[tuple[str, str]] = set()
    documents: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_lid} in policy["Properties"].get("Roles", []):
            documents.append(policy["Properties"]["PolicyDocument"])
    for inline in props(template, role_lid).get("Policies", []):
        documents.append(inline["PolicyDocument"])
    for document in documents:
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow", statement
            assert "NotAction" not in statement, statement
            if "NotResource" in statement:
                # the one exclusion we write: SMS publishes to phone numbers, every topic ARN excluded
                assert statement["Action"] == "sns:Publish" and statement["NotResource"] == SNS_TOPICS, statement
                grants.add(("sns:Publish", f"NOT {SNS_TOPICS}"))
                continue
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement["Resource"]):
                    grants.add((action, render(resource)))
    return grants


def all_policy_statements(template: Template) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    for role in resources(template, "AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            statements.extend(inline["PolicyDocument"]["Statement"])
    return statements
