"""DVC-tracked channels: their recorded version, a workspace check, and the files in the remote.

DVC stores files content-addressed (``<remote>/files/md5/<2 hex>/<30 hex>``); a tracked
directory is a ``.dir`` manifest listing ``relpath -> md5``. A SageMaker S3 channel needs the files
under their real relative paths, so ``materialise`` copies them, server-side (CopyObject inside
S3, 0 bytes through the client), to a stable per-version prefix ``<dest>/<dir md5>/…``; a version
already materialised is reused as is (a ``<dir md5>.sagelift-dvc.json`` marker beside the prefix,
written last, so that the job never sees it in its channel).

``dvc`` is imported on first use; a missing package raises MissingDependency naming the
``sagelift[dvc]`` extra.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagelift.errors import MissingDependency, StorageError, UsageError

__all__ = [
    "DirtyData",
    "DvcVersion",
    "RemoteFile",
    "RemoteListing",
    "add",
    "check_clean",
    "dvc_root",
    "is_tracked",
    "materialise",
    "missing_in_remote",
    "remote_listing",
    "version_of",
]

log = logging.getLogger(__name__)

MARKER_SUFFIX = ".sagelift-dvc.json"


class DirtyData(UsageError):
    """A DVC-tracked channel differs from what DVC recorded."""

    headline = "data changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class DvcVersion:
    """What DVC recorded for a tracked path: ``md5`` ends in ``.dir`` for a directory."""

    path: str
    md5: str
    rev: str | None = None

    @property
    def tag(self) -> str:
        return self.md5 if self.rev is None else f"{self.md5}@{self.rev[:12]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteFile:
    relpath: str
    md5: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoteListing:
    """A tracked path's files in the DVC remote, under their relative paths."""

    path: str
    md5: str
    remote: str
    files: tuple[RemoteFile, ...]


def _import_dvc() -> Any:
    try:
        import dvc.api
        import dvc.repo
    except ImportError as exc:
        raise MissingDependency(
            "DVC-tracked channels need the dvc package",
            hint="pip install 'sagelift[dvc]' (or pass the data as a plain directory)",
        ) from exc
    return dvc


def dvc_root(path: Path) -> Path | None:
    """The DVC repository holding ``path`` (a directory with ``.dvc/``), without importing dvc."""
    for parent in (path, *path.parents):
        if (parent / ".dvc").is_dir():
            return parent
    return None


def is_tracked(path: Path) -> bool:
    """``path`` has a ``<path>.dvc`` file beside it, or is named in a ``dvc.lock`` as an output."""
    root = dvc_root(path)
    if root is None:
        return False
    if path.with_name(path.name + ".dvc").is_file():
        return True
    lock = root / "dvc.lock"
    if lock.is_file():
        rel = path.relative_to(root).as_posix()
        return f"path: {rel}\n" in lock.read_text(encoding="utf-8")
    return False


@contextmanager
def _repo(root: Path) -> Iterator[Any]:
    dvc = _import_dvc()
    with warnings.catch_warnings():
        # Deprecation warnings from dvc's dependencies are not the user's concern.
        warnings.simplefilter("ignore")
        try:
            repo = dvc.repo.Repo(str(root))
        except Exception as exc:
            raise UsageError(
                f"{root} is not a usable DVC repository: {exc}", hint="run 'dvc doctor' there"
            ) from exc
        try:
            yield repo
        finally:
            repo.close()


def version_of(path: Path) -> DvcVersion:
    """What DVC recorded for ``path`` (its md5, and the git revision when in git)."""
    root = _require_root(path)
    rel = path.relative_to(root).as_posix()
    dvc = _import_dvc()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = dvc.api.DVCFileSystem(str(root)).info(rel)
    except FileNotFoundError as exc:
        raise UsageError(f"{rel} is not tracked by DVC", hint=f"track it: dvc add {rel}") from exc
    md5 = info.get("md5") or (info.get("dvc_info") or {}).get("md5")
    if not md5:
        raise UsageError(f"DVC has no recorded version of {rel}", hint=f"track it: dvc add {rel}")
    return DvcVersion(path=rel, md5=str(md5), rev=_git_rev(root))


def check_clean(path: Path, *, allow_dirty: bool = False) -> DvcVersion:
    """The recorded version of ``path``; DirtyData (exit 2) when the workspace differs from it.

    With ``allow_dirty`` the difference is logged as a warning and the recorded version is
    still returned (the data used is then the workspace's, not that version).
    """
    root = _require_root(path)
    rel = path.relative_to(root).as_posix()
    with _repo(root) as repo:
        try:
            dvc_file = root / f"{rel}.dvc"
            target = str(dvc_file) if dvc_file.is_file() else str(root / rel)
            changes = repo.status(targets=[target])
        except Exception as exc:
            raise UsageError(
                f"dvc status {rel} failed: {exc}", hint=f"run 'dvc status {rel}' to see why"
            ) from exc
    version = version_of(path)
    if changes:
        detail = json.dumps(changes, sort_keys=True, default=str)[:300]
        if allow_dirty:
            log.warning(
                "%s differs from its DVC version %s (allowed): %s", rel, version.md5, detail
            )
            return DvcVersion(path=rel, md5=version.md5 + "+dirty", rev=version.rev)
        raise DirtyData(
            f"channel data {rel} differs from what DVC recorded ({version.md5}): {detail}",
            hint=(
                f"restore it with 'dvc checkout {rel}', record the new data with 'dvc add {rel}', "
                "or pass --allow-dirty-data to run on the workspace copy anyway"
            ),
        )
    return version


def remote_listing(
    path: Path, *, rev: str | None = None, remote: str | None = None
) -> RemoteListing:
    """Each file of the tracked ``path`` with its URL in the DVC remote (content-addressed)."""
    root = _require_root(path)
    rel = path.relative_to(root).as_posix()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _listing(root, rel, rev, remote)


def _listing(root: Path, rel: str, rev: str | None, remote: str | None) -> RemoteListing:
    dvc = _import_dvc()
    try:
        fs = dvc.api.DVCFileSystem(str(root), rev=rev)
        top = fs.info(rel)
        url = dvc.api.get_url(rel, repo=str(root), rev=rev, remote=remote)
    except Exception as exc:
        raise UsageError(
            f"cannot resolve {rel} in the DVC remote: {exc}",
            hint="configure a default remote (dvc remote add -d NAME s3://bucket/path)",
        ) from exc
    md5 = _md5(top)
    marker = "/files/md5/"
    if marker not in url:
        raise UsageError(
            f"DVC remote URL {url} is not in the content-addressed layout",
            hint="use a DVC 3 remote (files/md5/…); run 'dvc push' with DVC >= 3",
        )
    base = url.split(marker, 1)[0]
    files = []
    if top.get("type") == "directory":
        prefix = rel.rstrip("/") + "/"
        for entry in sorted(fs.find(rel, detail=False)):
            file_md5 = _md5(fs.info(entry))
            files.append(
                RemoteFile(
                    relpath=entry[len(prefix) :] if entry.startswith(prefix) else entry,
                    md5=file_md5,
                    url=f"{base}{marker}{file_md5[:2]}/{file_md5[2:]}",
                )
            )
    else:
        files.append(RemoteFile(relpath=Path(rel).name, md5=md5, url=url))
    return RemoteListing(path=rel, md5=md5, remote=base, files=tuple(files))


def missing_in_remote(listing: RemoteListing, s3: Any) -> list[RemoteFile]:
    """The files of ``listing`` absent from the remote (HEAD requests; no data moves)."""
    missing = []
    for item in listing.files:
        bucket, key = _split(item.url)
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if _status(exc) in (403, 404):
                missing.append(item)
            else:
                raise StorageError(
                    f"cannot check {item.url}: {exc}", hint="check the DVC remote's credentials"
                ) from exc
    return missing


def materialise(listing: RemoteListing, dest: str, s3: Any) -> str:
    """Copy ``listing``'s files to ``<dest>/<md5>/<relpath>`` inside S3; return that prefix.

    Uses CopyObject (multipart UploadPartCopy above 5 GB through ``s3.copy``): the bytes never
    leave S3. A prefix whose marker exists is returned without copying again.
    """
    version = listing.md5.removesuffix(".dir")
    prefix = f"{dest.rstrip('/')}/{version}"
    bucket, key_prefix = _split(prefix)
    marker_key = f"{key_prefix}{MARKER_SUFFIX}"
    try:
        s3.head_object(Bucket=bucket, Key=marker_key)
        return prefix + "/"
    except Exception as exc:
        if _status(exc) not in (403, 404):
            raise StorageError(f"cannot read {prefix}: {exc}", hint="check the bucket") from exc
    try:
        for item in listing.files:
            src_bucket, src_key = _split(item.url)
            s3.copy({"Bucket": src_bucket, "Key": src_key}, bucket, f"{key_prefix}/{item.relpath}")
        body = json.dumps(
            {"path": listing.path, "md5": listing.md5, "files": len(listing.files)}
        ).encode()
        s3.put_object(Bucket=bucket, Key=marker_key, Body=body)
    except Exception as exc:
        raise StorageError(
            f"copying {listing.path} ({listing.md5}) inside S3 to {prefix} failed: {exc}",
            hint="the role needs s3:GetObject on the DVC remote and s3:PutObject on the bucket",
        ) from exc
    return prefix + "/"


def _require_root(path: Path) -> Path:
    root = dvc_root(path.absolute())
    if root is None:
        raise UsageError(
            f"{path} is not inside a DVC repository", hint="run 'dvc init' in the project"
        )
    return root


def _git_rev(root: Path) -> str | None:
    head = root / ".git" / "HEAD"
    if not head.is_file():
        return None
    ref = head.read_text(encoding="utf-8").strip()
    if not ref.startswith("ref: "):
        return ref
    target = root / ".git" / ref[5:]
    if target.is_file():
        return target.read_text(encoding="utf-8").strip()
    packed = root / ".git" / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            if line.endswith(" " + ref[5:]):
                return line.split(" ", 1)[0]
    return None


def _md5(info: dict[str, Any]) -> str:
    found = info.get("md5") or (info.get("dvc_info") or {}).get("md5")
    if not found:
        raise UsageError(
            f"DVC has no md5 for {info.get('name')}", hint="run 'dvc commit' and 'dvc push'"
        )
    return str(found)


def _split(url: str) -> tuple[str, str]:
    rest = url.removeprefix("s3://")
    bucket, _, key = rest.partition("/")
    return bucket, key


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return int(code) if code is not None else None
    return None


def add(path: Path) -> Path:
    """Track ``path`` with DVC (``dvc add``); return the written ``.dvc`` file."""
    root = _require_root(path)
    rel = path.absolute().relative_to(root).as_posix()
    with _repo(root) as repo:
        try:
            repo.add(rel)
        except Exception as exc:
            raise UsageError(
                f"dvc add {rel} failed: {exc}", hint=f"run 'dvc add {rel}' to see why"
            ) from exc
    return path.with_name(path.name + ".dvc")
