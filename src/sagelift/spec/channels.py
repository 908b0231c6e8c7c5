"""Input channels: ``Channel``, the SageMaker values a channel's settings take, and ``[channels]``
parsed, with the combinations SageMaker would refuse rejected before anything is created."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sagelift.contract.cluster import DISTRIBUTION_TYPES
from sagelift.errors import SpecError
from sagelift.spec.values import _choice, _location, _str_list

__all__ = [
    "CHANNEL_KEYS",
    "CHANNEL_RE",
    "COMPRESSIONS",
    "INPUT_MODES",
    "RECORD_WRAPPERS",
    "RESERVED_CHANNELS",
    "S3_DATA_TYPES",
    "Channel",
]

# botocore: ChannelName pattern and length.
CHANNEL_RE = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
#: Channel names no user channel may take, on any backend: the code channel sagelift adds
#: (``sagelift.uploads.CODE_CHANNEL``), and the names that are not a directory of their own
#: under /opt/ml/input/data.
RESERVED_CHANNELS = frozenset({"sagelift-code", ".", ".."})
#: SageMaker's ``TrainingInputMode`` values (``AlgorithmSpecification`` and ``Channel.InputMode``).
INPUT_MODES = ("File", "FastFile", "Pipe")
#: ``Channel.CompressionType``: used only in Pipe mode (API_Channel.html).
COMPRESSIONS = ("None", "Gzip")
#: ``Channel.RecordWrapperType``: RecordIO wraps each object (or manifest attribute) in a
#: RecordIO record, which SageMaker does as it streams a Pipe-mode channel.
RECORD_WRAPPERS = ("None", "RecordIO")
#: ``S3DataSource.S3DataType``; AugmentedManifestFile only in Pipe mode (API_S3DataSource.html),
#: FastFile only with S3Prefix (model-access-training-data.html).
S3_DATA_TYPES = ("S3Prefix", "ManifestFile", "AugmentedManifestFile")
#: The keys of a channel written as a table, ``[channels.<name>]``.
CHANNEL_KEYS = (
    "path",
    "uri",
    "input_mode",
    "content_type",
    "compression",
    "record_wrapper",
    "s3_data_type",
    "attribute_names",
    "distribution",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Channel:
    """An input channel: ``uri`` is an absolute local path or an ``s3://`` URI.

    ``input_mode`` is the channel's own mode, or the job's (``JobSpec.input_mode``) when the
    channel names none; the other fields take SageMaker's API enum values. ``attribute_names``
    are the augmented manifest's attributes streamed, in order (AugmentedManifestFile only).
    """

    name: str
    uri: str
    content_type: str | None = None
    #: ``S3DataDistributionType``: every host gets all objects, or its share of them.
    distribution: str = "FullyReplicated"
    input_mode: str = "File"
    compression: str = "None"
    record_wrapper: str = "None"
    s3_data_type: str = "S3Prefix"
    attribute_names: tuple[str, ...] = ()

    @property
    def is_pipe(self) -> bool:
        return self.input_mode == "Pipe"


def _channels(
    table: Mapping[str, Any], project_dir: Path, input_mode: str = "File"
) -> tuple[Channel, ...]:
    channels = []
    for name, value in sorted(table.items()):
        key = f"channels.{name}"
        if not CHANNEL_RE.match(name):
            raise SpecError(
                f"{key}: '{name}' is not a valid channel name",
                hint="use 1-64 letters, digits, '.', '-' or '_'",
                field=key,
            )
        if name in RESERVED_CHANNELS:
            raise SpecError(
                f"{key}: the channel name '{name}' is reserved"
                + (" for the job's code" if name.startswith("sagelift") else ""),
                hint="rename the channel (e.g. train, validation, data)",
                field=key,
            )
        channels.append(_channel(name, value, project_dir, input_mode))
    if len(channels) > 20:
        raise SpecError(
            f"channels: {len(channels)} channels, SageMaker allows at most 20",
            hint="merge channels into one directory with sub-directories",
            field="channels",
        )
    return tuple(channels)


def _channel(name: str, value: Any, project_dir: Path, input_mode: str) -> Channel:
    """One channel from ``name = "path"`` or a ``[channels.<name>]`` table, its settings
    checked against what SageMaker accepts together."""
    key = f"channels.{name}"
    if not isinstance(value, Mapping):
        return Channel(name=name, uri=_location(value, project_dir, key), input_mode=input_mode)
    for sub in value:
        if sub not in CHANNEL_KEYS:
            close = difflib.get_close_matches(str(sub), CHANNEL_KEYS, n=1, cutoff=0.6)
            raise SpecError(
                f"{key}.{sub}: unknown channel setting",
                hint=(f"did you mean '{close[0]}'? " if close else "")
                + f"a channel takes: {', '.join(CHANNEL_KEYS)}",
                field=f"{key}.{sub}",
            )
    uri = _location(value.get("path", value.get("uri")), project_dir, f"{key}.path")
    content_type = value.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        raise SpecError(
            f"{key}.content_type: expected a string, got {content_type!r}",
            hint='e.g. content_type = "text/csv"',
            field=f"{key}.content_type",
        )
    channel = Channel(
        name=name,
        uri=uri,
        content_type=content_type,
        input_mode=_choice(value.get("input_mode", input_mode), f"{key}.input_mode", INPUT_MODES),
        compression=_choice(value.get("compression", "None"), f"{key}.compression", COMPRESSIONS),
        record_wrapper=_choice(
            value.get("record_wrapper", "None"), f"{key}.record_wrapper", RECORD_WRAPPERS
        ),
        s3_data_type=_choice(
            value.get("s3_data_type", "S3Prefix"), f"{key}.s3_data_type", S3_DATA_TYPES
        ),
        attribute_names=tuple(
            _str_list(value.get("attribute_names", []), f"{key}.attribute_names")
        ),
        distribution=_choice(
            value.get("distribution", "FullyReplicated"),
            f"{key}.distribution",
            DISTRIBUTION_TYPES,
        ),
    )
    _check_channel_settings(channel, key)
    return channel


def _check_channel_settings(channel: Channel, key: str) -> None:
    """The combinations SageMaker refuses, refused here before anything is created."""
    mode = channel.input_mode
    problem: tuple[str, str, str] | None = None  # (setting, message, hint)
    if channel.compression != "None" and mode != "Pipe":
        problem = (
            "compression",
            f"compression '{channel.compression}' needs input_mode 'Pipe', not '{mode}'",
            "SageMaker decompresses only Pipe-mode channels: set input_mode = 'Pipe', or "
            "drop compression and store the files uncompressed",
        )
    elif channel.record_wrapper != "None" and mode != "Pipe":
        problem = (
            "record_wrapper",
            f"record_wrapper '{channel.record_wrapper}' needs input_mode 'Pipe', not '{mode}'",
            "SageMaker wraps records only as it streams a Pipe-mode channel: set "
            "input_mode = 'Pipe', or drop record_wrapper",
        )
    elif channel.s3_data_type != "S3Prefix" and not channel.uri.startswith("s3://"):
        problem = (
            "s3_data_type",
            f"s3_data_type '{channel.s3_data_type}' needs an s3:// manifest object, "
            f"not the local path '{channel.uri}'",
            "upload the manifest (and the objects it lists) to S3 and give its s3:// URI",
        )
    elif channel.s3_data_type == "AugmentedManifestFile" and mode != "Pipe":
        problem = (
            "s3_data_type",
            f"s3_data_type 'AugmentedManifestFile' needs input_mode 'Pipe', not '{mode}'",
            "SageMaker streams augmented manifests in Pipe mode only: set input_mode = 'Pipe'",
        )
    elif channel.s3_data_type == "AugmentedManifestFile" and not channel.attribute_names:
        problem = (
            "attribute_names",
            "an AugmentedManifestFile channel needs attribute_names",
            'name the JSON attributes to stream, e.g. attribute_names = ["source-ref", "label"]',
        )
    elif channel.attribute_names and channel.s3_data_type != "AugmentedManifestFile":
        problem = (
            "attribute_names",
            "attribute_names apply to s3_data_type 'AugmentedManifestFile' only",
            "set s3_data_type = 'AugmentedManifestFile', or drop attribute_names",
        )
    elif mode == "FastFile" and channel.s3_data_type != "S3Prefix":
        problem = (
            "s3_data_type",
            f"input_mode 'FastFile' reads an S3 prefix, not a '{channel.s3_data_type}'",
            "use input_mode = 'File' (or 'Pipe') for a manifest channel",
        )
    if problem is not None:
        setting, message, hint = problem
        raise SpecError(f"{key}: {message}", hint=hint, field=f"{key}.{setting}")
