"""Packages whose ``__init__`` is not run at import: their submodules load on their own, their names on first use.

powertools' ``event_handler`` package imports every resolver it has (AppSync's pulls in ``asyncio``) and its
``utilities.data_classes`` package imports every event class AWS has, ~60 modules, while the API uses one resolver
and a handful of events. A cold start pays for all of them (docs/architecture.md, "Composition"). ``defer`` registers
such a package before anything imports it: importing ``package.submodule`` then runs only that submodule, and
``from package import Name`` imports only the submodule the package's ``__init__`` takes ``Name`` from (read from
its ``from .x import Name`` lines, so every name it exports still resolves).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys


def defer(*names: str) -> None:
    for name in names:
        if name not in sys.modules:
            _register(name)


def _register(name: str) -> None:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None or spec.submodule_search_locations is None:
        raise ImportError(f"{name} is not a package that can be deferred")
    exports = _exports(name, spec.origin)
    module = importlib.util.module_from_spec(spec)

    def __getattr__(attr: str) -> object:
        if attr not in exports:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        source, original = exports[attr]
        value = getattr(importlib.import_module(source), original)
        setattr(module, attr, value)
        return value

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(importlib.import_module(parent), child, module)


def _exports(package: str, init_file: str) -> dict[str, tuple[str, str]]:
    """``name → (module, name there)`` for each ``from <module> import name [as alias]`` at the top of ``__init__``."""
    with open(init_file, encoding="utf-8") as source:
        tree = ast.parse(source.read(), init_file)
    out: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = f"{base}.{node.module}" if node.module else base
        else:
            module = node.module or ""
        for alias in node.names:
            out[alias.asname or alias.name] = (module, alias.name)
    return out
