"""One job per local location: an exclusive ``fcntl.flock`` on ``LOCK_NAME`` for the whole job.

The kernel releases the lock when the last process holding it ends, however it ends; the lock
file holds the owning job's name, for the error another job gets.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from sagelift.errors import SpecError

__all__ = [
    "LOCK_ATTEMPTS",
    "LOCK_NAME",
    "LOCK_RETRY_SECONDS",
    "LocationLock",
    "check_location_free",
    "lock_location",
]

LOCK_NAME = ".sagelift-checkpoints.lock"
LOCK_ATTEMPTS = 20
LOCK_RETRY_SECONDS = 0.05


class LocationLock:
    """An exclusive ``flock`` on a location's lock file, held through ``fd``.

    A process forked after ``lock_location`` shares the lock; ``close`` drops this process's
    hold without releasing the others' (it never calls ``LOCK_UN``).
    """

    def __init__(self, fd: int, location: Path, *, created: bool) -> None:
        self.fd = fd
        self.location = location
        self.created = created

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def discard(self) -> None:
        """For a job that never started: remove what ``lock_location`` created, then close."""
        if self.created and self.fd >= 0:
            with contextlib.suppress(OSError):
                (self.location / LOCK_NAME).unlink()
                self.location.rmdir()  # only when empty
        self.close()


def lock_location(location: Path, *, owner: str) -> LocationLock:
    """Create ``location`` if needed and lock it for the job ``owner``.

    Raises SpecError (exit 2) when another job holds it or it cannot be created.
    """
    created = not location.exists()
    try:
        location.mkdir(parents=True, exist_ok=True)
        fd = os.open(location / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise SpecError(
            f"checkpoint_path: cannot use '{location}': {exc.strerror or exc}",
            hint="point checkpoint_path at a directory you can write",
            field="checkpoint_path",
        ) from exc
    if not _try_lock(fd):
        holder = _holder(fd)
        os.close(fd)
        raise _in_use(location, holder)
    os.ftruncate(fd, 0)
    os.write(fd, f"{owner}\n".encode())
    return LocationLock(fd, location, created=created)


def check_location_free(location: Path) -> None:
    """Raise SpecError when a running job holds ``location``; creates nothing."""
    try:
        fd = os.open(location / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return  # no lock file (or not a plain one): no sagelift job holds the location
    try:
        if not _try_lock(fd):
            raise _in_use(location, _holder(fd))
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    # A few tries: another submit may be probing the lock for an instant.
    for attempt in range(LOCK_ATTEMPTS):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < LOCK_ATTEMPTS:
                time.sleep(LOCK_RETRY_SECONDS)
    return False


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", errors="replace").strip() or "another job"
    except OSError:
        return "another job"


def _in_use(location: Path, holder: str) -> SpecError:
    return SpecError(
        f"checkpoint_path: '{location}' is in use by the running job {holder}",
        hint="wait for that job to end (sagelift status), or give this job its own checkpoint_path",
        field="checkpoint_path",
    )
