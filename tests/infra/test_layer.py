"""The dependency layer: built from uv.lock's runtime group as Lambda arm64 wheels, without the runtime's own SDK.

The build downloads wheels from PyPI (cached by uv afterwards): about a second warm, a few seconds cold.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from infra import build_layer, bytecode
from infra.constructs import layers
from infra.topology import ROOT

pytestmark = pytest.mark.infra

EM_AARCH64 = 183


def _elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path.name} is not an ELF shared object"
    assert header[5] == 1, "little-endian expected"
    return int.from_bytes(header[18:20], "little")


@pytest.fixture(scope="module")
def built_layer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    # uv is in the deploy dependency group, so an environment that can run these tests can build the layer
    assert build_layer.find_uv() is not None, "uv not found: install the deploy group (`make test` does)"
    target = tmp_path_factory.mktemp("layer") / "deps"
    manifest = build_layer.build(target)
    return target, manifest


def test_layer_holds_the_runtime_packages_built_for_arm64(built_layer: tuple[Path, dict[str, object]]) -> None:
    target, manifest = built_layer
    site = target / "python"
    for package in ("aws_lambda_powertools", "pynamodb", "jwt", "pydantic", "argon2", "ulid"):
        assert (site / package / "__init__.py").is_file(), package
    (pydantic_core,) = site.glob("pydantic_core/_pydantic_core.cpython-313-aarch64-linux-gnu.so")
    assert _elf_machine(pydantic_core) == EM_AARCH64
    (argon2_binding,) = site.glob("_argon2_cffi_bindings/_ffi*.so")
    assert _elf_machine(argon2_binding) == EM_AARCH64
    (cffi_backend,) = site.glob("_cffi_backend.cpython-313-aarch64-linux-gnu.so")
    assert _elf_machine(cffi_backend) == EM_AARCH64
    assert not list(site.rglob("*x86_64*.so")), "an x86 binary would fail to load on Graviton"
    # bytecode compiled for the runtime ships (Lambda cannot write it), and only that
    assert not [p for p in site.rglob("*.pyc") if not p.name.endswith(f".{bytecode.RUNTIME_CACHE_TAG}.pyc")]
    if bytecode.can_compile():
        assert manifest["bytecode"] == bytecode.RUNTIME_CACHE_TAG
        (main_pyc,) = (site / "pydantic" / "__pycache__").glob(f"main.{bytecode.RUNTIME_CACHE_TAG}.pyc")
        # PEP 552 flags: bit 0 = hash-based, bit 1 = check_source; unchecked-hash is 0b01
        assert int.from_bytes(main_pyc.read_bytes()[4:8], "little") == 0b01
    else:
        assert manifest["bytecode"] is None and not list(site.rglob("*.pyc"))
    assert json.loads((target / build_layer.MANIFEST).read_text()) == manifest
    assert int(manifest["size_bytes"]) < 100_000_000  # type: ignore[call-overload]  # Lambda allows 250 MB in all


def test_layer_leaves_the_runtime_sdk_to_lambda(built_layer: tuple[Path, dict[str, object]]) -> None:
    target, manifest = built_layer
    site = target / "python"
    for provided in ("boto3", "botocore", "s3transfer", "dateutil", "urllib3", "six.py"):
        assert not (site / provided).exists(), f"{provided} would shadow the runtime's AWS SDK"
    names = {build_layer.normalize(line.split("==")[0]) for line in manifest["requirements"]}  # type: ignore[attr-defined]
    assert "jmespath" in names, "still needed by powertools, so it stays although botocore also uses it"


def test_layer_covers_every_runtime_dependency_of_the_project(built_layer: tuple[Path, dict[str, object]]) -> None:
    _, manifest = built_layer
    names = {build_layer.normalize(line.split("==")[0]) for line in manifest["requirements"]}  # type: ignore[attr-defined]
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in declared:
        name = build_layer.normalize(requirement.split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip())
        if name in build_layer.RUNTIME_PROVIDED:
            continue
        assert name in names, f"runtime dependency {name} is missing from the layer"


EXPORT = """\
aws-lambda-powertools==3.37.0
    # via oncall-hub
boto3==1.44.5
    # via oncall-hub
botocore==1.44.5
    # via
    #   boto3
    #   pynamodb
    #   s3transfer
jmespath==1.1.0
    # via
    #   aws-lambda-powertools
    #   boto3
    #   botocore
pycparser==3.12 ; implementation_name != 'PyPy'
    # via cffi
python-dateutil==2.9.0.post0
    # via botocore
six==1.17.0
    # via python-dateutil
urllib3==2.8.0
    # via botocore
pynamodb==6.1.0
    # via oncall-hub
cffi==2.1.1
    # via oncall-hub
"""


def test_runtime_provided_packages_and_their_private_dependencies_are_dropped() -> None:
    reqs = build_layer.parse_export(EXPORT)
    assert {r.name: r.via for r in reqs}["botocore"] == {"boto3", "pynamodb", "s3transfer"}
    kept = [r.line for r in build_layer.without_runtime_provided(reqs, project="oncall-hub")]
    assert kept == [
        "aws-lambda-powertools==3.37.0",
        "jmespath==1.1.0",
        "pycparser==3.12 ; implementation_name != 'PyPy'",
        "pynamodb==6.1.0",
        "cffi==2.1.1",
    ]


def test_real_synth_refuses_a_missing_layer_and_tests_get_a_stand_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layers, "DEPS_DIR", tmp_path / "deps")
    with pytest.raises(layers.DepsLayerMissingError, match="make layer"):
        layers.deps_layer_dir(allow_missing=False)
    stand_in = layers.deps_layer_dir(allow_missing=True)
    assert (stand_in / "python").is_dir() and stand_in != tmp_path / "deps"
    (tmp_path / "deps" / "python").mkdir(parents=True)
    with pytest.raises(layers.DepsLayerMissingError, match="stale"):
        layers.deps_layer_dir(allow_missing=False)  # no manifest: not built by infra.build_layer
    assert layers.deps_layer_dir(allow_missing=True) == tmp_path / "deps"


def test_a_layer_built_from_the_lock_is_current_and_a_drift_is_reported(
    built_layer: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    target, _ = built_layer
    lock = ROOT / "uv.lock"
    assert layers.stale_packages(target, lock) == []
    text = lock.read_text()
    pinned = 'name = "pyjwt"\nversion = "2.15.1"'
    assert pinned in text
    drifted = tmp_path / "uv.lock"
    drifted.write_text(text.replace(pinned, 'name = "pyjwt"\nversion = "2.99.0"'))
    assert layers.stale_packages(target, drifted) == ["pyjwt 2.15.1 (uv.lock: 2.99.0)"]
    assert layers.stale_packages(tmp_path, lock) != [], "a layer without its manifest cannot be trusted"


def test_cdk_app_entry_point_exits_with_the_reason_when_the_layer_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infra import app

    monkeypatch.setattr(layers, "DEPS_DIR", tmp_path / "deps")
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path / "cdk.out"))
    with pytest.raises(SystemExit) as exited:
        app.main()
    assert "run `make layer`" in str(exited.value.code)
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()
