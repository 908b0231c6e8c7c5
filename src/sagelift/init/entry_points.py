"""Entry-point candidates of a project, ranked: training scripts at the top level, inside
packages (run as ``-m pkg.train`` when they need their package), in ``src/`` and ``scripts/``,
the ``train`` target of a Makefile, and ``[project.scripts]``. Pure over what ``read_code`` and
``read_makefile`` found.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Any

from sagelift.init.code import ModuleFacts

__all__ = [
    "Candidate",
    "EntryPointValue",
    "MakeCommand",
    "find_candidates",
    "imported_files",
    "make_commands",
]

EntryPointValue = str | list[str]

_NAME_SCORES = {
    "train.py": (40, "named train.py"),
    "training.py": (35, "named training.py"),
    "__main__.py": (25, "a package's __main__"),
    "main.py": (25, "named main.py"),
    "run.py": (15, "named run.py"),
    "fit.py": (15, "named fit.py"),
}
_NOT_ENTRY = frozenset({"setup.py", "conftest.py", "noxfile.py", "__init__.py"})
_PYTHON = re.compile(r"^(?:.*/)?python(?:3(?:\.\d+)?)?$|^\$[({]PYTHON[)}]$", re.IGNORECASE)
_TARGET = re.compile(r"^([A-Za-z0-9_.\-]+)\s*:(?!=)")
_MAKE_BONUS = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """One way to start the project's training: the ``entry_point``/``source_dir`` values,
    the project-relative ``file`` it runs (None when unknown), its ``score`` and the
    ``reasons`` for it; ``hyperparameters`` and ``dropped_args`` come from a Makefile recipe."""

    entry_point: EntryPointValue
    source_dir: str | None
    file: str | None
    score: int
    reasons: tuple[str, ...]
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    dropped_args: tuple[str, ...] = ()

    @property
    def shown(self) -> str:
        return (
            self.entry_point if isinstance(self.entry_point, str) else shlex.join(self.entry_point)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class MakeCommand:
    """A Python command in the recipe of a Makefile target whose name holds ``train``."""

    target: str
    program: str  # a script path, or "-m module"
    args: tuple[str, ...]
    line: str


def make_commands(text: str) -> tuple[MakeCommand, ...]:
    """The Python commands of the ``train``-like targets of a Makefile's ``text``."""
    found: list[MakeCommand] = []
    target: str | None = None
    for raw in text.splitlines():
        if not raw.startswith("\t"):
            match = _TARGET.match(raw)
            target = match.group(1) if match and "train" in match.group(1).lower() else None
            continue
        if target is None:
            continue
        line = raw.strip().lstrip("@-+").strip()
        for part in re.split(r"&&|;|\|\|", line):
            try:
                words = shlex.split(part)
            except ValueError:
                continue
            command = _python_command(words)
            if command is not None:
                program, args = command
                found.append(MakeCommand(target=target, program=program, args=args, line=line))
    return tuple(found)


def _python_command(words: Sequence[str]) -> tuple[str, tuple[str, ...]] | None:
    for index, word in enumerate(words):
        if not _PYTHON.match(word):
            continue
        rest = list(words[index + 1 :])
        while rest and rest[0].startswith("-") and rest[0] != "-m":
            rest.pop(0)  # interpreter options such as -u
        if len(rest) >= 2 and rest[0] == "-m" and "$" not in rest[1]:
            return f"-m {rest[1]}", tuple(rest[2:])
        if rest and rest[0].endswith(".py") and "$" not in rest[0]:
            return str(PurePosixPath(rest[0])), tuple(rest[1:])
        return None
    return None


def _module_parts(rel: str, root: str) -> list[str] | None:
    path = PurePosixPath(rel)
    if root:
        path = path.relative_to(root)
    parts = [*path.parent.parts, path.stem]
    if parts[-1] in ("__init__", "__main__"):
        parts.pop()
    return parts if parts and all(p.isidentifier() for p in parts) else None


def _root_of(rel: str) -> str:
    return "src" if rel.startswith("src/") else ""


def _module_file(module: str, root: str, files: Mapping[str, ModuleFacts]) -> str | None:
    base = "/".join(([root] if root else []) + module.split("."))
    for rel in (f"{base}.py", f"{base}/__init__.py", f"{base}/__main__.py"):
        if rel in files:
            return rel
    return None


def _resolve(rel: str, root: str, level: int, module: str) -> str | None:
    if level == 0:
        return module
    parts = _module_parts(rel, root)
    if parts is None:
        return None
    package = parts if rel.endswith("__init__.py") else parts[:-1]
    if level - 1 > len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, *([module] if module else [])]) or None


def imported_files(start: str, files: Mapping[str, ModuleFacts]) -> tuple[str, ...]:
    """``start`` and the project files it imports, directly or not, in discovery order."""
    root = _root_of(start)
    seen = [start]
    index = 0
    while index < len(seen):
        rel = seen[index]
        index += 1
        for level, module, names in files[rel].imports:
            absolute = _resolve(rel, root, level, module)
            if absolute is None:
                continue
            targets = [absolute, *(f"{absolute}.{name}" for name in names)]
            for target in targets:
                found = _module_file(target, root, files)
                if found is not None and found not in seen:
                    seen.append(found)
    return tuple(seen)


def _needs_module(rel: str, facts: ModuleFacts, files: Mapping[str, ModuleFacts]) -> str | None:
    """Why ``rel`` must run as ``-m`` (inside its package), or None if it runs as a script."""
    folder = PurePosixPath(rel).parent.as_posix()
    root = _root_of(rel)
    if folder in ("", ".", root):
        return None
    if rel.endswith("__main__.py"):
        return "it is the package's __main__"
    if any(level > 0 for level, _, _ in facts.imports):
        return "it uses relative imports"
    top = PurePosixPath(rel).relative_to(root).parts[0] if root else PurePosixPath(rel).parts[0]
    own = f"{root}/{top}/__init__.py" if root else f"{top}/__init__.py"
    imports_own = any(level == 0 and m.split(".")[0] == top for level, m, _ in facts.imports)
    if imports_own and own in files:
        return f"it imports its own package {top}"
    if f"{folder}/__init__.py" in files:
        return f"{folder} is an importable package"
    return None


def _file_candidate(
    rel: str, facts: ModuleFacts, files: Mapping[str, ModuleFacts]
) -> Candidate | None:
    path = PurePosixPath(rel)
    name = path.name
    in_scripts = path.parts[0] == "scripts"
    if name in _NOT_ENTRY or path.stem.startswith("test"):
        return None
    score, reason = _NAME_SCORES.get(name, (0, ""))
    if not score and "train" in path.stem.lower():
        score, reason = 30, f"named {name}"
    if not score and in_scripts and facts.main_guard:
        score, reason = 10, "a script in scripts/"
    if not score:
        return None
    reasons = [reason]
    if facts.main_guard or name == "__main__.py":
        score += 10
        reasons.append("has a __main__ guard")
    if facts.reads_sm_env:
        score += 10
        reasons.append("reads the SageMaker environment (SM_*)")
    if facts.argparse:
        score += 5
        reasons.append("parses command-line arguments")
    depth = len(path.parts) - 1 - (1 if path.parts[0] in ("src", "scripts") else 0)
    score -= 5 * depth
    if facts.launcher:
        score -= 100
        reasons.append("starts SageMaker jobs itself (imports the sagemaker SDK and calls .fit)")
    why_module = _needs_module(rel, facts, files)
    root = _root_of(rel)
    parts = _module_parts(rel, root)
    if why_module is not None and parts is not None:
        reasons.append(f"run as a module: {why_module}")
        return Candidate(
            entry_point=f"-m {'.'.join(parts)}",
            source_dir=root or None,
            file=rel,
            score=score,
            reasons=tuple(reasons),
        )
    return Candidate(
        entry_point=rel, source_dir=None, file=rel, score=score, reasons=tuple(reasons)
    )


def _make_args(args: Sequence[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    hyperparameters: dict[str, str] = {}
    dropped: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        key, eq, value = arg[2:].partition("=")
        if arg.startswith("--") and key and "$" not in arg:
            if eq:
                hyperparameters[key] = value
            elif index + 1 < len(args) and not args[index + 1].startswith("-"):
                if "$" in args[index + 1]:
                    dropped += [arg, args[index + 1]]
                else:
                    hyperparameters[key] = args[index + 1]
                index += 1
            else:
                dropped.append(arg)
        else:
            dropped.append(arg)
        index += 1
    return hyperparameters, tuple(dropped)


def _apply_make(
    found: dict[str, Candidate], command: MakeCommand, files: Mapping[str, ModuleFacts]
) -> None:
    hyperparameters, dropped = _make_args(command.args)
    if command.program.startswith("-m "):
        module = command.program[3:]
        rel = _module_file(module, "", files) or _module_file(module, "src", files)
    else:
        rel = command.program if command.program in files else None
    bonus = _MAKE_BONUS + (20 if command.target == "train" else 0)
    reason = f"the Makefile's {command.target} target runs it: {command.line}"
    base = found.get(rel) if rel is not None else None
    if base is None:
        source_dir = "src" if rel is not None and rel.startswith("src/") else None
        base = Candidate(
            entry_point=command.program, source_dir=source_dir, file=rel, score=0, reasons=()
        )
    found[rel or command.program] = replace(
        base,
        score=base.score + bonus,
        reasons=(reason, *base.reasons),
        hyperparameters=hyperparameters,
        dropped_args=dropped,
    )


def _script_candidates(
    pyproject: Mapping[str, Any], files: Mapping[str, ModuleFacts]
) -> list[Candidate]:
    scripts = pyproject.get("project", {}).get("scripts", {})
    found: list[Candidate] = []
    if not isinstance(scripts, Mapping):
        return found
    for name, target in scripts.items():
        module, _, func = str(target).partition(":")
        if not module or not func.isidentifier():
            continue
        rel = _module_file(module, "", files) or _module_file(module, "src", files)
        source = "src" if rel is not None and rel.startswith("src/") else None
        code = f"import sys; from {module} import {func}; sys.exit({func}())"
        training = "train" in str(name).lower()
        found.append(
            Candidate(
                entry_point=["python", "-c", code],
                source_dir=source,
                file=rel,
                score=20 + (20 if training else 0),
                reasons=(f"[project.scripts] {name} = {target!r}",),
            )
        )
    return found


def find_candidates(
    files: Mapping[str, ModuleFacts],
    *,
    pyproject: Mapping[str, Any],
    makefile: str | None = None,
) -> tuple[Candidate, ...]:
    """Every entry-point candidate, best first (ties: shallower, then alphabetical)."""
    found: dict[str, Candidate] = {}
    for rel, facts in files.items():
        candidate = _file_candidate(rel, facts, files)
        if candidate is not None:
            found[rel] = candidate
    for command in make_commands(makefile or ""):
        _apply_make(found, command, files)
    ranked = list(found.values()) + _script_candidates(pyproject, files)
    ranked.sort(key=lambda c: (-c.score, (c.file or "").count("/"), c.shown))
    unique: dict[str, Candidate] = {}
    for candidate in ranked:
        unique.setdefault(candidate.shown, candidate)
    return tuple(unique.values())
