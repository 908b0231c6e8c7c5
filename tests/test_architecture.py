"""The package's layering: imports only run downward, with no loop, and only the record module
reads a job record's JSON.

Layers, lowest first. A module may import its own layer or lower ones, at module level or inside
a function (a lazy import is still a dependency). The launcher's layer ships alone inside jobs,
so it may import nothing above itself.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "sagelift"

LAYERS: tuple[tuple[str, ...], ...] = (
    # what ships inside every job: stdlib only
    ("errors", "package", "archives", "private_files", "redaction", "contract", "runtime"),
    # the pure core and the edges every layer uses
    (
        "spec",
        "config",
        "settings",
        "aws",
        "pricing",
        "provenance",
        "job",
        "records",
        "record_schema",
        "checkpoints",
        "formats",
        "algorithms",
    ),
    # the services: storage, code and data shipping, images, tracking
    (
        "storage",
        "codefiles",
        "helper_files",
        "sourcedir",
        "unpacking",
        "preflight",
        "uploads",
        "data",
        "images",
    ),
    ("tracking",),  # handed lines and statuses by jobs.wait
    ("backends",),
    # the façade and what the CLI offers beside it
    ("jobs", "submission", "listing", "provision", "doctor", "init", "ci"),
    ("cli", "__main__"),
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return len(LAYERS)  # the package itself: the public API, above everything
    for index, names in enumerate(LAYERS):
        if parts[1] in names:
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _imports(path: Path, *, top_level_only: bool = False) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sagelift"):
            if node.module == "sagelift":
                for alias in node.names:
                    sub = f"sagelift.{alias.name}"
                    yield (
                        sub
                        if (SRC / alias.name).exists() or (SRC / f"{alias.name}.py").exists()
                        else "sagelift"
                    )
            else:
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("sagelift"))


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def test_imports_never_run_upward() -> None:
    upward = [
        f"{module} -> {target}"
        for module, path in _modules().items()
        for target in _imports(path)
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_no_import_loop_at_module_level() -> None:
    modules = _modules()
    graph = {
        module: {t for t in _imports(path, top_level_only=True) if t in modules and t != module}
        for module, path in modules.items()
    }
    # A package's __init__ is imported before its submodules: an edge to it is implied.
    loops = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                loops.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert loops == []


RECORD_FILES = re.compile(r"(?<![\w-])(job|status)\.json\b")
#: The record files' names, and the decoders and encoder of their JSON (sagelift.record_schema,
#: pure): naming one outside records.py would read or write a record around it.
RECORD_NAMES = frozenset(
    {
        "JOB_FILE",
        "STATUS_FILE",
        "read_json",
        "record_from_dict",
        "record_to_dict",
        "status_from_dict",
        "header_from_dict",
    }
)


def _record_access(path: Path) -> list[str]:
    """Places in ``path``'s code (not its docstrings) that name a record file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and RECORD_FILES.search(node.value):
                found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr in RECORD_NAMES:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in RECORD_NAMES:
            found.append(f"line {node.lineno}: {node.id}")
    return found


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_only_the_record_module_touches_record_files(path: Path) -> None:
    if path == SRC / "records.py":
        return
    assert _record_access(path) == []
