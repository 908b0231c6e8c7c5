"""What a channel holds, object by object: a local directory, an S3 prefix or a manifest.

SageMaker reads an ``S3Prefix`` channel as every object under the prefix, in key order; a
``ManifestFile`` channel as the objects its manifest lists (a JSON array whose first element is
``{"prefix": "s3://bucket/path/"}`` and whose other elements are keys relative to it), in the
manifest's order; an ``AugmentedManifestFile`` channel as JSON lines, each line's
``AttributeNames`` in order, an attribute whose name ends in ``-ref`` being the S3 URI of an
object whose bytes are streamed (``API_S3DataSource.html``, ``augmented-manifest-stream.html``).

:func:`check_channel_inputs` reads the manifests of a spec and checks every object they name
exists, before anything is created; :func:`stage_manifest` lays a File-mode manifest channel
out as files; :func:`pipe_feeders` makes the Pipe-mode feeders of a job
(``sagelift.runtime.pipes``). Parsing is pure; the rest reads through ``sagelift.storage``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any

from sagelift.aws import AwsSettings
from sagelift.errors import SpecError
from sagelift.runtime.pipes import ChannelFeeder, PipeRecord
from sagelift.spec import Channel, JobSpec, is_remote_uri

__all__ = [
    "ManifestEntry",
    "check_channel_inputs",
    "local_objects",
    "parse_augmented_manifest",
    "parse_manifest",
    "pipe_feeders",
    "stage_manifest",
]

log = logging.getLogger(__name__)

REF_SUFFIX = "-ref"


@dataclass(frozen=True, slots=True, kw_only=True)
class ManifestEntry:
    """One thing streamed: the object at ``uri``, or ``data`` itself (a non-``-ref``
    attribute's JSON value). ``relative`` is where a File-mode channel shows the object."""

    uri: str | None = None
    data: bytes | None = None
    relative: str = ""


def _manifest_error(channel: Channel, why: str, hint: str) -> SpecError:
    return SpecError(
        f"channels.{channel.name}: the manifest {channel.uri} {why}",
        hint=hint,
        field=f"channels.{channel.name}",
    )


def parse_manifest(text: str, channel: Channel) -> list[ManifestEntry]:
    """The objects a ``ManifestFile`` lists, in its order. Raises SpecError when it is not a
    JSON array of a ``{"prefix": "s3://…"}`` object followed by relative keys."""
    hint = 'write it as [{"prefix": "s3://bucket/path/"}, "relative/key1", "relative/key2"]'
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _manifest_error(channel, f"is not JSON ({exc})", hint) from exc
    if (
        not isinstance(data, list)
        or not data
        or not isinstance(data[0], dict)
        or not isinstance(data[0].get("prefix"), str)
    ):
        raise _manifest_error(channel, 'does not start with a {"prefix": ...} element', hint)
    prefix = data[0]["prefix"]
    if not prefix.startswith("s3://"):
        raise _manifest_error(channel, f"has the prefix {prefix!r}, not an s3:// URI", hint)
    entries = []
    for suffix in data[1:]:
        if not isinstance(suffix, str) or not suffix or suffix.startswith("/"):
            raise _manifest_error(channel, f"lists {suffix!r}, not a relative key", hint)
        if any(part in ("", ".", "..") for part in suffix.split("/")):
            raise _manifest_error(channel, f"lists {suffix!r}, which leaves the prefix", hint)
        entries.append(ManifestEntry(uri=prefix + suffix, relative=suffix))
    if not entries:
        raise _manifest_error(channel, "lists no objects", hint)
    return entries


def parse_augmented_manifest(text: str, channel: Channel) -> list[ManifestEntry]:
    """What an ``AugmentedManifestFile`` streams: for each JSON line, each of the channel's
    ``attribute_names`` in order (a ``-ref`` attribute's object, any other attribute's JSON
    value). Raises SpecError for a line that is not a JSON object or lacks an attribute."""
    entries = []
    hint = "write one JSON object per line holding every name in attribute_names"
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise _manifest_error(channel, f"line {number} is not JSON ({exc})", hint) from exc
        if not isinstance(item, dict):
            raise _manifest_error(channel, f"line {number} is not a JSON object", hint)
        for name in channel.attribute_names:
            if name not in item:
                raise _manifest_error(channel, f"line {number} has no attribute {name!r}", hint)
            value = item[name]
            if name.endswith(REF_SUFFIX):
                if not isinstance(value, str) or not value.startswith("s3://"):
                    raise _manifest_error(
                        channel, f"line {number}: {name} is {value!r}, not an s3:// URI", hint
                    )
                entries.append(ManifestEntry(uri=value))
            else:
                text_value = value if isinstance(value, str) else json.dumps(value)
                entries.append(ManifestEntry(data=text_value.encode("utf-8")))
    if not entries:
        raise _manifest_error(channel, "has no lines", hint)
    return entries


def local_objects(path: Path) -> list[tuple[str, Path]]:
    """A local channel as S3 would list it: (key relative to the channel, file), in key
    order (by the key's UTF-8 bytes); a single file is its own only object."""
    if path.is_file():
        return [(path.name, path)]
    found = []
    for directory, _dirs, files in os.walk(path, followlinks=True):
        for name in files:
            full = Path(directory) / name
            if full.is_file():
                found.append((full.relative_to(path).as_posix(), full))
    return sorted(found, key=lambda item: item[0].encode("utf-8"))


def _storage(uri: str, aws: AwsSettings) -> Any:
    from sagelift.storage import open_storage

    return open_storage(uri, aws=aws)


def _manifest_entries(channel: Channel, aws: AwsSettings) -> list[ManifestEntry]:
    from sagelift.errors import StorageError

    try:
        text = _storage(channel.uri, aws).get_bytes(channel.uri).decode("utf-8")
    except StorageError as exc:
        raise _manifest_error(
            channel, f"cannot be read: {exc.message}", "give the s3:// URI of the manifest object"
        ) from exc
    except UnicodeDecodeError as exc:
        raise _manifest_error(channel, "is not UTF-8 text", "save it as UTF-8 JSON") from exc
    if channel.s3_data_type == "AugmentedManifestFile":
        return parse_augmented_manifest(text, channel)
    return parse_manifest(text, channel)


def check_channel_inputs(spec: JobSpec, aws: AwsSettings) -> None:
    """Read every manifest channel's manifest and check each object it names exists.

    Raises SpecError (exit 2) naming the first missing objects; never writes anything.
    """
    for channel in spec.channels:
        if channel.s3_data_type == "S3Prefix":
            continue
        entries = _manifest_entries(channel, aws)
        storage = _storage(channel.uri, aws)
        missing = [e.uri for e in entries if e.uri is not None and not storage.exists(e.uri)]
        if missing:
            shown = ", ".join(missing[:3])
            if missing[3:]:
                shown += f" and {len(missing) - 3} more"
            raise _manifest_error(
                channel,
                f"names {len(missing)} object(s) that do not exist: {shown}",
                "upload them, or remove them from the manifest",
            )


def stage_manifest(channel: Channel, dest: Path, aws: AwsSettings) -> int:
    """Download the objects a File-mode ``ManifestFile`` channel lists into ``dest``, each at
    its key relative to the manifest's prefix, as SageMaker lays them out. Returns the count."""
    from sagelift.storage.sync import target_under

    storage = _storage(channel.uri, aws)
    entries = _manifest_entries(channel, aws)
    for entry in entries:
        assert entry.uri is not None
        storage.download_file(entry.uri, target_under(dest, entry.relative))
    return len(entries)


# --- Pipe mode ----------------------------------------------------------------------------


def _open_file(path: Path) -> IO[bytes]:
    return open(path, "rb")


@contextlib.contextmanager
def _downloaded(storage: Any, uri: str, scratch: Path) -> Iterator[IO[bytes]]:
    """One object downloaded to ``scratch`` while it is streamed, then removed: the job's
    data passes through the disk one object at a time."""
    scratch.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=scratch, prefix="pipe-")
    os.close(handle)
    try:
        storage.download_file(uri, Path(name))
        with open(name, "rb") as stream:
            yield stream
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


@contextlib.contextmanager
def _in_memory(data: bytes) -> Iterator[IO[bytes]]:
    import io

    yield io.BytesIO(data)


def _records(
    channel: Channel, aws: AwsSettings, scratch: Path
) -> Callable[[], Iterable[PipeRecord]]:
    """The records of one epoch of ``channel``, listed afresh each epoch as SageMaker does."""
    gzipped = channel.compression == "Gzip"

    def local() -> Iterable[PipeRecord]:
        for key, path in local_objects(Path(channel.uri)):
            yield PipeRecord(open=partial(_open_file, path), what=key, gzipped=gzipped)

    def prefix() -> Iterable[PipeRecord]:
        storage = _storage(channel.uri, aws)
        for info in storage.list(channel.uri):
            uri = str(info.uri)
            yield PipeRecord(
                open=partial(_downloaded, storage, uri, scratch), what=uri, gzipped=gzipped
            )

    def manifest() -> Iterable[PipeRecord]:
        storage = _storage(channel.uri, aws)
        for entry in _manifest_entries(channel, aws):
            if entry.uri is not None:
                uri = entry.uri
                yield PipeRecord(
                    open=partial(_downloaded, storage, uri, scratch), what=uri, gzipped=gzipped
                )
            else:
                yield PipeRecord(open=partial(_in_memory, entry.data or b""), what="an attribute")

    if not is_remote_uri(channel.uri):
        return local
    return prefix if channel.s3_data_type == "S3Prefix" else manifest


def pipe_feeders(
    channels: Iterable[Channel],
    data_dir: Path,
    aws: AwsSettings,
    *,
    scratch: Path,
    on_error: Callable[[str], None] | None = None,
) -> list[ChannelFeeder]:
    """One feeder per Pipe-mode channel, writing its FIFOs under ``data_dir``; S3 objects are
    downloaded one at a time under ``scratch`` while they are streamed."""
    return [
        ChannelFeeder(
            data_dir,
            channel.name,
            _records(channel, aws, scratch / channel.name),
            recordio=channel.record_wrapper == "RecordIO",
            on_error=on_error,
        )
        for channel in channels
        if channel.is_pipe
    ]


def pipe_channel_names(channels: Iterable[Channel]) -> Mapping[str, Channel]:
    """The Pipe-mode channels by name."""
    return {c.name: c for c in channels if c.is_pipe}
