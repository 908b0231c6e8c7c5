"""What the launcher runs: the entry point and the argv it becomes.

``resolve_entry`` and ``build_argv`` are pure; ``check_entry`` looks at the file system and is
called before anything is started, so a missing program is a usage error, not a failed job.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sagelift.errors import SpecError

__all__ = ["EntryKind", "EntryPoint", "build_argv", "check_entry", "resolve_entry"]

EntryKind = Literal["program", "module", "command"]

PROGRAM_HYPERPARAMETER = "sagemaker_program"
PROGRAM_ENV = "SAGEMAKER_PROGRAM"


@dataclass(frozen=True)
class EntryPoint:
    """One way to start the training code.

    ``target`` is ``(path,)`` for a program (relative to the code dir, or absolute),
    ``(name,)`` for a module, and the full argv for a command.
    """

    kind: EntryKind
    target: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.target or not all(self.target):
            raise SpecError(
                f"empty {self.kind} entry point",
                hint="name a program file, a module or a command",
                field="entry_point",
            )
        if self.kind != "command" and len(self.target) != 1:
            raise SpecError(
                f"a {self.kind} entry point takes exactly one name, got {list(self.target)}",
                hint="use --command for an argv",
                field="entry_point",
            )


def resolve_entry(
    *,
    program: str | None = None,
    module: str | None = None,
    command: Sequence[str] | None = None,
    configured_program: str | None,
    environ: Mapping[str, str],
) -> EntryPoint:
    """The entry point from the explicit choice, else from the SageMaker script-mode settings.

    ``configured_program`` is the decoded ``sagemaker_program`` hyperparameter. Without an
    explicit choice, ``$SAGEMAKER_PROGRAM`` wins over it, as in the sagemaker-training toolkit
    (``environment.py``, the bring-your-own-image ``ENV SAGEMAKER_PROGRAM train.py`` pattern).

    Raises:
        SpecError: more than one choice, or none at all.
    """
    chosen: list[EntryPoint] = []
    if program is not None:
        chosen.append(EntryPoint(kind="program", target=(program,)))
    if module is not None:
        chosen.append(EntryPoint(kind="module", target=(module,)))
    if command is not None:
        chosen.append(EntryPoint(kind="command", target=tuple(command)))
    if len(chosen) > 1:
        raise SpecError(
            "choose one of --program, --module and --command",
            hint="pass exactly one entry point",
            field="entry_point",
        )
    if chosen:
        return chosen[0]
    name = environ.get(PROGRAM_ENV) or configured_program
    if not name:
        raise SpecError(
            "no entry point: none of --program, --module, --command, "
            f"${PROGRAM_ENV} or the {PROGRAM_HYPERPARAMETER} hyperparameter is set",
            hint="pass --program train.py (relative to the code directory)",
            field="entry_point",
        )
    return EntryPoint(kind="program", target=(name,))


def build_argv(entry: EntryPoint, *, python: str, user_args: Sequence[str]) -> list[str]:
    """The argv that runs ``entry`` with the hyperparameters as CLI arguments.

    ``.py`` runs under ``python``, ``.sh`` under ``/bin/sh``, any other program is executed
    directly (``./name`` when it has no directory part, so PATH is not searched). The child's
    working directory is the code dir, so relative program paths are kept relative and
    tracebacks show them as the user wrote them.
    """
    args = list(user_args)
    if entry.kind == "module":
        return [python, "-m", entry.target[0], *args]
    if entry.kind == "command":
        return [*entry.target, *args]
    program = entry.target[0]
    if program.endswith(".py"):
        return [python, program, *args]
    if program.endswith(".sh"):
        return ["/bin/sh", program, *args]
    return [program if "/" in program else f"./{program}", *args]


def check_entry(entry: EntryPoint, *, python: str, code_dir: Path, path: str | None) -> None:
    """Fail early when the entry point cannot possibly start.

    ``path`` is the child's ``PATH`` (a command's first word is looked up on it).

    Raises:
        SpecError: the program file, the interpreter or the command is missing or not runnable.
    """
    if not code_dir.is_dir():
        raise SpecError(
            f"code directory {code_dir} does not exist",
            hint="stage the training code under <root>/code or pass --root",
            field="entry_point",
        )
    if entry.kind == "command":
        _check_executable(entry.target[0], code_dir=code_dir, path=path, what="command")
        return
    _check_executable(python, code_dir=code_dir, path=path, what="python interpreter")
    if entry.kind == "module":
        return
    program = code_dir / entry.target[0]
    if not program.is_file():
        raise SpecError(
            f"program {entry.target[0]} not found in {code_dir}",
            hint="the program path is relative to the code directory",
            field="entry_point",
        )
    if not entry.target[0].endswith((".py", ".sh")) and not os.access(program, os.X_OK):
        raise SpecError(
            f"program {entry.target[0]} is neither .py nor .sh and is not executable",
            hint=f"chmod +x {entry.target[0]}, or name it .py or .sh",
            field="entry_point",
        )


def _check_executable(name: str, *, code_dir: Path, path: str | None, what: str) -> None:
    if "/" in name:
        candidate = code_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return
    elif shutil.which(name, path=path) is not None:
        return
    raise SpecError(
        f"{what} {name!r} not found or not executable",
        hint="give a path (relative to the code directory) or a name on PATH",
        field="entry_point",
    )
