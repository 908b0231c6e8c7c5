"""``sagelift init``: look at an existing project and propose its ``sagelift.toml``.

``scan_project`` reads the directory once (code, Makefile, requirements, data, DVC, the image
table); ``propose`` and ``render_project_file`` are pure; ``write_project_file`` and
``ensure_gitignore`` do the writing. Every proposal carries its reasons, written as comments.
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
from sagelift.init.channels import DATA_DIR, propose_channels
from sagelift.init.code import ModuleFacts, read_code
from sagelift.init.entry_points import Candidate, EntryPointValue, find_candidates, imported_files
from sagelift.init.frameworks import (
    ImageChoice,
    choose_image,
    parse_requirements,
    sdk_contract,
)
from sagelift.init.metrics import PrintedMetric, disambiguate

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "GITIGNORE_ENTRY",
    "PROJECT_FILE",
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
_LOCKS = ("uv.lock", "poetry.lock")
_NO_IMAGE = ImageChoice(framework=None, version=None, reasons=())
_EXPORT_HINTS = {
    "uv.lock": "uv export --no-hashes --format requirements-txt -o requirements.txt",
    "poetry.lock": "poetry export -f requirements.txt -o requirements.txt",
    "pyproject.toml": "list the [project].dependencies in requirements.txt",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectScan:
    """What ``scan_project`` found. ``entry_points`` are the ranked candidates, best first;
    ``files`` every Python file read; ``channels`` the proposed channels with
    ``channel_reasons``; ``image`` the image cloud jobs should run in, and why."""

    project_dir: Path
    name: str
    entry_points: tuple[Candidate, ...] = ()
    files: Mapping[str, ModuleFacts] = field(default_factory=dict)
    requirements: str | None = None
    dependency_source: str | None = None
    channels: Mapping[str, str] = field(default_factory=dict)
    channel_reasons: Mapping[str, str] = field(default_factory=dict)
    channel_notes: tuple[str, ...] = ()
    dvc: bool = False
    dvc_files: tuple[str, ...] = ()
    existing_config: Path | None = None
    image: ImageChoice = _NO_IMAGE
    contract: tuple[str, str] | None = None


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
    """The settings to write, each with the reasons written next to it, and the notes that
    ask the user to act."""

    entry_point: EntryPointValue
    source_dir: str | None
    base_job_name: str
    instance_type: str
    requirements: str | None
    channels: Mapping[str, str]
    channel_reasons: Mapping[str, str] = field(default_factory=dict)
    entry_reasons: tuple[str, ...] = ()
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    hyperparameter_reasons: tuple[str, ...] = ()
    metrics: tuple[PrintedMetric, ...] = ()
    image: ImageChoice = _NO_IMAGE
    contract: tuple[str, str] | None = None
    notes: tuple[str, ...] = ()

    @property
    def framework(self) -> str | None:
        return self.image.framework


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return data


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def project_name(project_dir: Path) -> str:
    """``[project].name`` (or ``[tool.poetry].name``) of pyproject.toml, else the directory's."""
    data = _read_toml(project_dir / "pyproject.toml")
    for table in (data.get("project"), data.get("tool", {}).get("poetry")):
        if isinstance(table, Mapping) and isinstance(table.get("name"), str):
            return str(table["name"])
    return project_dir.resolve().name or "project"


def _base_job_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40].strip("-") or "job"


def _dvc_files(project_dir: Path) -> tuple[str, ...]:
    from sagelift.init.code import walk_files

    found = [p.relative_to(project_dir).as_posix() for p in walk_files(project_dir, ".dvc")]
    return tuple(sorted(found))


def _data_folders(project_dir: Path, dvc_files: Sequence[str]) -> tuple[tuple[str, ...], bool]:
    data = project_dir / DATA_DIR
    tracked = {f[: -len(".dvc")] for f in dvc_files}
    folders = {Path(t).name for t in tracked if Path(t).parent.as_posix() == DATA_DIR}
    if data.is_dir():
        folders |= {p.name for p in data.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return tuple(sorted(folders)), data.is_dir() or DATA_DIR in tracked


def _channels_read(files: Mapping[str, ModuleFacts]) -> dict[str, list[str]]:
    read: dict[str, list[str]] = {}
    for rel, facts in files.items():
        for name in facts.channels:
            read.setdefault(name, []).append(rel)
    return dict(sorted(read.items()))


def _image_table() -> Mapping[str, Any]:
    from sagelift.backends.sagemaker.images import framework_table

    return framework_table()


def scan_project(project_dir: Path) -> ProjectScan:
    """Inspect ``project_dir``; raises UsageError when it is not a directory."""
    if not project_dir.is_dir():
        raise UsageError(
            f"{project_dir} is not a directory", hint="run 'sagelift init' in your project"
        )
    pyproject = _read_toml(project_dir / "pyproject.toml")
    files = read_code(project_dir)
    candidates = find_candidates(
        files, pyproject=pyproject, makefile=_read_text(project_dir / "Makefile")
    )
    requirements = "requirements.txt" if (project_dir / "requirements.txt").is_file() else None
    dependency_source = next((lock for lock in _LOCKS if (project_dir / lock).is_file()), None)
    project = pyproject.get("project", {})
    deps = project.get("dependencies", []) if isinstance(project, Mapping) else []
    if dependency_source is None and deps:
        dependency_source = "pyproject.toml"
    lines = [str(d) for d in deps] if isinstance(deps, list) else []
    if requirements is not None:
        lines += (_read_text(project_dir / requirements) or "").splitlines()
    requires_python = project.get("requires-python") if isinstance(project, Mapping) else None
    requirements_found = parse_requirements(lines)
    dvc_files = _dvc_files(project_dir)
    folders, has_data = _data_folders(project_dir, dvc_files)
    channels, reasons, channel_notes = propose_channels(
        _channels_read(files), folders, has_data=has_data
    )
    existing: Path | None = project_dir / PROJECT_FILE
    if existing is not None and not existing.is_file():
        tool = pyproject.get("tool", {})
        has_table = isinstance(tool, Mapping) and "sagelift" in tool
        existing = project_dir / "pyproject.toml" if has_table else None
    return ProjectScan(
        project_dir=project_dir,
        name=project_name(project_dir),
        entry_points=candidates,
        files=files,
        requirements=requirements,
        dependency_source=dependency_source,
        channels=channels,
        channel_reasons=reasons,
        channel_notes=channel_notes,
        dvc=(project_dir / ".dvc").is_dir(),
        dvc_files=dvc_files,
        existing_config=existing,
        contract=sdk_contract(requirements_found),
        image=choose_image(
            requirements_found,
            _image_table(),
            requires_python=str(requires_python) if requires_python else None,
            python_version=_read_text(project_dir / ".python-version"),
        ),
    )


def _entry_file(entry: EntryPointValue, source_dir: str | None, scan: ProjectScan) -> str | None:
    """The project file a chosen entry point runs, when it names one."""
    prefix = f"{source_dir.strip('/')}/" if source_dir else ""
    options: tuple[str, ...]
    if isinstance(entry, str) and entry.startswith("-m "):
        base = prefix + entry[3:].strip().replace(".", "/")
        options = (f"{base}.py", f"{base}/__main__.py")
    elif isinstance(entry, str):
        options = (prefix + entry.split()[0] if entry.split() else "",)
    else:
        options = tuple(prefix + a for a in entry if a.endswith(".py"))
    return next((o for o in options if o in scan.files), None)


def _chosen(scan: ProjectScan, choices: InitChoices) -> tuple[Candidate, list[str]]:
    if choices.entry_point is not None:
        for candidate in scan.entry_points:
            same = candidate.entry_point == choices.entry_point
            if same and (choices.source_dir or None) == candidate.source_dir:
                return candidate, [f"chosen by you; {'; '.join(candidate.reasons)}"]
        source_dir = choices.source_dir
        file = _entry_file(choices.entry_point, source_dir, scan)
        return Candidate(
            entry_point=choices.entry_point, source_dir=source_dir, file=file, score=0, reasons=()
        ), ["chosen by you"]
    if not scan.entry_points:
        raise UsageError(
            f"no entry point found in {scan.project_dir} (looked for train.py, main.py, "
            "*train*.py and __main__.py at the top, in packages, src/ and scripts/, the "
            "Makefile's train target and [project.scripts])",
            hint="pass one: sagelift init --entry-point path/to/train.py",
        )
    best = scan.entry_points[0]
    count = len(scan.entry_points)
    ranked = f"the best of {count} candidates" if count > 1 else "the only candidate"
    why = [f"{ranked}: {'; '.join(best.reasons)}"]
    others = [f"{c.shown} ({'; '.join(c.reasons)})" for c in scan.entry_points[1:4] if c.reasons]
    if others:
        why.append(f"other candidates: {', '.join(others)}")
    return best, why


def _metrics(scan: ProjectScan, candidate: Candidate) -> tuple[PrintedMetric, ...]:
    files = imported_files(candidate.file, scan.files) if candidate.file else tuple(scan.files)
    return disambiguate([m for rel in files for m in scan.files[rel].metrics])


def propose(scan: ProjectScan, choices: InitChoices) -> Proposal:
    """The settings for ``scan`` with ``choices`` applied. Pure.

    Raises UsageError when no entry point was detected and none was chosen.
    """
    candidate, entry_reasons = _chosen(scan, choices)
    source_dir = choices.source_dir or candidate.source_dir
    notes: list[str] = list(scan.channel_notes)
    requirements = choices.requirements or scan.requirements
    if requirements is None and scan.dependency_source:
        notes.append(
            f"dependencies come from {scan.dependency_source}; cloud images install a "
            f"requirements file: {_EXPORT_HINTS[scan.dependency_source]}, then set "
            'requirements = "requirements.txt"'
        )
    channels = dict(scan.channels if choices.channels is None else choices.channels)
    reasons = {
        name: scan.channel_reasons[name] if choices.channels is None else "chosen by you"
        for name in channels
        if choices.channels is not None or name in scan.channel_reasons
    }
    tracked = {f[: -len(".dvc")] for f in scan.dvc_files}
    for name, path in channels.items():
        if path in tracked and not (scan.project_dir / path).exists():
            notes.append(f"channel {name}: {path} is tracked by DVC; run 'dvc pull {path}.dvc'")
    if scan.dvc and not scan.dvc_files:
        notes.append("the project uses DVC but no .dvc files were found")
    hp_reasons: list[str] = []
    if candidate.hyperparameters:
        hp_reasons.append("the arguments of the Makefile's command, passed as --name value")
    if candidate.dropped_args:
        hp_reasons.append(
            "left out (not --name value pairs, or made of make variables): "
            + " ".join(candidate.dropped_args)
        )
    return Proposal(
        entry_point=candidate.entry_point,
        source_dir=source_dir,
        base_job_name=_base_job_name(choices.base_job_name or scan.name),
        instance_type=choices.instance_type or "local",
        requirements=requirements,
        channels=channels,
        channel_reasons=reasons,
        entry_reasons=tuple(entry_reasons),
        hyperparameters=dict(candidate.hyperparameters),
        hyperparameter_reasons=tuple(hp_reasons),
        metrics=_metrics(scan, candidate),
        image=scan.image,
        contract=scan.contract,
        notes=tuple(notes),
    )


def _comment(text: str) -> str:
    clean = "".join(ch if ch.isprintable() else " " for ch in text)
    return f"# {clean}"


def _toml_string(text: str) -> str:
    """A TOML literal string when possible (regexes read best unescaped), else a basic one."""
    if "'" not in text and text.isprintable():
        return f"'{text}'"
    return json.dumps(text)


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def render_project_file(proposal: Proposal) -> str:
    """The ``sagelift.toml`` text for ``proposal``, each value with its reasons. Pure."""
    lines = ["# sagelift settings: 'sagelift config' shows every value and where it comes from."]
    lines += [_comment(f"entry point: {why}") for why in proposal.entry_reasons]
    lines.append(f"entry_point = {json.dumps(proposal.entry_point)}")
    if proposal.source_dir is not None:
        lines.append(f"source_dir = {json.dumps(proposal.source_dir)}")
    lines.append(f"base_job_name = {json.dumps(proposal.base_job_name)}")
    lines.append("# 'local' runs on this machine; an ml.* type (ml.m5.large) runs on SageMaker")
    lines.append(f"instance_type = {json.dumps(proposal.instance_type)}")
    if proposal.requirements is not None:
        lines.append(f"requirements = {json.dumps(proposal.requirements)}")
    if proposal.contract is not None:
        value, why = proposal.contract
        lines.append(
            _comment(
                f"contract: {why}; its ModelTrainer passes hyperparameters as JSON "
                "(--flag true --opts '{\"a\": 1}') and sets its own SM_* variables"
            )
        )
        lines.append(f"contract = {json.dumps(value)}")
    lines += [_comment(note) for note in proposal.notes]
    lines += ["", "[hyperparameters]"]
    lines += [_comment(why) for why in proposal.hyperparameter_reasons]
    if proposal.hyperparameters:
        lines += [f"{_key(k)} = {json.dumps(v)}" for k, v in proposal.hyperparameters.items()]
    else:
        lines.append("# epochs = 3")
    lines += ["", "[metrics]"]
    if proposal.metrics:
        lines.append("# from what the code prints; each regex was checked on the line shown")
    for metric in proposal.metrics:
        lines.append(_comment(f"{metric.origin} prints {metric.sample!r}"))
        lines.append(f"{_key(metric.name)} = {_toml_string(metric.regex)}")
    if not proposal.metrics:
        lines.append("# no printed metric found; e.g. loss = 'loss=([0-9.eE+-]+)'")
    lines += ["", "[image]"]
    lines += [_comment(why) for why in proposal.image.reasons]
    if proposal.image.framework:
        lines.append(f"framework = {json.dumps(proposal.image.framework)}")
        lines.append(f"framework_version = {json.dumps(proposal.image.version)}")
    else:
        lines.append('mode = "deps"')
    lines += ["", "[channels]"]
    for name, path in proposal.channels.items():
        if name in proposal.channel_reasons:
            lines.append(_comment(proposal.channel_reasons[name]))
        lines.append(f"{_key(name)} = {json.dumps(path)}")
    if not proposal.channels:
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
