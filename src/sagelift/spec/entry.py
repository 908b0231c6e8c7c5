"""The entry point: what a job runs (a script under the source dir, a module or a command) and how
``entry_point`` is parsed into it."""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sagelift.errors import SpecError
from sagelift.spec.values import _str_list

__all__ = ["EntryKind", "EntryPoint"]

EntryKind = Literal["script", "module", "command"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryPoint:
    """What the job runs: a script under the source dir, a module, or a command (argv)."""

    kind: EntryKind
    argv: tuple[str, ...]

    @property
    def program(self) -> str | None:
        """The script path relative to the source dir (what ``sagemaker_program`` holds)."""
        return self.argv[0] if self.kind == "script" else None

    def launcher_arguments(self) -> list[str]:
        """How the launcher (``python -m sagelift.runtime``) is told to run this entry point;
        ``--command`` takes the rest of its command line, so these come last."""
        if self.kind == "script":
            return ["--program", self.argv[0]]
        if self.kind == "module":
            return ["--module", self.argv[0]]
        return ["--command", *self.argv]

    def describe(self) -> str:
        if self.kind == "module":
            return f"-m {self.argv[0]}"
        return shlex.join(self.argv)


def _entry_point(value: Any, source: str | None) -> EntryPoint:
    if value is None or value == "" or value == []:
        raise SpecError(
            "no entry point given",
            hint="pass one (sagelift run train.py) or set entry_point in sagelift.toml",
            field="entry_point",
        )
    if isinstance(value, list):
        argv = _str_list(value, "entry_point")
        if not argv:
            raise SpecError("entry_point: empty command", hint=None, field="entry_point")
        return EntryPoint(kind="command", argv=tuple(argv))
    if not isinstance(value, str):
        raise SpecError(
            f"entry_point: expected a string or a list, got {type(value).__name__}",
            hint='e.g. entry_point = "train.py", "-m pkg.train" or ["bash", "run.sh"]',
            field="entry_point",
        )
    text = value.strip()
    if text.startswith("-m "):
        module = text[3:].strip()
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", module):
            raise SpecError(
                f"entry_point: '{module}' is not a module name",
                hint="use dotted Python names, e.g. -m mypkg.train",
                field="entry_point",
            )
        return EntryPoint(kind="module", argv=(module,))
    try:
        parts = shlex.split(text)
    except ValueError as exc:
        raise SpecError(
            f"entry_point: cannot split {text!r} into words: {str(exc).lower()}",
            hint="close the quote, or give the command as a list: "
            'entry_point = ["python", "train.py"]',
            field="entry_point",
        ) from exc
    if not parts:
        raise SpecError(
            "entry_point: empty command", hint="give a script or a command", field="entry_point"
        )
    if len(parts) == 1 and not parts[0].startswith("-"):
        return EntryPoint(kind="script", argv=(parts[0],))
    return EntryPoint(kind="command", argv=tuple(parts))


def _relative_script(entry: EntryPoint, source_dir: Path) -> EntryPoint:
    """A script path normalised relative to the source dir, refused when it leaves it."""
    if entry.kind != "script":
        return entry
    program = entry.argv[0]
    full = Path(os.path.normpath(source_dir / program))
    if not full.is_relative_to(source_dir):
        raise SpecError(
            f"entry_point: '{program}' is outside the source dir '{source_dir}'",
            hint="move the script into the source dir or set source_dir to a parent of it",
            field="entry_point",
        )
    return EntryPoint(kind="script", argv=(full.relative_to(source_dir).as_posix(),))
