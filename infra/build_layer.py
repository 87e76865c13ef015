"""Build the third-party dependency layer for Lambda (python3.13, arm64) without Docker: ``make layer``.

1. Export the runtime dependency group from ``uv.lock`` (what the functions import; no dev/test/deploy groups).
2. Drop what the Lambda runtime already provides (boto3, botocore, s3transfer) and every package needed only by
   them (``# via`` annotations, to a fixed point: python-dateutil, six, urllib3 ...), so the layer never shadows
   the runtime's AWS SDK with a second copy.
3. Install exactly that list (``--no-deps``) as manylinux (glibc <= 2.34) aarch64 cp313 wheels into
   ``layers/deps/python`` with ``uv pip install --target`` (pip's ``--platform/--only-binary`` equivalent, but
   cached and fast); wheels only, so nothing compiles for the wrong machine.
4. Compile the layer's bytecode for the runtime (``infra.bytecode``: Lambda's layer directory is read-only, so a
   layer without it is compiled from source at every cold start), when this interpreter is CPython 3.13.
5. Write ``layers/deps/oncall-layer.json``: the requirement list, its hash and the platform, so a stale layer is
   visible next to the lock file that produced it.

After this, ``cdk synth`` needs no network: the layer is a plain directory asset.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from infra import bytecode
from infra.topology import ROOT

TARGET = ROOT / "layers" / "deps"
#: Lambda's python3.13 runtime is Amazon Linux 2023 (glibc 2.34) on Graviton: any manylinux wheel up to 2.34 runs.
#: manylinux2014 alone is not enough: argon2-cffi-bindings 26.x ships aarch64 wheels only for manylinux_2_28.
PLATFORM = "aarch64-manylinux_2_34"
PYTHON_VERSION = "3.13"
#: shipped by the Lambda python3.13 runtime; everything needed only by these goes too
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
MANIFEST = "oncall-layer.json"

_REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==")
_VIA_ONE = re.compile(r"^\s+#\s+via\s+(\S+)\s*$")
_VIA_MANY = re.compile(r"^\s+#\s+via\s*$")
_VIA_ITEM = re.compile(r"^\s+#\s{3}(\S+)\s*$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirement:
    name: str
    line: str
    via: frozenset[str]


def parse_export(text: str) -> list[Requirement]:
    """Parse ``uv export`` output (requirement lines followed by ``# via`` annotations)."""
    reqs: list[Requirement] = []
    current: tuple[str, str] | None = None
    via: set[str] = set()
    in_via = False

    def flush() -> None:
        if current is not None:
            reqs.append(Requirement(current[0], current[1], frozenset(via)))

    for raw in text.splitlines():
        match = _REQ.match(raw)
        if match:
            flush()
            current, via, in_via = (normalize(match.group(1)), raw.strip()), set(), False
            continue
        if (one := _VIA_ONE.match(raw)) is not None:
            via.add(normalize(one.group(1)))
            in_via = False
        elif _VIA_MANY.match(raw):
            in_via = True
        elif in_via and (item := _VIA_ITEM.match(raw)) is not None:
            via.add(normalize(item.group(1)))
        else:
            in_via = False
    flush()
    return reqs


def without_runtime_provided(reqs: list[Requirement], project: str) -> list[Requirement]:
    """Drop the runtime's SDK and, to a fixed point, anything required only by dropped packages.

    A package required by the project itself (``via`` the project) is always kept."""
    dropped = set(RUNTIME_PROVIDED)
    changed = True
    while changed:
        changed = False
        for req in reqs:
            if req.name in dropped or not req.via or project in req.via:
                continue
            if req.via <= dropped:
                dropped.add(req.name)
                changed = True
    return [r for r in reqs if r.name not in dropped]


def find_uv() -> str | None:
    venv_uv = str(Path(sys.executable).parent / "uv")  # the deploy group installs uv beside the interpreter
    for candidate in (os.environ.get("UV"), venv_uv, shutil.which("uv"), str(ROOT / ".tools" / "bin" / "uv")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def export_requirements(uv: str) -> str:
    return subprocess.run(  # noqa: S603  # fixed argv; uv is the project's own tool
        [uv, "export", "--frozen", "--no-dev", "--no-default-groups", "--no-emit-project", "--no-hashes"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def install_command(uv: str, requirements: Path, site: Path) -> list[str]:
    return [
        uv, "pip", "install", "--quiet", "--no-deps", "--only-binary", ":all:",
        "--python-platform", PLATFORM, "--python-version", PYTHON_VERSION,
        "--target", str(site), "-r", str(requirements),
    ]  # fmt: skip


def _prune(site: Path) -> None:
    """Only bytecode compiled here ships (``infra.bytecode``); ``bin/`` scripts cannot run in Lambda."""
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(site / "bin", ignore_errors=True)


def build(target: Path = TARGET) -> dict[str, object]:
    """Build the layer into ``target`` (replacing it); returns the manifest it writes."""
    started = time.monotonic()
    uv = find_uv()
    if uv is None:
        raise SystemExit("uv is needed to export uv.lock: run `make layer` (it bootstraps uv) or install uv")
    reqs = without_runtime_provided(parse_export(export_requirements(uv)), project="oncall-hub")
    lines = sorted(r.line for r in reqs)
    staging = target.with_name(target.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    site = staging / "python"
    site.mkdir(parents=True)
    requirements = staging / "requirements.txt"
    requirements.write_text("\n".join(lines) + "\n")
    subprocess.run(install_command(uv, requirements, site), cwd=ROOT, check=True)  # noqa: S603  # fixed argv
    _prune(site)
    compiled = bytecode.compile_tree(site)
    requirements.unlink()
    manifest: dict[str, object] = {
        "python": PYTHON_VERSION,
        "platform": PLATFORM,
        "requirements": lines,
        "requirements_sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
        "excluded_runtime_provided": sorted(RUNTIME_PROVIDED),
        # None: built by another interpreter than the runtime's, so Lambda compiles the layer at each cold start
        "bytecode": bytecode.RUNTIME_CACHE_TAG if compiled else None,
        "bytecode_files": compiled,
        "size_bytes": sum(p.stat().st_size for p in site.rglob("*") if p.is_file()),
        "build_seconds": round(time.monotonic() - started, 1),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", type=Path, default=TARGET, help="layer directory (default: layers/deps)")
    args = parser.parse_args(argv)
    manifest = build(args.target)
    size_mb = int(manifest["size_bytes"]) / 1e6  # type: ignore[call-overload]
    compiled = (
        f"bytecode for {manifest['bytecode']}"
        if manifest["bytecode"]
        else f"no bytecode (built with {sys.implementation.cache_tag}, not {bytecode.RUNTIME_CACHE_TAG})"
    )
    print(
        f"dependency layer: {len(manifest['requirements'])} packages, "  # type: ignore[arg-type]
        f"{size_mb:.1f} MB unzipped, {compiled}, built in {manifest['build_seconds']} s → {args.target}"
    )


if __name__ == "__main__":
    main()
