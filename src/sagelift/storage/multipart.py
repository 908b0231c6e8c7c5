"""Large files to S3 in parts, resuming what an interrupted upload left there.

A file is sent with CreateMultipartUpload, UploadPart (parts of ``part_size`` bytes, many at a
time) and CompleteMultipartUpload. An upload that fails or is interrupted (an error, Ctrl-C, a
killed process) is not aborted: the parts already in S3 stay there until a later upload of the
same key continues it, or until the bucket's lifecycle rule removes them (``sagelift aws setup``
sets AbortIncompleteMultipartUpload; docs ``mpu-abort-incomplete-mpu-lifecycle-config.html``).

Before sending a file, nothing is sent at all when the key already holds an object of the
file's size whose ``sha256`` user metadata is the file's. Otherwise the key's in-progress
uploads are listed (ListMultipartUploads, ListParts); the newest one whose every part has the
size and the MD5 (its ETag) of the same byte range of the local file is continued, and only its
missing parts are sent. The sha256 metadata of a continued upload was set when it was created;
it is read back after completion, and an object that does not carry the file's sha256 is sent
again from scratch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sagelift.storage.base import StorageURI
from sagelift.storage.sync import Meter, run_all

__all__ = ["LargeFile", "part_size", "upload_large"]

MB = 1024 * 1024
#: S3 allows at most 10,000 parts to an upload (docs ``qfacts.html``).
MAX_PARTS = 10_000
SHA256_META = "sha256"

#: ``call(action, uri, fn)`` runs ``fn`` and maps AWS errors to sagelift's (S3Storage._call).
Call = Callable[[str, StorageURI, Callable[[], Any]], Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class LargeFile:
    """One local file to put at ``uri``, with its size and sha256."""

    path: Path
    uri: StorageURI
    size: int
    sha256: str


@dataclass(slots=True, kw_only=True)
class _State:
    file: LargeFile
    part: int
    upload_id: str | None = None
    done: dict[int, str] = field(default_factory=dict)
    resumed: bool = False
    present: bool = False


def part_size(size: int, chunksize: int) -> int:
    """The part size for a file of ``size`` bytes: ``chunksize``, or more (whole MiB) where
    ``chunksize`` would need more than 10,000 parts."""
    needed = -(-size // MAX_PARTS)
    if needed <= chunksize:
        return chunksize
    return -(-needed // MB) * MB


def _ranges(size: int, part: int) -> list[tuple[int, int, int]]:
    """(part number, offset, length) for every part of a file of ``size`` bytes."""
    return [
        (n, offset, min(part, size - offset)) for n, offset in enumerate(range(0, size, part), 1)
    ]


def _read(path: Path, offset: int, length: int) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def upload_large(
    client: Any,
    files: Sequence[LargeFile],
    *,
    chunksize: int,
    concurrency: int,
    meter: Meter,
    call: Call,
) -> int:
    """Put every file at its key; returns the bytes sent (parts already in S3 are not sent).

    Raises what ``call`` raises for a failed request; the parts sent so far stay in S3.
    """
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        states = run_all(pool, lambda f: _plan(client, f, chunksize, call), files)
        for state in states:
            if state.present:
                meter.add(state.file.size)
            else:
                meter.add(sum(_ranges(state.file.size, state.part)[n - 1][2] for n in state.done))
        todo = [
            (state, number, offset, length)
            for state in states
            if not state.present
            for number, offset, length in _ranges(state.file.size, state.part)
            if number not in state.done
        ]

        def send(item: tuple[_State, int, int, int]) -> None:
            state, number, offset, length = item
            uri = state.file.uri
            response = call(
                "s3:PutObject",
                uri,
                lambda: client.upload_part(
                    Bucket=uri.bucket,
                    Key=uri.key,
                    UploadId=state.upload_id,
                    PartNumber=number,
                    Body=_read(state.file.path, offset, length),
                ),
            )
            state.done[number] = str(response["ETag"])
            meter.add(length)

        run_all(pool, send, todo)
        completed = run_all(pool, lambda s: _complete(client, s, call), states)
    sent = sum(length for _, _, _, length in todo)
    again = [state.file for state in completed if state is not None]
    for stale in again:
        _delete(client, stale.uri, call)
    if again:
        sent += upload_large(
            client,
            again,
            chunksize=chunksize,
            concurrency=concurrency,
            meter=Meter(None, 0),
            call=call,
        )
    return sent


def _delete(client: Any, uri: StorageURI, call: Call) -> None:
    call("s3:DeleteObject", uri, lambda: client.delete_object(Bucket=uri.bucket, Key=uri.key))


def _plan(client: Any, file: LargeFile, chunksize: int, call: Call) -> _State:
    state = _State(file=file, part=part_size(file.size, chunksize))
    if _holds(client, file, call):
        state.present = True
        return state
    found = _resumable(client, state, call)
    if found is not None:
        state.upload_id, state.done = found
        state.resumed = True
        return state
    uri = file.uri
    created = call(
        "s3:PutObject",
        uri,
        lambda: client.create_multipart_upload(
            Bucket=uri.bucket, Key=uri.key, Metadata={SHA256_META: file.sha256}
        ),
    )
    state.upload_id = str(created["UploadId"])
    return state


def _head(client: Any, uri: StorageURI, call: Call) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    def head() -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = client.head_object(Bucket=uri.bucket, Key=uri.key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return found

    result: dict[str, Any] | None = call("s3:GetObject", uri, head)
    return result


def _holds(client: Any, file: LargeFile, call: Call) -> bool:
    head = _head(client, file.uri, call)
    if head is None or int(head.get("ContentLength", -1)) != file.size:
        return False
    return bool(head.get("Metadata", {}).get(SHA256_META) == file.sha256)


def _resumable(client: Any, state: _State, call: Call) -> tuple[str, dict[int, str]] | None:
    """The newest in-progress upload of the key whose parts all match the local file."""
    uri = state.file.uri

    def uploads() -> list[dict[str, Any]]:
        pages = client.get_paginator("list_multipart_uploads").paginate(
            Bucket=uri.bucket, Prefix=uri.key
        )
        return [u for page in pages for u in page.get("Uploads", ()) if u["Key"] == uri.key]

    found: list[dict[str, Any]] = call("s3:ListBucketMultipartUploads", uri, uploads)
    ranges = {n: (offset, length) for n, offset, length in _ranges(state.file.size, state.part)}
    for upload in sorted(found, key=lambda u: u["Initiated"], reverse=True):
        upload_id = str(upload["UploadId"])

        def parts(upload_id: str = upload_id) -> list[dict[str, Any]]:
            pages = client.get_paginator("list_parts").paginate(
                Bucket=uri.bucket, Key=uri.key, UploadId=upload_id
            )
            return [p for page in pages for p in page.get("Parts", ())]

        listed: list[dict[str, Any]] = call("s3:ListMultipartUploadParts", uri, parts)
        done: dict[int, str] = {}
        for part in listed:
            number = int(part["PartNumber"])
            if number not in ranges or ranges[number][1] != int(part["Size"]):
                break
            offset, length = ranges[number]
            etag = str(part["ETag"])
            data = _read(state.file.path, offset, length)
            if etag.strip('"') != hashlib.md5(data, usedforsecurity=False).hexdigest():
                break
            done[number] = etag
        else:
            return upload_id, done
    return None


def _complete(client: Any, state: _State, call: Call) -> _State | None:
    """Complete ``state``'s upload; ``state`` again where the object must be sent afresh."""
    if state.present:
        return None
    uri = state.file.uri
    parts = [{"PartNumber": n, "ETag": state.done[n]} for n in sorted(state.done)]
    call(
        "s3:PutObject",
        uri,
        lambda: client.complete_multipart_upload(
            Bucket=uri.bucket,
            Key=uri.key,
            UploadId=state.upload_id,
            MultipartUpload={"Parts": parts},
        ),
    )
    if state.resumed and not _holds(client, state.file, call):
        return state
    return None
