"""Syncing a supervised job's checkpoints out to its checkpoint location while it runs.

Every ``sync_seconds`` while an attempt runs, and once at its end, the job's checkpoint
directory is synced to ``LocalRun.checkpoint_path`` (a directory or an ``s3://`` URI), as
SageMaker syncs ``/opt/ml/checkpoints`` (``model-checkpoints.html``). Only checkpoints the
directory has held may be deleted at the location; what the location refused is kept as notes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path

from sagelift.aws import AwsSettings
from sagelift.backends import artifacts
from sagelift.errors import SageliftError
from sagelift.spec import is_remote_uri

__all__ = ["CHECKPOINT_SYNC_SECONDS", "SYNC_SECONDS_ENV", "CheckpointSync", "sync_interval"]

log = logging.getLogger(__name__)

CHECKPOINT_SYNC_SECONDS = 10.0
#: Overrides ``CHECKPOINT_SYNC_SECONDS`` (seconds, > 0): for tests and slow disks.
SYNC_SECONDS_ENV = "SAGELIFT_CHECKPOINT_SYNC_SECONDS"


def sync_interval(environ: Mapping[str, str]) -> float:
    """The sync interval ``SYNC_SECONDS_ENV`` asks for; ``CHECKPOINT_SYNC_SECONDS`` when it is
    unset or not a positive number."""
    try:
        value = float(environ.get(SYNC_SECONDS_ENV, CHECKPOINT_SYNC_SECONDS))
    except ValueError:
        return CHECKPOINT_SYNC_SECONDS
    return value if value > 0 else CHECKPOINT_SYNC_SECONDS


class CheckpointSync:
    """The sync of one job's checkpoint directory to its location (none: nothing to sync).

    A sync that fails with an OS or storage error is logged; the next one tries again.
    """

    def __init__(
        self,
        target: str | None,
        directory: Path,
        aws: AwsSettings,
        *,
        interval: float = CHECKPOINT_SYNC_SECONDS,
    ) -> None:
        self.target = target
        self.directory = directory
        self.aws = aws
        self.interval = interval
        #: Every checkpoint path the job's directory has held (restored ones included): only
        #: these can have been deleted by the job, so only these may go at the location.
        self.held: set[str] = set()
        #: What the location refused, once each, for the job's notes.
        self.notes: list[str] = []

    def hold_present(self) -> None:
        """Count what the directory holds now (before an attempt starts) as held."""
        self.held |= artifacts.checkpoint_entries(self.directory)

    def sync_until(self, done: threading.Event) -> None:
        """Sync every ``interval`` seconds until ``done`` is set."""
        while not done.wait(self.interval):
            self.sync()

    def sync(self) -> None:
        target = self.target
        if target:
            try:
                if is_remote_uri(target):
                    outcome = artifacts.sync_checkpoints_remote(
                        self.directory,
                        target,
                        self.aws,
                        held=self.held,
                    )
                else:
                    outcome = artifacts.sync_checkpoints_out(
                        self.directory, Path(target), held=self.held
                    )
            except (OSError, SageliftError) as exc:
                log.warning("checkpoint sync to %s failed: %s", target, exc)
                return
            self.held |= outcome.present
            for note in outcome.refused:
                if note not in self.notes:
                    log.warning("%s", note)
                    self.notes.append(note)
