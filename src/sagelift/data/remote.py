"""DVC-tracked channels fed to a cloud job from the project's DVC remote, not from this machine.

A channel whose recorded DVC version is complete in an ``s3://`` DVC remote is materialised
inside S3 (``dvc.materialise``: CopyObject, 0 data bytes through the client) under
``<root_uri>/dvc/<md5>/`` and the channel is pointed there; every other channel is left to
``sagelift.uploads`` to upload. Any reason not to feed a channel from the remote (a modified
workspace, no remote, files not pushed, no access) is logged and the channel is uploaded
instead: this step may make a submission cheaper, never fail it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sagelift.data import dvc
from sagelift.errors import SageliftError
from sagelift.spec import Channel, JobSpec, is_remote_uri

__all__ = ["DVC_PREFIX", "FedChannel", "RemoteFeed", "feed_for_job", "feed_from_remote"]

log = logging.getLogger(__name__)

DVC_PREFIX = "dvc"
DIRTY_SUFFIX = "+dirty"


@dataclass(frozen=True, slots=True, kw_only=True)
class FedChannel:
    """A channel read from the DVC remote: ``uri`` is the materialised ``s3://`` prefix."""

    name: str
    source: str
    version: str
    uri: str
    files: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteFeed:
    """``spec`` with the fed channels pointing at their prefixes; ``uploads`` names the DVC
    channels that must be uploaded after all, with the reason."""

    spec: JobSpec
    fed: tuple[FedChannel, ...]
    uploads: Mapping[str, str]

    def record(self) -> dict[str, dict[str, Any]]:
        """JSON for the job record: how each DVC channel reached the job."""
        found: dict[str, dict[str, Any]] = {
            c.name: {"from": "dvc-remote", "uri": c.uri, "version": c.version, "files": c.files}
            for c in self.fed
        }
        for name, reason in self.uploads.items():
            found[name] = {"from": "upload", "reason": reason}
        return found


def feed_from_remote(
    spec: JobSpec, data_versions: Mapping[str, str], *, s3: Any, root_uri: str
) -> RemoteFeed:
    """Feed each DVC channel of ``data_versions`` from the DVC remote where it can be.

    ``data_versions`` maps channel names to the version recorded when the job was checked
    (``sagelift.data.channels.dvc_versions``); a version ending in ``+dirty`` means the
    workspace differs and is always uploaded. ``s3`` is a boto3 S3 client that can read the
    DVC remote and write under ``root_uri``. Never raises for a channel it cannot feed.
    """
    fed: list[FedChannel] = []
    uploads: dict[str, str] = {}
    channels: list[Channel] = []
    for channel in spec.channels:
        version = data_versions.get(channel.name)
        if version is None or is_remote_uri(channel.uri):
            channels.append(channel)
            continue
        try:
            found = _feed(channel, version, s3=s3, root_uri=root_uri)
        except SageliftError as exc:
            found = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        if isinstance(found, str):
            log.info("channel %s: uploading it: %s", channel.name, found)
            uploads[channel.name] = found
            channels.append(channel)
            continue
        log.info(
            "channel %s: DVC version %s read from the remote at %s (0 bytes sent)",
            channel.name,
            version,
            found.uri,
        )
        fed.append(found)
        channels.append(replace(channel, uri=found.uri))
    return RemoteFeed(spec=replace(spec, channels=tuple(channels)), fed=tuple(fed), uploads=uploads)


def _feed(channel: Channel, version: str, *, s3: Any, root_uri: str) -> FedChannel | str:
    """The fed channel, or why it must be uploaded."""
    if version.endswith(DIRTY_SUFFIX):
        return "the workspace differs from its DVC version"
    listing = dvc.remote_listing(Path(channel.uri))
    if not listing.remote.startswith("s3://"):
        return f"the DVC remote {listing.remote} is not on S3"
    if listing.md5 != version:
        return f"DVC resolves it to {listing.md5}, not the checked version {version}"
    missing = dvc.missing_in_remote(listing, s3)
    if missing:
        return (
            f"{len(missing)} of {len(listing.files)} files are not in the DVC remote "
            f"{listing.remote} (run 'dvc push' to skip this upload next time)"
        )
    prefix = dvc.materialise(listing, f"{root_uri.rstrip('/')}/{DVC_PREFIX}", s3)
    return FedChannel(
        name=channel.name,
        source=channel.uri,
        version=version,
        uri=prefix,
        files=len(listing.files),
    )


def feed_for_job(spec: JobSpec, record_dir: Path, *, s3: Any, root_uri: str) -> RemoteFeed:
    """``feed_from_remote`` with the DVC versions checked at submission (``job.json``'s
    ``data_versions``); a job without DVC channels is returned unchanged, dvc not imported."""
    from sagelift import records

    versions = records.read_record(record_dir).data_versions
    if not versions:
        return RemoteFeed(spec=spec, fed=(), uploads={})
    return feed_from_remote(spec, versions, s3=s3, root_uri=root_uri)
