"""Restore and sync for a remote (``s3://``) checkpoint location, through :mod:`sagelift.storage`.

The manifest here is the object ``MANIFEST_NAME`` under the prefix: each object sagelift
uploaded, with the ETag (else digest, else size) it had then.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Set
from pathlib import Path
from typing import TYPE_CHECKING

from sagelift.aws import AwsSettings
from sagelift.backends.checkpoint_location.local import SyncOutcome
from sagelift.backends.checkpoint_location.manifest import MANIFEST_FORMAT, MANIFEST_NAME
from sagelift.backends.checkpoint_location.paths import RESERVED
from sagelift.errors import StorageError

if TYPE_CHECKING:
    from sagelift.storage.base import ObjectInfo, Storage, StorageURI

__all__ = ["restore_checkpoints_remote", "sync_checkpoints_remote"]

log = logging.getLogger(__name__)


def restore_checkpoints_remote(location: str, checkpoint_dir: Path, aws: AwsSettings) -> int:
    """Download every object under ``location`` into ``checkpoint_dir`` but sagelift's
    manifest; returns the number of files fetched. Raises StorageError or CredentialsError."""
    from sagelift.storage import open_storage

    report = open_storage(location, aws=aws).sync_down(location, checkpoint_dir)
    (checkpoint_dir / MANIFEST_NAME).unlink(missing_ok=True)
    return report.files_sent


def sync_checkpoints_remote(
    checkpoint_dir: Path, location: str, aws: AwsSettings, *, held: Set[str]
) -> SyncOutcome:
    """Save ``checkpoint_dir`` to the ``s3://`` prefix ``location``.

    As SageMaker does, new and changed files are uploaded over whatever has their name. An
    object is deleted only when sagelift uploaded it (manifest object ``MANIFEST_NAME`` under
    the prefix, same ETag), the job held it and deleted it; foreign objects are never deleted.
    Raises StorageError or CredentialsError.
    """
    from sagelift.storage import open_storage
    from sagelift.storage.base import as_uri
    from sagelift.storage.sync import scan_dir

    if not checkpoint_dir.is_dir():
        return SyncOutcome()
    storage = open_storage(location, aws=aws)
    prefix = as_uri(location)
    manifest_uri = prefix.child(MANIFEST_NAME)
    local = {f.rel for f in scan_dir(checkpoint_dir)} - RESERVED
    before = {i.relative: _fingerprint(i) for i in storage.list(prefix)}
    owned = _read_remote_manifest(storage, manifest_uri) if MANIFEST_NAME in before else {}
    recorded = dict(owned)
    report = storage.sync_up(checkpoint_dir, prefix)
    after = {i.relative: i for i in storage.list(prefix)}
    for rel in local:
        info = after.get(rel)
        if info is not None and (rel not in before or before[rel] != _fingerprint(info)):
            owned[rel] = _fingerprint(info)
    deleted = 0
    for rel, fingerprint in sorted(owned.items()):
        info = after.get(rel)
        if info is None or _fingerprint(info) != fingerprint:
            del owned[rel]  # gone, or rewritten by someone else since
        elif rel not in local and rel in held:
            storage.delete(info.uri)
            del owned[rel]
            deleted += 1
    if owned != recorded or MANIFEST_NAME in local:
        body = {"format": MANIFEST_FORMAT, "written_by": "sagelift", "objects": owned}
        storage.put_bytes(manifest_uri, json.dumps(body, indent=1, sort_keys=True).encode())
    return SyncOutcome(copied=report.files_sent, deleted=deleted, present=frozenset(local))


def _fingerprint(info: ObjectInfo) -> str:
    """What identifies the content of an object as listed: its ETag, else its digest."""
    return info.etag or info.digest or f"size={info.size}"


def _read_remote_manifest(storage: Storage, uri: StorageURI) -> dict[str, str]:
    try:
        data = json.loads(storage.get_bytes(uri))
        return {str(k): str(v) for k, v in data.get("objects", {}).items()}
    except (StorageError, ValueError, AttributeError):
        log.warning("ignoring the unreadable checkpoint manifest %s", uri)
        return {}
