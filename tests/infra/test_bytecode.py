"""Every Python asset ships the bytecode Lambda's read-only directories keep it from writing (``infra.bytecode``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra import bytecode
from tests.infra.conftest import PRODUCT, Synthesized

pytestmark = pytest.mark.infra

UNCHECKED_HASH = 0b01  # PEP 552 flags: hash-based, source not checked


def _flags(pyc: Path) -> int:
    return int.from_bytes(pyc.read_bytes()[4:8], "little")


def _package(root: Path) -> Path:
    source = root / "pkg"
    (source / "sub").mkdir(parents=True)
    (source / "__init__.py").write_text("VALUE = 41 + 1\n")
    (source / "sub" / "__init__.py").write_text("from pkg import VALUE\n")
    (source / "page.html").write_text("<p>not python</p>\n")
    return source


def test_a_copy_carries_unchecked_bytecode_for_the_runtime_and_runs_read_only(tmp_path: Path) -> None:
    source = _package(tmp_path)
    staged, _ = bytecode.compiled_copy(source)
    assert (staged / "page.html").read_text() == "<p>not python</p>\n"
    if not bytecode.can_compile():
        assert not list(staged.rglob("*.pyc"))
        return
    pycs = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*.pyc"))
    assert pycs == [
        f"__pycache__/__init__.{bytecode.RUNTIME_CACHE_TAG}.pyc",
        f"sub/__pycache__/__init__.{bytecode.RUNTIME_CACHE_TAG}.pyc",
    ]
    assert all(_flags(staged / p) == UNCHECKED_HASH for p in pycs)
    # the interpreter loads the shipped bytecode without writing any and without reading the source's times
    probe = "import pkg.sub, sys; print(pkg.sub.VALUE, pkg.__cached__ is not None)"
    out = subprocess.run(
        [sys.executable, "-B", "-c", probe], cwd=staged.parent, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["42", "True"]
    assert sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*.pyc")) == pycs


def test_the_asset_hash_follows_the_sources_not_the_caches_beside_them(tmp_path: Path) -> None:
    source = _package(tmp_path)
    before = bytecode.source_hash(source)
    # a developer's own caches are neither shipped nor hashed
    (source / "__pycache__").mkdir()
    (source / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"stale")
    (source / ".mypy_cache").mkdir()
    (source / ".mypy_cache" / "x.json").write_text("{}")
    assert bytecode.source_hash(source) == before
    (source / "sub" / "__init__.py").write_text("from pkg import VALUE as V\n")
    assert bytecode.source_hash(source) != before
    staged = tmp_path / "copy"
    shutil.copytree(source, staged, ignore=shutil.ignore_patterns(*bytecode.IGNORED))
    assert not (staged / "__pycache__").exists() and not (staged / ".mypy_cache").exists()


def test_every_function_and_the_common_layer_ship_their_bytecode(synthesized: Synthesized) -> None:
    """Synthesized by the runtime's CPython, every module ships its bytecode; by another, none ships (the runtime would
    ignore another version's bytecode, and the working tree's caches never go with the assets)."""
    manifest = json.loads((synthesized.outdir / f"{PRODUCT}.assets.json").read_text())
    directories = [
        Path(asset["source"]["path"])
        for asset in manifest["files"].values()
        if asset["source"].get("packaging") == "zip"
    ]
    handlers = [d for d in directories if (d / "handler.py").is_file()]
    commons = [d for d in directories if (d / "python" / "oncall" / "__init__.py").is_file()]
    assert len(handlers) == len(synthesized.topologies[PRODUCT].functions) and len(commons) == 1
    for directory in [*handlers, *commons]:
        sources = list(directory.rglob("*.py"))
        assert sources
        if not bytecode.can_compile():
            assert not list(directory.rglob("*.pyc")), f"{directory.name}: bytecode of {sys.implementation.cache_tag}"
            continue
        missing = [
            str(p.relative_to(directory))
            for p in sources
            if not (p.parent / "__pycache__" / f"{p.stem}.{bytecode.RUNTIME_CACHE_TAG}.pyc").is_file()
        ]
        assert not missing, f"{directory.name}: no bytecode for {missing[:5]}"
        assert not [p for p in directory.rglob("*.pyc") if bytecode.RUNTIME_CACHE_TAG not in p.name]
