"""Files and directories only their owner can read: job records, their logs, config files.

A job's record holds its hyperparameters, its output and its logs, any of which may be
confidential. sagelift creates them with mode 0600 (files) and 0700 (directories) whatever the
umask: the mode is passed at creation and then set exactly (a umask only removes bits, so the
second step only matters where a file already existed). Stdlib only, no sagelift imports: the
launcher and the contract writers use it inside the job too.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["DIR_MODE", "FILE_MODE", "open_private", "private_dir", "write_private_text"]

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path, *, exist_ok: bool = True) -> Path:
    """Create the directory ``path`` (missing parents with default modes) and make it 0700.

    An existing directory is tightened to 0700 too. Raises FileExistsError when it exists and
    not ``exist_ok``, OSError when it cannot be created.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=DIR_MODE)
    except FileExistsError:
        if not exist_ok or not path.is_dir():
            raise
    os.chmod(path, DIR_MODE)
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """``os.open(path, flags)`` creating the file 0600 (and making an existing one 0600).

    Returns the descriptor; the caller closes it. Raises OSError.
    """
    fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically with a 0600 file holding ``text`` (UTF-8). Raises OSError."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
