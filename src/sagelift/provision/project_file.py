"""Writing setup's results into the project's settings file, textually.

The file is edited line by line so comments, ordering and every other table survive; the result
is parsed again and checked before it is written.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from sagelift.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["set_table_values", "write_settings"]

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def _key_line(key: str) -> re.Pattern[str]:
    return re.compile(rf"^(\s*){re.escape(key)}\s*=")


def set_table_values(text: str, table: str, values: Mapping[str, str]) -> str:
    """``text`` with ``[table]`` holding ``values`` (string keys → string values).

    Existing keys are replaced in place, missing ones appended to the table, a missing table
    appended to the file. Raises ConfigError when the table is written in a form this cannot
    edit safely (an inline table, or dotted keys outside it).
    """
    lines = text.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if (m := _HEADER.match(line)) and m[1] == table), None
    )
    leaf = table.rsplit(".", 1)[-1]
    parent = table.rsplit(".", 1)[0] if "." in table else None
    if start is None and _defined_elsewhere(lines, leaf, parent):
        raise ConfigError(
            f"cannot update '{table}': it is written as an inline table or dotted keys",
            hint=f"rewrite it as a [{table}] table, then run the command again",
        )
    remaining = dict(values)
    if start is None:
        body = [f"{k} = {json.dumps(v)}" for k, v in remaining.items()]
        while lines and not lines[-1].strip():
            lines.pop()
        new = [*lines, *([""] if lines else []), f"[{table}]", *body]
        return "\n".join(new) + "\n"
    end = next((i for i in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[i])), len(lines))
    last_value = start
    for i in range(start + 1, end):
        for key in list(remaining):
            match = _key_line(key).match(lines[i])
            if match:
                lines[i] = f"{match[1]}{key} = {json.dumps(remaining.pop(key))}"
        if lines[i].strip() and not lines[i].lstrip().startswith("#"):
            last_value = i
    added = [f"{k} = {json.dumps(v)}" for k, v in remaining.items()]
    lines[last_value + 1 : last_value + 1] = added
    return "\n".join(lines) + "\n"


def _defined_elsewhere(lines: list[str], leaf: str, parent: str | None) -> bool:
    """Whether ``leaf`` is assigned as a key (``aws = {...}`` / ``aws.region = ...``) in the
    parent table (the root when ``parent`` is None)."""
    current: str | None = None
    pattern = re.compile(rf"^\s*{re.escape(leaf)}\s*(=|\.)")
    for line in lines:
        header = _HEADER.match(line)
        if header:
            current = header[1]
            continue
        if current == parent and pattern.match(line):
            return True
    return False


def _lookup(data: Mapping[str, object], dotted: str) -> object:
    node: object = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def write_settings(
    project_dir: Path, values: Mapping[str, str], *, section: str = "aws"
) -> tuple[Path, bool]:
    """Store ``values`` in ``[section]`` of the project's settings file.

    Returns the file and whether it changed (it is not rewritten when it already holds them).

    Uses ``sagelift.toml`` when present, else ``[tool.sagelift.<section>]`` of a pyproject that
    has ``[tool.sagelift]``, else creates ``sagelift.toml``. Raises ConfigError when the edit
    would not parse back to the same values (nothing is written then).
    """
    toml_file = project_dir / "sagelift.toml"
    pyproject = project_dir / "pyproject.toml"
    path, table = toml_file, section
    if not toml_file.exists() and pyproject.is_file():
        text = pyproject.read_text(encoding="utf-8")
        if re.search(r"^\s*\[\s*tool\.sagelift(\.|\s*\])", text, re.MULTILINE):
            path, table = pyproject, f"tool.sagelift.{section}"
    original = path.read_text(encoding="utf-8") if path.exists() else ""
    if original:
        current = _lookup(tomllib.loads(original), table)
        if isinstance(current, Mapping) and all(current.get(k) == v for k, v in values.items()):
            return path, False
    updated = set_table_values(original, table, values)
    try:
        parsed = tomllib.loads(updated)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: cannot add [{table}] safely: {exc}",
            hint=f"fix the file's syntax, or add these to [{table}] by hand: "
            + ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items()),
        ) from exc
    written = _lookup(parsed, table)
    if not isinstance(written, Mapping) or any(written.get(k) != v for k, v in values.items()):
        raise ConfigError(
            f"{path}: editing [{table}] did not give the expected values",
            hint=f"add them to [{table}] by hand: "
            + ", ".join(f"{k} = {json.dumps(v)}" for k, v in values.items()),
        )
    _atomic_write(path, updated)
    return path, True


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
