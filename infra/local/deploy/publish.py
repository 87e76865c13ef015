"""The deploy without the CDK CLI, for tests: the cloud assembly's file assets put where ``cdk deploy`` would publish
them (the bootstrap bucket), the bootstrap version parameter the template checks, and the stack's change set.

What ``cdk bootstrap`` and ``cdk deploy`` add on top (the toolkit stack, change sets, the assets' roles) is exercised
by ``make deploy-local``; here the stack itself is what is under test, in about a second.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
QUALIFIER = "hnb659fds"
BOOTSTRAP_VERSION = "29"
#: not a product secret: the bootstrap's asset bucket name, as the template derives it
ASSET_BUCKET = f"cdk-{QUALIFIER}-assets-{ACCOUNT}-{REGION}"


def zip_directory(path: Path) -> bytes:
    """A deterministic zip of ``path`` (sorted names, fixed times): the same tree gives the same bytes. Everything in
    an assembly's asset directory ships, as the CLI zips it: the synth already left out the working tree's caches
    and added the bytecode compiled for the runtime (``infra.bytecode``)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for file in sorted(path.rglob("*")):
            if file.is_file():
                info = zipfile.ZipInfo(str(file.relative_to(path)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, file.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def asset_objects(outdir: Path, stack_name: str) -> dict[str, bytes]:
    """Object key → content for every file asset of the stack (directories zipped, files as they are)."""
    manifest = json.loads((outdir / f"{stack_name}.assets.json").read_text())
    objects: dict[str, bytes] = {}
    for asset in manifest.get("files", {}).values():
        source = outdir / asset["source"]["path"]
        body = zip_directory(source) if asset["source"].get("packaging") == "zip" else source.read_bytes()
        for destination in asset["destinations"].values():
            objects[destination["objectKey"]] = body
    return objects


def deploy(
    clients: Callable[[str], Any], stack_name: str, template: dict[str, Any], objects: dict[str, bytes]
) -> dict[str, Any]:
    """Bootstrap leftovers, assets and the stack (through a change set); returns the stack as ``DescribeStacks``
    shows it. A resource that cannot be created raises ``ClientError`` naming it (infra/local/deploy/shim.py)."""
    s3 = clients("s3")
    s3.create_bucket(Bucket=ASSET_BUCKET)
    for key, body in objects.items():
        s3.put_object(Bucket=ASSET_BUCKET, Key=key, Body=body)
    clients("ssm").put_parameter(
        Name=f"/cdk-bootstrap/{QUALIFIER}/version", Value=BOOTSTRAP_VERSION, Type="String", Overwrite=True
    )
    # a template over CreateStack's 51,200-byte body limit goes by S3, as the CLI sends it
    s3.put_object(Bucket=ASSET_BUCKET, Key=f"{stack_name}.template.json", Body=json.dumps(template).encode())
    cfn = clients("cloudformation")
    # a change set, as the CLI deploys: moto orders resources differently there than on CreateStack
    cfn.create_change_set(
        StackName=stack_name,
        ChangeSetName="deploy",
        ChangeSetType="CREATE",
        TemplateURL=f"https://s3.{REGION}.amazonaws.com/{ASSET_BUCKET}/{stack_name}.template.json",
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    cfn.execute_change_set(StackName=stack_name, ChangeSetName="deploy")
    stack: dict[str, Any] = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    return stack
