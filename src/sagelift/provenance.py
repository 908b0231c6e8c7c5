"""Where a job came from: git commit and dirty state, channel sources and their versions."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sagelift.spec import Channel, is_remote_uri

__all__ = ["ChannelVersion", "GitState", "channel_version", "directory_digest", "git_state"]

log = logging.getLogger(__name__)

#: Local channels larger than this are not hashed (their digest reads "skipped").
DIGEST_LIMIT_BYTES = 1 << 30


@dataclass(frozen=True, slots=True, kw_only=True)
class GitState:
    commit: str
    dirty: bool
    diff_sha256: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelVersion:
    """``kind`` is ``dvc`` (version = DVC md5), ``sha256`` (content digest) or ``uri``."""

    name: str
    source: str
    kind: str
    version: str


def _git(project_dir: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(project_dir), *args], capture_output=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(project_dir: Path) -> GitState | None:
    """HEAD, whether tracked files differ from it, and the sha256 of ``git diff HEAD``."""
    head = _git(project_dir, "rev-parse", "HEAD")
    if head is None:
        return None
    status = _git(project_dir, "status", "--porcelain", "--untracked-files=no") or b""
    diff = _git(project_dir, "diff", "HEAD", "--binary") or b""
    dirty = bool(status.strip())
    return GitState(
        commit=head.decode().strip(),
        dirty=dirty,
        diff_sha256=hashlib.sha256(diff).hexdigest() if dirty else None,
    )


def directory_digest(path: Path, *, limit: int = DIGEST_LIMIT_BYTES) -> str | None:
    """sha256 over sorted (relative path, file sha256); None past ``limit`` bytes."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    if sum(p.stat().st_size for p in files) > limit:
        return None
    outer = hashlib.sha256()
    for file in files:
        inner = hashlib.sha256()
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                inner.update(block)
        rel = file.name if file == path else file.relative_to(path).as_posix()
        outer.update(f"{rel}\0{inner.hexdigest()}\n".encode())
    return outer.hexdigest()


def channel_version(channel: Channel, dvc_md5: str | None = None) -> ChannelVersion:
    if dvc_md5 is not None:
        return ChannelVersion(name=channel.name, source=channel.uri, kind="dvc", version=dvc_md5)
    if is_remote_uri(channel.uri):
        return ChannelVersion(name=channel.name, source=channel.uri, kind="uri", version="-")
    digest = directory_digest(Path(channel.uri))
    return ChannelVersion(
        name=channel.name,
        source=channel.uri,
        kind="sha256",
        version=digest if digest is not None else "skipped (over 1 GiB)",
    )
