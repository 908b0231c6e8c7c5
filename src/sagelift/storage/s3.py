"""``s3://bucket/key`` through boto3, made only by ``sagelift.aws``.

Speed comes from three choices. A sync lists the prefix once (1,000 keys a call) instead of
asking about each file. Small files (below the multipart threshold) are sent as single
``PutObject`` calls from a thread pool, which costs far less per file than a transfer-manager
job; large files go up in parts, many at a time, and an interrupted large upload is continued
by the next one instead of starting again (:mod:`sagelift.storage.multipart`).
Comparison needs no extra call in the common case: a single-part object's ETag is the MD5 of its
content, so size + ETag from the listing decide. Every object sagelift writes also carries its
sha256 in the ``sha256`` user metadata, read with one HEAD only when the ETag cannot decide
(multipart objects, SSE-KMS).

botocore asks every PutObject to wait for ``100 Continue`` before sending the body, one extra
round trip per object. That guards against streaming a large body to a server about to refuse
it; below the multipart threshold the round trip costs more than resending would, so small
puts go without it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sagelift.aws import AwsSettings, client, map_client_error
from sagelift.errors import SageliftError
from sagelift.storage.base import (
    ObjectInfo,
    Progress,
    StorageURI,
    SyncReport,
    Upload,
    as_uri,
)
from sagelift.storage.sync import (
    Digests,
    LocalFile,
    Meter,
    atomic_writer,
    digest_bytes,
    digest_file,
    relative_under,
    run_all,
    scan_dir,
    target_under,
)

__all__ = ["S3Storage"]

MB = 1024 * 1024
SHA256_META = "sha256"
SMALL_BODY = 8 * MB

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    local: LocalFile
    sha256: str


def _aws_errors() -> tuple[type[BaseException], ...]:
    from boto3.exceptions import Boto3Error
    from boto3.s3.transfer import RetriesExceededError
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError, Boto3Error, RetriesExceededError)


def _drop_expect_header(request: Any, **_: Any) -> None:
    if int(request.headers.get("Content-Length", 0) or 0) < SMALL_BODY:
        request.headers.pop("Expect", None)


def _is_missing(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    return code in ("404", "NoSuchKey", "NotFound")


class S3Storage:
    """S3 (or an S3-compatible endpoint named by ``aws.endpoint_url``).

    ``workers`` threads send small objects during a sync; files of ``multipart_threshold``
    bytes or more are uploaded in ``multipart_chunksize`` parts, ``max_concurrency`` at a time.
    The client is made on first use.
    """

    scheme = "s3"

    def __init__(
        self,
        aws: AwsSettings | None = None,
        *,
        workers: int = 32,
        multipart_threshold: int = 8 * MB,
        multipart_chunksize: int = 8 * MB,
        max_concurrency: int = 10,
    ) -> None:
        self._aws = aws or AwsSettings()
        self._workers = workers
        self._threshold = multipart_threshold
        self._chunksize = multipart_chunksize
        self._concurrency = max_concurrency
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                made = client(
                    "s3", self._aws, max_pool_connections=self._workers + self._concurrency
                )
                made.meta.events.register(
                    "before-send.s3.PutObject",
                    _drop_expect_header,
                    unique_id="sagelift-small-put-expect",
                )
                self._client = made
            return self._client

    def _transfer_config(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(
            multipart_threshold=self._threshold,
            multipart_chunksize=self._chunksize,
            max_concurrency=self._concurrency,
        )

    def _call(self, action: str, uri: StorageURI, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except SageliftError:
            raise
        except _aws_errors() as exc:
            raise map_client_error(exc, action=action, resource=str(uri)) from exc

    def exists(self, uri: StorageURI | str) -> bool:
        parsed = as_uri(uri)
        try:
            self.client.head_object(Bucket=parsed.bucket, Key=parsed.key)
        except _aws_errors() as exc:
            if _is_missing(exc):
                return False
            raise map_client_error(exc, action="s3:GetObject", resource=str(parsed)) from exc
        return True

    def get_bytes(self, uri: StorageURI | str) -> bytes:
        parsed = as_uri(uri)

        def get() -> bytes:
            body = self.client.get_object(Bucket=parsed.bucket, Key=parsed.key)["Body"]
            with body:
                data: bytes = body.read()
            return data

        return self._call("s3:GetObject", parsed, get)

    def put_bytes(self, uri: StorageURI | str, data: bytes) -> None:
        parsed = as_uri(uri)
        self._put(parsed, data, digest_bytes(data).sha256)

    def _put(self, uri: StorageURI, data: bytes, sha256: str) -> None:
        self._call(
            "s3:PutObject",
            uri,
            lambda: self.client.put_object(
                Bucket=uri.bucket, Key=uri.key, Body=data, Metadata={SHA256_META: sha256}
            ),
        )

    def upload_file(
        self, path: Path, uri: StorageURI | str, *, progress: Progress | None = None
    ) -> None:
        parsed = as_uri(uri)
        local = LocalFile(rel=path.name, path=path, size=path.stat().st_size)
        self._send([_Plan(local=local, sha256=digest_file(path).sha256)], [parsed], progress)

    def upload_files(self, uploads: Sequence[Upload], *, progress: Progress | None = None) -> None:
        def plan(upload: Upload) -> _Plan:
            path = upload.path
            local = LocalFile(rel=path.name, path=path, size=path.stat().st_size)
            return _Plan(local=local, sha256=upload.sha256 or digest_file(path).sha256)

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            plans = run_all(pool, plan, uploads)
        self._send(plans, [as_uri(u.uri) for u in uploads], progress)

    def download_file(
        self, uri: StorageURI | str, path: Path, *, progress: Progress | None = None
    ) -> None:
        parsed = as_uri(uri)
        meter = Meter(progress, 0)
        if progress is not None:
            head = self._call(
                "s3:GetObject",
                parsed,
                lambda: self.client.head_object(Bucket=parsed.bucket, Key=parsed.key),
            )
            meter = Meter(progress, int(head["ContentLength"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        self._call(
            "s3:GetObject",
            parsed,
            lambda: self.client.download_file(
                parsed.bucket,
                parsed.key,
                str(path),
                Callback=meter.add,
                Config=self._transfer_config(),
            ),
        )

    def list(self, prefix: StorageURI | str) -> Iterator[ObjectInfo]:
        parsed = as_uri(prefix)
        base = parsed.key.strip("/")
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=parsed.bucket, Prefix=f"{base}/" if base else "")
        iterator = iter(pages)
        while True:
            page = self._call("s3:ListBucket", parsed, lambda: next(iterator, None))
            if page is None:
                return
            for item in page.get("Contents", ()):
                key = item["Key"]
                rel = relative_under(base, key)
                if rel is None or key.endswith("/"):
                    continue
                yield ObjectInfo(
                    uri=StorageURI(scheme="s3", netloc=parsed.bucket, path=key),
                    relative=rel,
                    size=int(item["Size"]),
                    etag=str(item.get("ETag", "")).strip('"') or None,
                )

    def copy(self, source: StorageURI | str, dest: StorageURI | str) -> None:
        src, dst = as_uri(source), as_uri(dest)
        # Server-side: the bytes stay in S3 (objects up to 5 GB; the launcher bundle is ~40 KB).
        self._call(
            "s3:PutObject",
            dst,
            lambda: self.client.copy_object(
                Bucket=dst.bucket,
                Key=dst.key,
                CopySource={"Bucket": src.bucket, "Key": src.key},
                MetadataDirective="COPY",
            ),
        )

    def delete(self, uri: StorageURI | str) -> None:
        parsed = as_uri(uri)
        self._call(
            "s3:DeleteObject",
            parsed,
            lambda: self.client.delete_object(Bucket=parsed.bucket, Key=parsed.key),
        )

    def _remote_sha256(self, uri: StorageURI) -> str | None:
        head = self._call(
            "s3:GetObject",
            uri,
            lambda: self.client.head_object(Bucket=uri.bucket, Key=uri.key),
        )
        value = head.get("Metadata", {}).get(SHA256_META)
        return str(value) if value else None

    def _matches(self, remote: ObjectInfo | None, size: int, digests: Digests) -> bool:
        if remote is None or remote.size != size:
            return False
        if remote.etag == digests.md5:
            return True
        return self._remote_sha256(remote.uri) == digests.sha256

    def sync_up(
        self, local_dir: Path, prefix: StorageURI | str, *, progress: Progress | None = None
    ) -> SyncReport:
        parsed = as_uri(prefix)
        files = scan_dir(local_dir)
        remote = {info.relative: info for info in self.list(parsed)}

        def plan(local: LocalFile) -> _Plan | None:
            digests = digest_file(local.path)
            if self._matches(remote.get(local.rel), local.size, digests):
                return None
            return _Plan(local=local, sha256=digests.sha256)

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            todo = [p for p in run_all(pool, plan, files) if p is not None]
        self._send(todo, [parsed.child(p.local.rel) for p in todo], progress)
        return SyncReport(
            files_sent=len(todo),
            bytes_sent=sum(p.local.size for p in todo),
            files_skipped=len(files) - len(todo),
        )

    def _send(
        self, plans: Sequence[_Plan], uris: Sequence[StorageURI], progress: Progress | None
    ) -> None:
        meter = Meter(progress, sum(p.local.size for p in plans))
        small = [(p, u) for p, u in zip(plans, uris, strict=True) if p.local.size < self._threshold]
        large = [
            (p, u) for p, u in zip(plans, uris, strict=True) if p.local.size >= self._threshold
        ]

        def put_small(item: tuple[_Plan, StorageURI]) -> None:
            plan, uri = item
            self._put(uri, plan.local.path.read_bytes(), plan.sha256)
            meter.add(plan.local.size)

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            if large:
                pending = pool.submit(self._send_large, large, meter)
            try:
                run_all(pool, put_small, small)
            finally:
                if large:
                    pending.result()

    def _send_large(self, items: Sequence[tuple[_Plan, StorageURI]], meter: Meter) -> None:
        from sagelift.storage.multipart import LargeFile, upload_large

        files = [
            LargeFile(path=plan.local.path, uri=uri, size=plan.local.size, sha256=plan.sha256)
            for plan, uri in items
        ]
        upload_large(
            self.client,
            files,
            chunksize=self._chunksize,
            concurrency=self._concurrency,
            meter=meter,
            call=self._call,
        )

    def sync_down(
        self, prefix: StorageURI | str, local_dir: Path, *, progress: Progress | None = None
    ) -> SyncReport:
        objects = list(self.list(prefix))

        def needed(info: ObjectInfo) -> bool:
            target = target_under(local_dir, info.relative)
            if not target.is_file() or target.stat().st_size != info.size:
                return True
            return not self._matches(info, info.size, digest_file(target))

        with ThreadPoolExecutor(max_workers=self._workers) as pool:
            flags = run_all(pool, needed, objects)
            todo = [info for info, need in zip(objects, flags, strict=True) if need]
            meter = Meter(progress, sum(info.size for info in todo))

            def fetch(info: ObjectInfo) -> None:
                target = target_under(local_dir, info.relative)
                if info.size >= self._threshold:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self._call(
                        "s3:GetObject",
                        info.uri,
                        lambda: self.client.download_file(
                            info.uri.bucket,
                            info.uri.key,
                            str(target),
                            Callback=meter.add,
                            Config=self._transfer_config(),
                        ),
                    )
                    return
                data = self.get_bytes(info.uri)
                with atomic_writer(target) as handle:
                    handle.write(data)
                meter.add(len(data))

            run_all(pool, fetch, todo)
        return SyncReport(
            files_sent=len(todo),
            bytes_sent=sum(info.size for info in todo),
            files_skipped=len(objects) - len(todo),
        )
