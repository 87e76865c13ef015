"""The architecture as a contract (docs/architecture.md, "Layers"): what may import what, no import cycles, thin
handlers, and files a reader can take in. A violation fails ``make test``."""

from __future__ import annotations

import ast
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common" / "python"
PACKAGE = LAYER / "oncall"
FUNCTIONS = ROOT / "functions"

#: what deployed code (the layer and the handlers) must never import: the CDK app, the runner, the emulator
NOT_DEPLOYED = ("infra", "aws_cdk", "constructs", "cdk_nag", "moto", "tests")
#: a handler shapes an event into a use case call and its result into a reply: no more than this many code lines
HANDLER_MAX_LINES = 40
#: beyond this a source file says in its module docstring why it is long ("Long because ...")
FILE_MAX_LINES = 400
LONG_REASON = "Long because"
#: a reference that only makes sense outside the repository: an issue number or the pre-repository design notes
OUTSIDE_REFERENCE = re.compile(r"\bDESIGN\b|\b[Ii]ssues? #?\d+\b")


def test_import_contracts_hold(capsys: pytest.CaptureFixture[str]) -> None:
    from importlinter import cli

    # import-linter configures logging with dictConfig, which disables every logger that exists: the product's own
    # logger would then drop every line for the rest of this worker's tests (and the log tests would see nothing)
    enabled = [lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    enabled = [lg for lg in enabled if not lg.disabled]
    sys.path[:0] = [str(LAYER), str(ROOT)]
    try:
        status = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    finally:
        del sys.path[:2]
        for lg in enabled:
            lg.disabled = False
    report = capsys.readouterr().out
    assert status == 0, report
    assert "0 broken" in report


def test_no_import_cycle_anywhere_in_the_product() -> None:
    import grimp

    sys.path.insert(0, str(LAYER))
    try:
        graph = grimp.build_graph("oncall")
    finally:
        sys.path.remove(str(LAYER))
    cycles = _cycles({m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules})
    assert cycles == [], "import cycles (type-checking and function-level imports count too):\n" + "\n".join(
        " → ".join(c) for c in cycles
    )


def test_handlers_never_import_the_runner_the_cdk_or_the_emulator() -> None:
    offenders = []
    for path in [*FUNCTIONS.rglob("*.py"), *PACKAGE.rglob("*.py")]:
        for name in _imports(path):
            if name.split(".")[0] in NOT_DEPLOYED:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_product_code_logs_through_the_one_structured_logger() -> None:
    """Plain ``logging`` would write unstructured lines without the invocation's correlation id; every function's
    entry point is wrapped by ``oncall.observability.handler`` (its logs, cold-start and error metrics, traces)."""
    plain = [
        str(path.relative_to(ROOT))
        for path in [*FUNCTIONS.rglob("*.py"), *PACKAGE.rglob("*.py")]
        if "logging" in _imports(path) and path.name != "observability.py"
    ]
    assert plain == []
    unwrapped = [
        str(path.relative_to(ROOT))
        for path in FUNCTIONS.glob("*/handler.py")
        if not re.search(r"^@observability\.(handler|correlated\(.*\))\ndef handler\(", path.read_text(), re.M)
    ]
    assert unwrapped == []


def test_every_handler_is_thin() -> None:
    fat = {
        str(path.relative_to(ROOT)): lines
        for path in FUNCTIONS.glob("*/handler.py")
        if (lines := _code_lines(path)) > HANDLER_MAX_LINES
    }
    assert fat == {}, f"handlers over {HANDLER_MAX_LINES} code lines: move the work into a use case"


def test_long_source_files_say_why() -> None:
    sources = [*PACKAGE.rglob("*.py"), *FUNCTIONS.rglob("*.py"), *(ROOT / "infra").rglob("*.py")]
    unexplained = {
        str(path.relative_to(ROOT)): n
        for path in sources
        if "node_modules" not in path.parts
        and (n := len(path.read_text().splitlines())) > FILE_MAX_LINES
        and LONG_REASON not in (ast.get_docstring(ast.parse(path.read_text())) or "")
    }
    assert unexplained == {}, f"files over {FILE_MAX_LINES} lines whose docstring does not say '{LONG_REASON} ...'"


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _code_lines(path: Path) -> int:
    """Lines that are code: no blank lines, comments or docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return sum(
        1
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#") and number not in docstrings
    )


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_comments_point_into_the_repository_never_to_issues() -> None:
    """Code and tests point to docs/architecture.md; an issue number or an outside design note means nothing to the
    next reader once the issue is closed."""
    roots = [LAYER, FUNCTIONS, ROOT / "infra", ROOT / "tests", ROOT / "bench"]
    me = Path(__file__).resolve()
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for root in roots
        for path in root.rglob("*.py")
        if "node_modules" not in path.parts and path.resolve() != me
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE_REFERENCE.search(line)
    ]
    assert found == []
