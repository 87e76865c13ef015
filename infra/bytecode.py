"""Bytecode shipped with every Lambda asset, compiled once when the app is synthesized (or the layer built).

A function's code directory and its layers are read-only in Lambda, so CPython cannot write ``__pycache__`` there:
an asset without bytecode makes every cold start compile every module it imports from source, ours and the
dependency layer's (pydantic, powertools, pynamodb ...). ``bench/cold_start.py`` measures both ways.

- Bytecode depends on the CPython minor version (its cache tag, ``cpython-313``), not on the machine, so an x86
  build machine compiles for Graviton. Another interpreter's bytecode would be ignored by the runtime, so a build on
  another minor version ships source only (correct, slower to start) and says so.
- ``unchecked-hash`` pycs: the runtime trusts them without comparing the source's modification time (zip
  extraction does not keep it) or hashing the source at import.
- The asset hash is taken from the sources, not from the compiled copy (whose bytes may differ between two builds
  of the same source): a synth of unchanged code changes no asset and so redeploys no function.
"""

from __future__ import annotations

import atexit
import compileall
import functools
import hashlib
import py_compile
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

#: the cache tag of Lambda's python3.13 runtime (``infra.constructs.layers.RUNTIME``)
RUNTIME_CACHE_TAG = "cpython-313"
#: never shipped from a working tree: the developer's own caches and tool state
IGNORED = ("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache")


def can_compile() -> bool:
    """Whether this interpreter writes bytecode the Lambda runtime loads."""
    return sys.implementation.cache_tag == RUNTIME_CACHE_TAG


def compile_tree(root: Path) -> int:
    """Compile every ``.py`` under ``root`` in place (``__pycache__`` beside each); returns how many were written.

    A file that does not compile is left as source: importing it fails in Lambda as it would anyway."""
    if not can_compile():
        return 0
    compileall.compile_dir(
        root,
        quiet=2,
        workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    return sum(1 for _ in root.rglob(f"*.{RUNTIME_CACHE_TAG}.pyc"))


def source_hash(root: Path) -> str:
    """SHA-256 over every shipped file's relative path and bytes, plus whether bytecode goes with them."""
    digest = hashlib.sha256(f"bytecode={RUNTIME_CACHE_TAG if can_compile() else 'none'}\n".encode())
    ignore = shutil.ignore_patterns(*IGNORED)
    for path in sorted(_shipped(root, ignore)):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _shipped(root: Path, ignore: Callable[[str, list[str]], set[str]]) -> list[Path]:
    files: list[Path] = []
    for directory, dirnames, filenames in root.walk():
        ignored = ignore(str(directory), dirnames + filenames)
        dirnames[:] = [d for d in dirnames if d not in ignored]
        files.extend(directory / f for f in filenames if f not in ignored)
    return files


@functools.cache
def compiled_copy(source: Path) -> tuple[Path, str]:
    """A temporary copy of ``source`` with its bytecode, and the hash of its sources (the asset hash).

    One copy per synthesizing process: apps built again in the same process (tests) reuse it."""
    staging = Path(tempfile.mkdtemp(prefix=f"oncall-asset-{source.name}-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    target = staging / source.name
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*IGNORED))
    compile_tree(target)
    return target, source_hash(source)
