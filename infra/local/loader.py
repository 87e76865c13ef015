"""Import a function's handler the way Lambda does: its code folder and the common layer on ``sys.path``."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from typing import Any

from infra.topology import ROOT, Function, function

LAYER_PATH = ROOT / "layers" / "common" / "python"


def load_handler(name: str) -> Callable[[dict[str, Any], Any], Any]:
    return load_function(function(name))


def load_function(fn: Function) -> Callable[[dict[str, Any], Any], Any]:
    """Any declared function, fixture ones included; imported once per process under a name of its own."""
    for path in (str(LAYER_PATH), str(fn.code_dir)):
        if path not in sys.path:
            sys.path.insert(0, path)
    module_name = f"oncall_function_{fn.name}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, fn.code_dir / "handler.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], Any] = module.handler
    return handler
