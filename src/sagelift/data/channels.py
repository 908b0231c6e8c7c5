"""DVC versions of a spec's channels, checked before a job starts."""

from __future__ import annotations

from pathlib import Path

from sagelift.data import dvc
from sagelift.spec import JobSpec, is_remote_uri

__all__ = ["dvc_channels", "dvc_versions"]


def dvc_channels(spec: JobSpec) -> dict[str, Path]:
    """The spec's local channels that DVC tracks: name -> path. Does not import dvc."""
    found = {}
    for channel in spec.channels:
        if is_remote_uri(channel.uri):
            continue
        path = Path(channel.uri)
        if dvc.is_tracked(path):
            found[channel.name] = path
    return found


def dvc_versions(spec: JobSpec, *, allow_dirty: bool = False) -> dict[str, str]:
    """Channel name -> recorded DVC version (md5, ``.dir`` for directories) of each tracked
    channel. Raises DirtyData (exit 2) when one differs from its record, unless ``allow_dirty``.
    """
    return {
        name: dvc.check_clean(path, allow_dirty=allow_dirty).md5
        for name, path in dvc_channels(spec).items()
    }
