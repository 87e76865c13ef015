"""``oncall.lazy_packages``: a deferred package's ``__init__`` never runs, yet every name it exports resolves."""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall import lazy_packages
from tests.support.lambdas import in_a_fresh_api_interpreter

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def package(tmp_path: Path) -> Iterator[str]:
    """A package whose ``__init__`` re-exports three submodules (one under an alias) and records what ran."""
    name = f"deferred_{uuid.uuid4().hex[:8]}"
    pkg = tmp_path / name
    pkg.mkdir()
    (tmp_path / f"{name}_log.py").write_text("ran = False\nloaded = []\n")
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            f"""
            import {name}_log
            {name}_log.ran = True
            from .light import Light
            from .heavy import Heavy as Renamed
            from {name}.other import other_value
            """
        )
    )
    for sub, body in (("light", "class Light: ..."), ("heavy", "class Heavy: ..."), ("other", "other_value = 42")):
        (pkg / f"{sub}.py").write_text(f"import {name}_log\n{name}_log.loaded.append('{sub}')\n{body}\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        for key in [k for k in sys.modules if k.startswith(name)]:
            del sys.modules[key]


def test_submodules_and_names_load_alone(package: str) -> None:
    lazy_packages.defer(package)
    log = importlib.import_module(f"{package}_log")
    light = importlib.import_module(f"{package}.light")
    assert log.loaded == ["light"]
    assert not log.ran  # the package's __init__ never ran

    pkg = sys.modules[package]
    assert pkg.Light is light.Light
    assert pkg.Renamed.__name__ == "Heavy"  # an alias resolves to what it names
    assert log.loaded == ["light", "heavy"]
    assert pkg.other_value == 42  # an absolute import of its own submodule, too
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = pkg.missing
    assert not log.ran


def test_defer_leaves_an_imported_package_alone(package: str) -> None:
    real = importlib.import_module(package)
    assert importlib.import_module(f"{package}_log").ran
    lazy_packages.defer(package)
    assert sys.modules[package] is real


def test_a_module_that_is_not_a_package_is_refused() -> None:
    with pytest.raises(ImportError, match="not a package"):
        lazy_packages.defer("tabnanny")  # a module, not a package (and never imported here)


def test_the_api_imports_one_resolver_and_a_few_event_classes() -> None:
    """What the deferral buys the API's cold start: neither asyncio (AppSync's resolver) nor the event classes of
    every other AWS service are imported, and the handler still builds its app."""
    probe = textwrap.dedent(
        """
        import sys
        sys.path[:0] = [sys.argv[1], sys.argv[2]]
        import handler
        assert handler.app is not None
        classes = [m for m in sys.modules if m.startswith("aws_lambda_powertools.utilities.data_classes.")]
        resolvers = [m for m in sys.modules if m.startswith("aws_lambda_powertools.event_handler.")
                     and m.rsplit(".", 1)[1] in ("appsync", "bedrock_agent", "vpc_lattice", "lambda_function_url")]
        print(len(classes), "asyncio" in sys.modules, resolvers)
        """
    )
    out = in_a_fresh_api_interpreter(probe).split(maxsplit=2)
    assert int(out[0]) <= 10, out  # ~70 without the deferral
    assert out[1] == "False"
    assert out[2].strip() == "[]"
