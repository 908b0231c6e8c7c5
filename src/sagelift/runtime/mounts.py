"""Showing the layout root at ``/opt/ml`` through a private mount namespace (Linux only).

Scripts often hard-code ``/opt/ml/...``. With ``--bind-opt-ml`` the launcher moves itself into a
new mount namespace, makes every mount there private (so nothing propagates back to the host),
and bind-mounts the layout root on ``/opt/ml``; the job it starts inherits that view. The host's
mount table never changes: the namespace dies with the launcher and its job.

The same namespace gives channels a private, writable view of the user's data at no copying
cost: an overlay whose lower layer is the user's directory (never written) and whose upper
layer, where the script's writes land, is a scratch directory beside the layout. SageMaker gives
each job a private copy of its channels; an overlay is a copy-on-write one. Where an overlay
cannot be mounted, the channel is copied instead.

An overlay alone is not private where the channel holds symbolic links: the lower layer's links
resolve, in the namespace, to the real files they name, and a write through one would reach the
user's file. So before the job starts, every link of the lower layer is replaced in the merged
view as ``sagelift.runtime.channel_view`` decides (a relative link when it stays inside the
channel, a private copy of what it names otherwise). Hard links need nothing: the overlay copies
a file up into the writable layer, as a new inode, before the first write to it.

As root it needs only ``CLONE_NEWNS`` (and creates an empty ``/opt/ml`` directory if there is
none). Otherwise, or when that is refused, it tries an unprivileged user namespace
(``CLONE_NEWUSER | CLONE_NEWNS``) that maps the caller's own uid and gid, which needs an
existing ``/opt/ml`` to mount on.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sagelift.contract.layout import CONTAINER_ROOT
from sagelift.errors import InfrastructureError, UnsupportedFeature
from sagelift.runtime.channel_view import cover_overlay, materialise

__all__ = ["BindMode", "OptMlView", "overlay_scratch", "paths_in_view", "prepare_view"]

log = logging.getLogger(__name__)

BindMode = Literal["auto", "require", "off"]

# <linux/sched.h> and <linux/mount.h>
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000


@dataclass(frozen=True)
class OptMlView:
    """Where the job sees its layout: ``root`` is ``/opt/ml`` when bound, else the real root.

    ``opt_ml`` is ``"bound"``, ``"off"`` or ``"unavailable: <why>"``.
    """

    root: Path
    opt_ml: str


def paths_in_view(args: Sequence[str], view: OptMlView, target: Path = CONTAINER_ROOT) -> list[str]:
    """``args`` with each one that names ``target`` or a path under it (a hyperparameter such
    as TensorFlow's ``model_dir``, ``/opt/ml/model``) naming the same place under the view's
    root: unchanged where the layout is bound on ``target``."""
    if view.root == target:
        return list(args)
    base = str(target)
    return [
        str(view.root) + arg[len(base) :] if arg == base or arg.startswith(base + "/") else arg
        for arg in args
    ]


class _Unavailable(Exception):
    """Why /opt/ml cannot be bound here."""


def overlay_scratch(root: Path) -> Path:
    """Where the writable layers of channel overlays live: beside the layout, not in it."""
    return root.parent / (root.name + ".overlays")


def prepare_view(
    root: Path,
    mode: BindMode,
    *,
    target: Path = CONTAINER_ROOT,
    overlays: Mapping[str, Path] | None = None,
) -> OptMlView:
    """Bind ``root`` on ``target`` for this process and its future children, per ``mode``.

    ``overlays`` (channel name → the user's directory) are shown at ``input/data/<name>`` as
    copy-on-write overlays, or copied there when an overlay is not possible.

    Either way a link in a channel never leads the job out of it (``channel_view``).

    Must run before the process starts any thread (a user namespace needs a single-threaded
    caller). ``off`` does nothing. ``auto`` falls back to the real root with one log line
    saying why. A ``root`` that already is ``target`` (inside a container) counts as bound.

    Raises:
        UnsupportedFeature: ``mode`` is ``require`` and the bind is not possible.
        SpecError: a channel links to a directory that holds it (``channel_view``).
        InfrastructureError: a channel cannot be read, or its view not written.
    """
    entered = False
    if overlays:
        entered = _overlay_channels(root.resolve(), overlays)
    if mode == "off":
        return OptMlView(root=root, opt_ml="off")
    try:
        _bind(root.resolve(), target, entered=entered)
    except _Unavailable as exc:
        why = str(exc)
        if mode == "require":
            raise UnsupportedFeature(
                f"cannot show the job's layout at {target}: {why}",
                hint="run on Linux as root, allow unprivileged user namespaces, "
                "or pass --bind-opt-ml auto/off and read the SM_* paths",
            ) from exc
        log.warning("%s is not bound (%s); the job sees its layout at %s", target, why, root)
        return OptMlView(root=root, opt_ml=f"unavailable: {why}")
    log.info("the job's layout %s is bound on %s", root, target)
    return OptMlView(root=target, opt_ml="bound")


def _private_namespace(libc: ctypes.CDLL) -> None:
    _enter_namespace(libc)
    # Private first: a mount on a shared mount would propagate to the host's namespace.
    _call(libc.mount, b"none", b"/", None, _MS_REC | _MS_PRIVATE, None, what="make / private")


def _overlay_channels(root: Path, overlays: Mapping[str, Path]) -> bool:
    """Mount each overlay, copying where that fails; True when the namespace was entered."""
    entered = False
    failure = None
    if not sys.platform.startswith("linux"):
        failure = f"overlays are Linux-only (this is {sys.platform})"
    else:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _private_namespace(libc)
            entered = True
        except _Unavailable as exc:
            failure = str(exc)
    scratch = overlay_scratch(root)
    for name, source in sorted(overlays.items()):
        dest = root / "input" / "data" / name
        dest.mkdir(parents=True, exist_ok=True)
        if entered:
            try:
                _mount_overlay(libc, source.resolve(), dest, scratch / name)
            except _Unavailable as exc:
                failure = str(exc)
            else:
                covered = _guarded(cover_overlay, source, dest)
                log.info(
                    "channel %s: copy-on-write view of %s%s",
                    name,
                    source,
                    f" ({covered} linked files copied in)" if covered else "",
                )
                continue
        log.info("channel %s: copying %s (%s)", name, source, failure)
        _guarded(materialise, source, dest)
    return entered


def _guarded(show: Callable[[Path, Path], int], source: Path, dest: Path) -> int:
    try:
        return show(source, dest)
    except OSError as exc:
        raise InfrastructureError(
            f"cannot show the channel {source} at {dest}: {exc.strerror or exc} ({exc.filename})",
            hint="check that the launcher can read the channel and write the job's layout",
        ) from exc


def _mount_overlay(libc: ctypes.CDLL, lower: Path, dest: Path, scratch: Path) -> None:
    if not lower.is_dir():
        raise _Unavailable(f"{lower} is not a directory")
    if any(c in str(p) for p in (lower, scratch) for c in ",:\\"):
        raise _Unavailable("the path has a character overlay options cannot carry")
    # A fresh writable layer every time: a restarted job sees the data as it was.
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "upper").mkdir(parents=True)
    (scratch / "work").mkdir()
    options = f"lowerdir={lower},upperdir={scratch / 'upper'},workdir={scratch / 'work'}"
    try:
        _call(
            libc.mount,
            b"overlay",
            os.fsencode(dest),
            b"overlay",
            0,
            options.encode(),
            what=f"overlay {lower} on {dest}",
        )
    except _Unavailable:
        # Overlays inside a user namespace keep their whiteouts in user xattrs (Linux ≥ 5.11).
        _call(
            libc.mount,
            b"overlay",
            os.fsencode(dest),
            b"overlay",
            0,
            (options + ",userxattr").encode(),
            what=f"overlay {lower} on {dest}",
        )


def _bind(root: Path, target: Path, *, entered: bool = False) -> None:
    if not sys.platform.startswith("linux"):
        raise _Unavailable(f"mount namespaces are Linux-only (this is {sys.platform})")
    if target.exists() and _same_dir(root, target):
        return
    if not root.is_dir():
        raise _Unavailable(f"layout root {root} is not a directory")
    libc = ctypes.CDLL(None, use_errno=True)
    _ensure_mountpoint(target)
    if not entered:
        _private_namespace(libc)
    _call(
        libc.mount,
        os.fsencode(root),
        os.fsencode(target),
        None,
        _MS_BIND | _MS_REC,
        None,
        what=f"bind {root} on {target}",
    )
    if not _same_dir(root, target):
        raise _Unavailable(f"{target} does not show {root} after the bind")


def _ensure_mountpoint(target: Path) -> None:
    if target.is_dir():
        return
    if target.exists():
        raise _Unavailable(f"{target} exists and is not a directory")
    if os.geteuid() != 0:
        raise _Unavailable(f"{target} does not exist and only root can create it")
    try:
        target.mkdir(parents=True)
    except OSError as exc:
        raise _Unavailable(f"cannot create {target}: {exc.strerror}") from exc
    log.info("created an empty %s to mount on", target)


def _enter_namespace(libc: ctypes.CDLL) -> None:
    if os.geteuid() == 0:
        try:
            _call(libc.unshare, _CLONE_NEWNS, what="unshare(CLONE_NEWNS)")
            return
        except _Unavailable as exc:
            first = str(exc)
    else:
        first = "not root"
    uid, gid = os.geteuid(), os.getegid()
    try:
        _call(libc.unshare, _CLONE_NEWUSER | _CLONE_NEWNS, what="unshare(CLONE_NEWUSER)")
    except _Unavailable as exc:
        raise _Unavailable(f"{first}; {exc}") from None
    try:
        # Kernels before 3.19 have no setgroups file and need no deny.
        if Path("/proc/self/setgroups").exists():
            Path("/proc/self/setgroups").write_text("deny", encoding="ascii")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1", encoding="ascii")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1", encoding="ascii")
    except OSError as exc:
        raise _Unavailable(f"mapping uid {uid} in the user namespace failed: {exc}") from exc


def _call(function: Callable[..., int], *args: object, what: str) -> None:
    if function(*args) != 0:
        code = ctypes.get_errno()
        message = os.strerror(code)
        if code in (errno.EPERM, errno.EACCES, errno.EINVAL, errno.ENOSYS):
            message += " (the namespace is not permitted here)"
        raise _Unavailable(f"{what} failed: {message}")


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
