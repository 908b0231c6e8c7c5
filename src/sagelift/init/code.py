"""What a project's Python files do, as far as ``init`` cares: read without running them.

``read_code`` walks a project once and parses every Python file; ``module_facts`` is the pure
analysis of one file's text. A file that does not parse still yields the channel names found by
a plain text search, and nothing else.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sagelift.init.metrics import PrintedMetric, printed_metrics

__all__ = ["SKIP_DIRS", "ModuleFacts", "module_facts", "read_code", "walk_files"]

#: Folders never searched for code: environments, caches, tests and documentation.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "env",
        ".sagelift",
        "node_modules",
        ".dvc",
        ".tox",
        ".nox",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        "build",
        "dist",
        "site-packages",
        "tests",
        "test",
        "docs",
        "doc",
    }
)
_MAX_FILES = 3000
_MAX_BYTES = 1_000_000
_CHANNEL_ENV = re.compile(r"^SM_CHANNEL_([A-Z0-9_]+)$")
_CHANNEL_TEXT = re.compile(r"SM_CHANNEL_([A-Z0-9_]+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleFacts:
    """One Python file, read: ``imports`` are ``(level, module, names)`` as written (level 0 is
    absolute), ``channels`` the channel names the file reads (``SM_CHANNEL_TRAIN`` → ``train``,
    ``channel_input_dirs["train"]``), ``launcher`` whether it starts SageMaker jobs itself
    (imports the SageMaker SDK and calls ``.fit``)."""

    path: str
    parsed: bool = True
    imports: tuple[tuple[int, str, tuple[str, ...]], ...] = ()
    channels: tuple[str, ...] = ()
    metrics: tuple[PrintedMetric, ...] = ()
    main_guard: bool = False
    argparse: bool = False
    reads_sm_env: bool = False
    launcher: bool = False


def walk_files(root: Path, suffix: str = ".py") -> Iterator[Path]:
    """Files under ``root`` ending in ``suffix``, in a stable order, skipping ``SKIP_DIRS``,
    hidden folders, and anything past the first few thousand files."""
    stack = [root]
    seen = 0
    while stack:
        folder = stack.pop()
        try:
            children = sorted(folder.iterdir(), reverse=True)
        except OSError:
            continue
        for child in children:
            if child.is_dir() and not child.is_symlink():
                if child.name not in SKIP_DIRS and not child.name.startswith("."):
                    stack.append(child)
            elif child.is_file() and child.name.endswith(suffix):
                seen += 1
                if seen > _MAX_FILES:
                    return
                yield child


def read_code(project_dir: Path) -> dict[str, ModuleFacts]:
    """Every Python file of the project, read: relative POSIX path → facts."""
    found: dict[str, ModuleFacts] = {}
    for path in walk_files(project_dir):
        rel = path.relative_to(project_dir).as_posix()
        try:
            if path.stat().st_size > _MAX_BYTES:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found[rel] = module_facts(rel, text)
    return found


def _channel_subscript(node: ast.AST) -> str | None:
    """``….channel_input_dirs["x"]`` or ``….channel_input_dirs.get("x")`` → ``x``."""
    if isinstance(node, ast.Subscript):
        target, key = node.value, node.slice
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
    ):
        target, key = node.func.value, node.args[0]
    else:
        return None
    named = isinstance(target, ast.Attribute) and target.attr == "channel_input_dirs"
    if named and isinstance(key, ast.Constant) and isinstance(key.value, str):
        return key.value
    return None


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    names = {p.id for p in parts if isinstance(p, ast.Name)}
    values = {p.value for p in parts if isinstance(p, ast.Constant)}
    return "__name__" in names and "__main__" in values


def module_facts(path: str, text: str) -> ModuleFacts:
    """The facts of one file's source ``text``. Pure."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        names = sorted({m.lower() for m in _CHANNEL_TEXT.findall(text)})
        return ModuleFacts(path=path, parsed=False, channels=tuple(names))
    imports: list[tuple[int, str, tuple[str, ...]]] = []
    channels: list[str] = []
    sm_env = fits = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports += [(0, alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            imports.append((node.level, node.module or "", tuple(a.name for a in node.names)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _CHANNEL_ENV.match(node.value)
            if match:
                channels.append(match.group(1).lower())
            sm_env = sm_env or node.value.startswith("SM_")
        elif isinstance(node, ast.Attribute) and node.attr == "fit":
            fits = True
        channel = _channel_subscript(node)
        if channel is not None:
            channels.append(channel)
            sm_env = True
    modules = {module.split(".")[0] for level, module, _ in imports if level == 0}
    return ModuleFacts(
        path=path,
        imports=tuple(imports),
        channels=tuple(dict.fromkeys(channels)),
        metrics=printed_metrics(tree, path),
        main_guard=any(_is_main_guard(stmt) for stmt in tree.body),
        argparse=bool(modules & {"argparse", "click", "typer", "fire"}),
        reads_sm_env=sm_env,
        launcher="sagemaker" in modules and fits,
    )
