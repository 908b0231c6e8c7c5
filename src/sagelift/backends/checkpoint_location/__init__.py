"""A job's checkpoint location: restore into ``/opt/ml/checkpoints``, sync out, and who owns what.

The rule: at a checkpoint location sagelift deletes or overwrites only what it wrote there
itself. Each location keeps a manifest (``.sagelift-checkpoints.json`` at its root, replaced
atomically) of the files and links sagelift wrote, with the size and mtime (local) or ETag
(``s3://``) they had when it wrote them. An entry is sagelift's only while the thing at the
location still matches it; anything else there (a file added by hand or by another program, a
file changed since, a symlink, an empty directory) is foreign and is left alone.

A checkpoint is removed from the location when, and only when, the manifest says sagelift wrote
it, it is unchanged since, and the job deleted it from its checkpoint directory: it is in
``held`` (the paths the job's directory has held since the job started, restored ones
included) and no longer there. That is SageMaker's "deleting a local checkpoint deletes it in
S3" (docs ``model-checkpoints.html``) narrowed to sagelift's own files.

Local locations are also locked (``fcntl.flock`` on ``.sagelift-checkpoints.lock``) for the
whole job, so two jobs never share one; the kernel releases the lock when the last process
holding it ends, however it ends. Symlinks: a local restore copies a link that stays inside
the location as a link and skips one that leaves it; the sync does the same in the other
direction, and never writes through a symlinked directory.

The parts: ``manifest`` (what sagelift wrote, and whether it still owns it), ``paths`` (walking
a tree and the path checks), ``lock`` (one job per local location), ``local`` and ``remote``
(restore and sync for a directory and for an ``s3://`` prefix).
"""

from __future__ import annotations

from sagelift.backends.checkpoint_location.local import (
    SyncOutcome,
    restore_checkpoints,
    sync_checkpoints_out,
)
from sagelift.backends.checkpoint_location.lock import (
    LOCK_NAME,
    LocationLock,
    check_location_free,
    lock_location,
)
from sagelift.backends.checkpoint_location.manifest import MANIFEST_NAME
from sagelift.backends.checkpoint_location.paths import checkpoint_entries
from sagelift.backends.checkpoint_location.remote import (
    restore_checkpoints_remote,
    sync_checkpoints_remote,
)

__all__ = [
    "LOCK_NAME",
    "MANIFEST_NAME",
    "LocationLock",
    "SyncOutcome",
    "check_location_free",
    "checkpoint_entries",
    "lock_location",
    "restore_checkpoints",
    "restore_checkpoints_remote",
    "sync_checkpoints_out",
    "sync_checkpoints_remote",
]
