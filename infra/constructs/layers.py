"""The two Lambda layers: our shared package (``oncall``) and the third-party dependencies built for arm64."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import tomllib
from pathlib import Path

from aws_cdk import AssetHashType
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import bytecode
from infra.build_layer import MANIFEST, normalize
from infra.topology import ROOT

COMMON_DIR = ROOT / "layers" / "common"
DEPS_DIR = ROOT / "layers" / "deps"
LOCK_FILE = ROOT / "uv.lock"
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64


class DepsLayerMissingError(RuntimeError):
    pass


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def stale_packages(layer_dir: Path, lock_file: Path) -> list[str]:
    """Packages whose version in the built layer differs from ``uv.lock`` (the layer predates a lock change)."""
    manifest_path = layer_dir / MANIFEST
    if not manifest_path.is_file():
        return [f"{MANIFEST} missing (layer built by something other than infra.build_layer)"]
    locked = {normalize(p["name"]): p.get("version") for p in tomllib.loads(lock_file.read_text())["package"]}
    stale = []
    for line in json.loads(manifest_path.read_text())["requirements"]:
        name, _, rest = line.partition("==")
        version = rest.split(";")[0].strip()
        if locked.get(normalize(name)) != version:
            stale.append(f"{name} {version} (uv.lock: {locked.get(normalize(name), 'absent')})")
    return stale


def deps_layer_dir(*, allow_missing: bool) -> Path:
    """``layers/deps`` once ``make layer`` has built it from the current ``uv.lock``. Only template tests may go
    without it (context flag ``oncall:allowMissingDepsLayer``): they get a stand-in directory (or the layer as it
    is), and a real ``cdk synth`` fails clearly on a missing or stale layer."""
    if (DEPS_DIR / "python").is_dir():
        stale = [] if allow_missing else stale_packages(DEPS_DIR, LOCK_FILE)
        if stale:
            raise DepsLayerMissingError(
                f"the dependency layer is stale ({'; '.join(stale)}): run `make layer` before cdk synth/diff/deploy"
            )
        return DEPS_DIR
    if not allow_missing:
        raise DepsLayerMissingError(
            f"the dependency layer is not built ({_shown(DEPS_DIR)}/python is missing): "
            "run `make layer` (python -m infra.build_layer) before cdk synth/diff/deploy"
        )
    stand_in = Path(tempfile.mkdtemp(prefix="oncall-deps-stand-in-"))
    atexit.register(shutil.rmtree, stand_in, ignore_errors=True)
    (stand_in / "python").mkdir()
    (stand_in / "python" / "STAND-IN.txt").write_text("template tests only: run `make layer` for the real layer\n")
    return stand_in


def code_with_bytecode(source: Path) -> lambda_.Code:
    """A code asset of ``source`` with its bytecode compiled for the runtime (``infra.bytecode``: Lambda's read-only
    code directories would otherwise make every cold start compile it), hashed by its sources."""
    staged, source_hash = bytecode.compiled_copy(source)
    return lambda_.Code.from_asset(str(staged), asset_hash=source_hash, asset_hash_type=AssetHashType.CUSTOM)


def deps_code(layer_dir: Path) -> lambda_.Code:
    """The dependency layer as ``make layer`` built it (bytecode included), hashed by what it was built from: the
    requirements, platform and bytecode tag in its manifest, so rebuilding an unchanged lock redeploys nothing."""
    manifest = layer_dir / MANIFEST
    if not manifest.is_file():  # the template tests' stand-in
        return lambda_.Code.from_asset(str(layer_dir))
    built = json.loads(manifest.read_text())
    identity = json.dumps({k: built.get(k) for k in ("requirements_sha256", "python", "platform", "bytecode")})
    return lambda_.Code.from_asset(str(layer_dir), asset_hash=identity, asset_hash_type=AssetHashType.CUSTOM)


class Layers(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, allow_missing_deps: bool) -> None:
        super().__init__(scope, construct_id)
        self.common = lambda_.LayerVersion(
            self,
            "Common",
            code=code_with_bytecode(COMMON_DIR),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="OnCall Hub shared package (import oncall)",
        )
        self.deps = lambda_.LayerVersion(
            self,
            "Deps",
            code=deps_code(deps_layer_dir(allow_missing=allow_missing_deps)),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description="OnCall Hub third-party dependencies (runtime group of uv.lock, manylinux2014 aarch64)",
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.deps, self.common]
