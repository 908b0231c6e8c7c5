"""``sagelift init``: look at an existing project and propose its ``sagelift.toml``.

``scan_project`` reads the directory (entry point, requirements, data, DVC); ``propose`` and
``render_project_file`` are pure; ``write_project_file`` and ``ensure_gitignore`` do the writing.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagelift.errors import ConfigError, UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "InitChoices",
    "ProjectScan",
    "Proposal",
    "ensure_gitignore",
    "project_name",
    "propose",
    "render_project_file",
    "scan_project",
    "write_project_file",
]

PROJECT_FILE = "sagelift.toml"
GITIGNORE_ENTRY = ".sagelift/"
DATA_DIR = "data"
DEFAULT_CHANNEL = "training"
_SKIP_DIRS = frozenset({".git", ".venv", "venv", ".sagelift", "node_modules", ".dvc", ".tox"})
_CHANNEL_REF = re.compile(r"SM_CHANNEL_([A-Z0-9_]+)")

EntryPointValue = str | list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectScan:
    """What ``scan_project`` found; ``entry_points`` are candidates, best first, each a value
    for the ``entry_point`` key, paired with the ``source_dir`` it needs (None = the project)."""

    project_dir: Path
    name: str
    entry_points: tuple[tuple[EntryPointValue, str | None], ...] = ()
    requirements: str | None = None
    dependency_source: str | None = None
    channels: Mapping[str, str] = field(default_factory=dict)
    dvc: bool = False
    dvc_files: tuple[str, ...] = ()
    existing_config: Path | None = None
    framework: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InitChoices:
    """What the user chose (flags or answers); None keeps the detected value."""

    entry_point: EntryPointValue | None = None
    source_dir: str | None = None
    channels: Mapping[str, str] | None = None
    instance_type: str | None = None
    requirements: str | None = None
    base_job_name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """The settings to write, and notes to show next to them."""

    entry_point: EntryPointValue
    source_dir: str | None
    base_job_name: str
    instance_type: str
    requirements: str | None
    channels: Mapping[str, str]
    framework: str | None = None
    notes: tuple[str, ...] = ()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return data


def project_name(project_dir: Path) -> str:
    """``[project].name`` (or ``[tool.poetry].name``) of pyproject.toml, else the directory's."""
    data = _read_toml(project_dir / "pyproject.toml")
    for table in (data.get("project"), data.get("tool", {}).get("poetry")):
        if isinstance(table, Mapping) and isinstance(table.get("name"), str):
            return str(table["name"])
    return project_dir.resolve().name or "project"


def _base_job_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40].strip("-") or "job"


def _packages(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / "__main__.py").is_file() and p.name.isidentifier()
    )


def _entry_points(project_dir: Path, pyproject: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    found: list[tuple[EntryPointValue, str | None]] = []
    for name in ("train.py", "main.py"):
        if (project_dir / name).is_file():
            found.append((name, None))
    found += [
        (p.relative_to(project_dir).as_posix(), None)
        for p in sorted(project_dir.glob("src/*/train.py"))
    ]
    found += [
        (p.name, None)
        for p in sorted(project_dir.glob("*train*.py"))
        if p.name != "train.py" and "__main__" in p.read_text(encoding="utf-8", errors="replace")
    ]
    found += [(f"-m {pkg}", None) for pkg in _packages(project_dir)]
    found += [(f"-m {pkg}", "src") for pkg in _packages(project_dir / "src")]
    scripts = pyproject.get("project", {}).get("scripts", {})
    if isinstance(scripts, Mapping):
        for target in scripts.values():
            module, _, func = str(target).partition(":")
            if not module or not func.isidentifier():
                continue
            top = module.split(".")[0]
            source = "src" if (project_dir / "src" / top).is_dir() else None
            code = f"import sys; from {module} import {func}; sys.exit({func}())"
            found.append((["python", "-c", code], source))
    return found


def _channels(project_dir: Path, entry: Path | None, dvc_files: Sequence[str]) -> dict[str, str]:
    data = project_dir / DATA_DIR
    tracked = {f[: -len(".dvc")] for f in dvc_files}
    subdirs = (
        sorted(
            {p.name for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")}
            | {Path(t).name for t in tracked if Path(t).parent.as_posix() == DATA_DIR}
        )
        if data.is_dir() or tracked
        else []
    )
    if subdirs:
        return {re.sub(r"[^A-Za-z0-9._-]", "-", name): f"{DATA_DIR}/{name}" for name in subdirs}
    if data.is_dir() or DATA_DIR in tracked:
        wanted = DEFAULT_CHANNEL
        if entry is not None and entry.is_file():
            refs = _CHANNEL_REF.findall(entry.read_text(encoding="utf-8", errors="replace"))
            if len(set(refs)) == 1:
                wanted = refs[0].lower()
        return {wanted: DATA_DIR}
    return {}


def _dvc_files(project_dir: Path) -> tuple[str, ...]:
    found: list[str] = []
    stack = [project_dir]
    while stack:
        folder = stack.pop()
        for child in sorted(folder.iterdir()):
            if child.is_dir() and child.name not in _SKIP_DIRS:
                stack.append(child)
            elif child.is_file() and child.suffix == ".dvc":
                found.append(child.relative_to(project_dir).as_posix())
    return tuple(sorted(found))


def scan_project(project_dir: Path) -> ProjectScan:
    """Inspect ``project_dir``; raises UsageError when it is not a directory."""
    if not project_dir.is_dir():
        raise UsageError(
            f"{project_dir} is not a directory", hint="run 'sagelift init' in your project"
        )
    pyproject = _read_toml(project_dir / "pyproject.toml")
    entry_points = _entry_points(project_dir, pyproject)
    requirements = "requirements.txt" if (project_dir / "requirements.txt").is_file() else None
    dependency_source = None
    for lock in ("uv.lock", "poetry.lock"):
        if (project_dir / lock).is_file():
            dependency_source = lock
            break
    else:
        if pyproject.get("project", {}).get("dependencies"):
            dependency_source = "pyproject.toml"
    dvc_files = _dvc_files(project_dir)
    first = entry_points[0][0] if entry_points else None
    script = project_dir / first if isinstance(first, str) and first.endswith(".py") else None
    existing: Path | None = project_dir / PROJECT_FILE
    if existing is not None and not existing.is_file():
        tool = pyproject.get("tool", {})
        has_table = isinstance(tool, Mapping) and "sagelift" in tool
        existing = project_dir / "pyproject.toml" if has_table else None
    return ProjectScan(
        project_dir=project_dir,
        name=project_name(project_dir),
        entry_points=tuple(entry_points),
        requirements=requirements,
        dependency_source=dependency_source,
        channels=_channels(project_dir, script, dvc_files),
        dvc=(project_dir / ".dvc").is_dir(),
        dvc_files=dvc_files,
        existing_config=existing,
        framework=_framework(project_dir, requirements, pyproject),
    )


#: requirement name -> prebuilt SageMaker framework image (``image.framework``); first wins.
_FRAMEWORKS = (
    ("transformers", "huggingface"),
    ("torch", "pytorch"),
    ("tensorflow", "tensorflow"),
    ("scikit-learn", "sklearn"),
    ("sklearn", "sklearn"),
)


def _framework(
    project_dir: Path, requirements: str | None, pyproject: Mapping[str, Any]
) -> str | None:
    """The framework image matching the project's dependencies, if one does."""
    lines: list[str] = []
    if requirements is not None:
        text = (project_dir / requirements).read_text(encoding="utf-8", errors="replace")
        lines += text.splitlines()
    deps = pyproject.get("project", {}).get("dependencies", [])
    lines += [str(d) for d in deps] if isinstance(deps, list) else []
    names = {
        re.split(r"[\s<>=!~;\[@]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")
        for line in lines
        if line.strip() and not line.lstrip().startswith(("#", "-"))
    }
    return next((image for name, image in _FRAMEWORKS if name in names), None)


_EXPORT_HINTS = {
    "uv.lock": "uv export --no-hashes --format requirements-txt -o requirements.txt",
    "poetry.lock": "poetry export -f requirements.txt -o requirements.txt",
    "pyproject.toml": "list the [project].dependencies in requirements.txt",
}


def propose(scan: ProjectScan, choices: InitChoices) -> Proposal:
    """The settings for ``scan`` with ``choices`` applied. Pure.

    Raises UsageError when no entry point was detected and none was chosen.
    """
    if choices.entry_point is not None:
        entry_point: EntryPointValue = choices.entry_point
        source_dir = choices.source_dir
    elif scan.entry_points:
        entry_point, source_dir = scan.entry_points[0]
        source_dir = choices.source_dir or source_dir
    else:
        raise UsageError(
            f"no entry point found in {scan.project_dir} (looked for train.py, main.py, "
            "src/*/train.py, a package __main__ and [project.scripts])",
            hint="pass one: sagelift init --entry-point path/to/train.py",
        )
    notes: list[str] = []
    requirements = choices.requirements or scan.requirements
    if requirements is None and scan.dependency_source:
        notes.append(
            f"dependencies come from {scan.dependency_source}; cloud images install a "
            f"requirements file: {_EXPORT_HINTS[scan.dependency_source]}, then set "
            'requirements = "requirements.txt"'
        )
    channels = dict(scan.channels if choices.channels is None else choices.channels)
    tracked = {f[: -len(".dvc")] for f in scan.dvc_files}
    for name, path in channels.items():
        if path in tracked and not (scan.project_dir / path).exists():
            notes.append(f"channel {name}: {path} is tracked by DVC; run 'dvc pull {path}.dvc'")
    if scan.dvc and not scan.dvc_files:
        notes.append("the project uses DVC but no .dvc files were found")
    return Proposal(
        entry_point=entry_point,
        source_dir=source_dir,
        base_job_name=_base_job_name(choices.base_job_name or scan.name),
        instance_type=choices.instance_type or "local",
        requirements=requirements,
        channels=channels,
        framework=scan.framework,
        notes=tuple(notes),
    )


def render_project_file(proposal: Proposal) -> str:
    """The ``sagelift.toml`` text for ``proposal``. Pure."""
    lines = [
        "# sagelift settings: 'sagelift config' shows every value and where it comes from.",
        f"entry_point = {json.dumps(proposal.entry_point)}",
    ]
    if proposal.source_dir is not None:
        lines.append(f"source_dir = {json.dumps(proposal.source_dir)}")
    lines.append(f"base_job_name = {json.dumps(proposal.base_job_name)}")
    lines.append("# 'local' runs on this machine; an ml.* type (ml.m5.large) runs on SageMaker")
    lines.append(f"instance_type = {json.dumps(proposal.instance_type)}")
    if proposal.requirements is not None:
        lines.append(f"requirements = {json.dumps(proposal.requirements)}")
    lines += [f"# {note}" for note in proposal.notes]
    lines += ["", "[hyperparameters]", "# epochs = 3", "", "[image]"]
    lines.append("# the prebuilt SageMaker image cloud jobs run in (or set uri = an image URI)")
    framework = proposal.framework
    lines.append(f"framework = {json.dumps(framework)}" if framework else '# framework = "sklearn"')
    lines += ["", "[channels]"]
    if proposal.channels:
        lines += [f"{name} = {json.dumps(path)}" for name, path in proposal.channels.items()]
    else:
        lines.append('# train = "data/train"')
    return "\n".join(lines) + "\n"


def write_project_file(project_dir: Path, text: str, *, overwrite: bool) -> Path:
    """Write ``sagelift.toml``; raises UsageError when it exists and ``overwrite`` is false."""
    path = project_dir / PROJECT_FILE
    if path.exists() and not overwrite:
        raise UsageError(
            f"{path} already exists; not overwriting it",
            hint="run 'sagelift init --force' to replace it, or edit it by hand",
        )
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # pragma: no cover - render_project_file is tested
        raise ConfigError(f"generated {PROJECT_FILE} is invalid: {exc}", hint=None) from exc
    path.write_text(text, encoding="utf-8")
    return path


def ensure_gitignore(project_dir: Path) -> bool:
    """Add ``.sagelift/`` to the project's .gitignore (created if missing), once.

    Returns whether the file changed.
    """
    path = project_dir / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    entries = {line.strip().rstrip("/") for line in text.splitlines()}
    if {".sagelift", "/.sagelift"} & entries:
        return False
    prefix = "" if not text or text.endswith("\n") else "\n"
    path.write_text(f"{text}{prefix}{GITIGNORE_ENTRY}\n", encoding="utf-8")
    return True
