"""The job spec: what to train, independent of where it runs.

``parse_job_spec`` is pure (it resolves paths but touches no file); the file-system checks a
run needs before any side effect are ``sagelift.preflight.check_local_inputs``.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sagelift.config import Resolved
from sagelift.contract.cluster import DISTRIBUTION_TYPES
from sagelift.contract.distribution import Distribution
from sagelift.contract.hyperparameters import JSONValue, validate_hyperparameters
from sagelift.errors import SpecError, UnsupportedFeature

__all__ = [
    "COMPRESSIONS",
    "DEFAULT_INTERVAL",
    "INPUT_MODES",
    "RECORD_WRAPPERS",
    "S3_DATA_TYPES",
    "Channel",
    "EntryPoint",
    "InterruptionPlan",
    "JobKind",
    "JobSpec",
    "MetricDefinition",
    "is_remote_uri",
    "parse_duration",
    "parse_interrupt_times",
    "parse_job_spec",
    "validate_job_name",
]

EntryKind = Literal["script", "module", "command"]
#: ``script``: SageMaker script mode (the launcher is the entry point; hyperparameters JSON-encoded
#: and passed as arguments, ``sagemaker_*`` keys added). ``byo``: a bring-your-own image, run as
#: SageMaker runs one (``docker run IMAGE train``; plain-string hyperparameters, no arguments).
#: ``framework``: a prebuilt framework image run as the SDK's framework estimators run it (the
#: image's own entry point, the sagemaker-training toolkit, runs ``sagemaker_program`` from
#: ``sourcedir.tar.gz``); chosen by default when ``image.framework`` is set.
JobKind = Literal["script", "byo", "framework"]
JOB_KINDS: tuple[str, ...] = ("script", "byo", "framework")
#: The in-container contract of a script-mode job: which SDK generation's drivers it follows.
Contract = Literal["v2", "v3"]
#: What SageMaker runs in a bring-your-own image without an ENTRYPOINT, and what a ``byo`` job
#: runs locally when no ``entry_point`` is given.
BYO_DEFAULT_COMMAND = ("train",)
#: ``auto`` (the framework kind's default): this environment when it satisfies the requirements
#: file, else a cached environment laid over it, as the training toolkit installs
#: ``requirements.txt`` over the framework's own packages.
Dependencies = Literal["current", "isolated", "auto"]
OptMl = Literal["auto", "require", "off"]

# botocore: TrainingJobName pattern and length; ChannelName pattern and length.
JOB_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
CHANNEL_RE = re.compile(r"^[A-Za-z0-9.\-_]{1,64}$")
# S3 bucket naming rules (general purpose buckets).
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ENV_KEY_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,511}$")
# CreateTrainingJob.Environment: at most 100 entries, values at most 512 characters.
MAX_ENV_ENTRIES = 100
MAX_ENV_VALUE = 512
MAX_RUNTIME_LIMIT = 28 * 24 * 3600
SECRET_NAME_RE = re.compile(r"(SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY)", re.I)
SECRET_NAMES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"})
LOCAL_INSTANCE_TYPES = frozenset({"local", "local_gpu"})
#: Channel names no user channel may take, on any backend: the code channel sagelift adds
#: (``sagelift.uploads.CODE_CHANNEL``), and the names that are not a directory of their own
#: under /opt/ml/input/data.
RESERVED_CHANNELS = frozenset({"sagelift-code", ".", ".."})


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryPoint:
    """What the job runs: a script under the source dir, a module, or a command (argv)."""

    kind: EntryKind
    argv: tuple[str, ...]

    @property
    def program(self) -> str | None:
        """The script path relative to the source dir (what ``sagemaker_program`` holds)."""
        return self.argv[0] if self.kind == "script" else None

    def launcher_arguments(self) -> list[str]:
        """How the launcher (``python -m sagelift.runtime``) is told to run this entry point;
        ``--command`` takes the rest of its command line, so these come last."""
        if self.kind == "script":
            return ["--program", self.argv[0]]
        if self.kind == "module":
            return ["--module", self.argv[0]]
        return ["--command", *self.argv]

    def describe(self) -> str:
        if self.kind == "module":
            return f"-m {self.argv[0]}"
        return shlex.join(self.argv)


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


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricDefinition:
    name: str
    regex: str


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """Everything that defines a training job, backend-neutral."""

    project_dir: Path
    source_dir: Path
    entry_point: EntryPoint
    hyperparameters: Mapping[str, JSONValue] = field(default_factory=dict)
    channels: tuple[Channel, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    output_path: str
    checkpoint_path: str | None = None
    max_runtime: int = 86400
    stop_grace: int = 120
    base_job_name: str
    job_name: str | None = None
    instance_type: str = "local"
    instance_count: int = 1
    volume_size: int = 30
    dependencies: Dependencies = "current"
    requirements: Path | None = None
    opt_ml: OptMl = "auto"
    metric_definitions: tuple[MetricDefinition, ...] = ()
    exclude: tuple[str, ...] = ()
    spot: bool = False
    max_wait: int | None = None
    max_cost: float | None = None
    interruptions: tuple[float, ...] = ()
    kind: JobKind = "script"
    distribution: Distribution | None = None
    #: A SageMaker built-in algorithm (``sagelift.algorithms``) run instead of the user's code:
    #: then ``kind`` is ``byo`` (SageMaker runs the algorithm's image as the generic Estimator
    #: does) and ``entry_point`` is the local runner of an open-source algorithm.
    algorithm: str | None = None
    algorithm_version: str | None = None
    #: The job's ``TrainingInputMode``: the mode of every channel that names none of its own.
    input_mode: str = "File"
    contract: Contract = "v2"

    @property
    def is_byo(self) -> bool:
        """A bring-your-own image job (``kind = "byo"``)."""
        return self.kind == "byo"

    @property
    def is_framework(self) -> bool:
        """A framework-image job (``kind = "framework"``): the image's toolkit runs the code."""
        return self.kind == "framework"

    @property
    def is_local(self) -> bool:
        return self.instance_type in LOCAL_INSTANCE_TYPES


def is_remote_uri(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def parse_job_spec(config: Resolved, project_dir: Path) -> JobSpec:
    """Build a JobSpec from resolved configuration. Pure: no file is read.

    Raises SpecError (exit 2) naming the offending key, with a hint.
    """
    project_dir = project_dir.absolute()
    source_dir = _path(config.get("source_dir"), project_dir, "source_dir")
    kind = _choice(config.get("kind", "script"), "kind", JOB_KINDS)
    raw_entry = config.get("entry_point")
    hyperparameters = config.table("hyperparameters")
    validate_hyperparameters(hyperparameters)
    built_in = _built_in(config, raw_entry, hyperparameters)
    metrics = {
        name: MetricDefinition(name=name, regex=_regex(regex, f"metrics.{name}"))
        for name, regex in sorted(config.table("metrics").items())
    }
    if built_in is not None:
        found, _version = built_in
        kind = "byo"
        raw_entry = ["-m", found.runner] if found.runner else list(BYO_DEFAULT_COMMAND)
        metrics = {
            **{name: MetricDefinition(name=name, regex=regex) for name, regex in found.metrics},
            **metrics,
        }
    if kind == "byo" and raw_entry in (None, "", []):
        raw_entry = list(BYO_DEFAULT_COMMAND)
    if isinstance(raw_entry, list) and raw_entry[:1] == ["-m"] and built_in is not None:
        entry = EntryPoint(kind="module", argv=(raw_entry[1],))
    else:
        entry = _relative_script(_entry_point(raw_entry, config.source("entry_point")), source_dir)
        kind = _framework_by_default(config, kind, entry)
    base = config.get("base_job_name") or _default_base_name(project_dir)
    job_name = config.get("job_name")
    if job_name is not None:
        validate_job_name(str(job_name), field_name="job_name")
    requirements = config.get("requirements")
    input_mode = _choice(config.get("input_mode", "File"), "input_mode", INPUT_MODES)
    spec = JobSpec(
        project_dir=project_dir,
        source_dir=source_dir,
        entry_point=entry,
        hyperparameters=hyperparameters,
        channels=_channels(config.table("channels"), project_dir, input_mode),
        environment=_environment(config.table("environment")),
        output_path=_location(config.get("output_path"), project_dir, "output_path"),
        checkpoint_path=(
            None
            if config.get("checkpoint_path") in (None, "")
            else _location(config.get("checkpoint_path"), project_dir, "checkpoint_path")
        ),
        max_runtime=_seconds(config.get("max_runtime"), "max_runtime", MAX_RUNTIME_LIMIT),
        stop_grace=_seconds(config.get("stop_grace"), "stop_grace", 3600, minimum=0),
        base_job_name=_base_name(str(base)),
        job_name=None if job_name is None else str(job_name),
        instance_type=_instance_type(config.get("instance_type")),
        instance_count=_int(config.get("instance_count"), "instance_count", 1, 100),
        volume_size=_int(config.get("volume_size"), "volume_size", 1, 16384),
        dependencies=_dependencies(config, kind),
        requirements=None
        if requirements is None
        else _path(requirements, project_dir, "requirements"),
        opt_ml=_choice(config.get("opt_ml"), "opt_ml", ("auto", "require", "off")),
        metric_definitions=tuple(metrics[name] for name in sorted(metrics)),
        exclude=tuple(_str_list(config.get("exclude", []), "exclude")),
        spot=_bool(config.get("spot"), "spot"),
        max_wait=None
        if config.get("max_wait") in (None, "")
        else _seconds(config.get("max_wait"), "max_wait", MAX_RUNTIME_LIMIT),
        max_cost=_cost(config.get("max_cost")),
        interruptions=_interruptions(
            config.get("simulate_interruptions"), config.get("interrupt_at")
        ),
        kind=kind,
        distribution=_distribution(config.table("distribution")),
        algorithm=None if built_in is None else built_in[0].name,
        algorithm_version=None if built_in is None else built_in[1],
        input_mode=input_mode,
        contract=_choice(config.get("contract", "v2"), "contract", ("v2", "v3")),
    )
    if spec.distribution is not None and spec.is_byo:
        raise UnsupportedFeature(
            f"distribution '{spec.distribution.kind}' needs the SageMaker training toolkit, "
            "which a bring-your-own image (kind = 'byo') does not run",
            hint="drop distribution and start the processes from the image's own entry point, "
            "or use kind = 'script'",
        )
    if built_in is not None and spec.is_local and not built_in[0].open_source:
        raise UnsupportedFeature(
            f"algorithm {built_in[0].name!r} is closed source: it runs only on SageMaker, "
            "not on this machine",
            hint="pick an ml.* instance type (instance_type = 'ml.m5.xlarge'), or use "
            "algorithm = 'xgboost', which also runs locally",
        )
    if spec.max_wait is not None and not spec.spot:
        raise SpecError(
            "max_wait only applies to spot training",
            hint="add --spot (spot = true), or drop max_wait",
            field="max_wait",
        )
    if spec.spot and spec.max_wait is not None and spec.max_wait < spec.max_runtime:
        raise SpecError(
            f"max_wait ({spec.max_wait} s) must be at least max_runtime ({spec.max_runtime} s)",
            hint="SageMaker counts the wait for spot capacity plus the run in max_wait; raise it",
            field="max_wait",
        )
    if spec.spot and spec.is_local:
        raise UnsupportedFeature(
            "spot instances exist only on SageMaker; a local job cannot be a spot job",
            hint="rehearse interruptions locally with --simulate-interruptions N, "
            "or pick an ml.* instance type",
        )
    return spec


def _built_in(
    config: Resolved, raw_entry: Any, hyperparameters: Mapping[str, Any]
) -> tuple[Any, str] | None:
    """The built-in algorithm a job runs and its version, with its hyperparameters checked
    (SpecError naming the valid range), or None for a job that runs the user's code."""
    name = config.get("algorithm")
    if name in (None, ""):
        if config.get("algorithm_version") not in (None, ""):
            raise SpecError(
                "algorithm_version is set but no algorithm",
                hint="set algorithm = 'xgboost' (or another built-in), or drop algorithm_version",
                field="algorithm_version",
            )
        return None
    if raw_entry not in (None, "", []):
        raise SpecError(
            "both algorithm and entry_point are set: a built-in algorithm runs instead of "
            "your code",
            hint="drop entry_point to run the built-in algorithm, or drop algorithm",
            field="algorithm",
        )
    if config.get("kind") == "script" and config.source("kind") != "default":
        raise SpecError(
            "kind = 'script' does not apply to a built-in algorithm (SageMaker runs its image)",
            hint="drop kind",
            field="kind",
        )
    from sagelift.algorithms import algorithm, check_algorithm_hyperparameters

    version = config.get("algorithm_version")
    found, chosen = algorithm(str(name), None if version in (None, "") else str(version))
    check_algorithm_hyperparameters(found, hyperparameters)
    return found, chosen


def validate_job_name(name: str, *, field_name: str = "job_name") -> None:
    if not JOB_NAME_RE.match(name):
        raise SpecError(
            f"{field_name}: '{name}' is not a valid SageMaker job name",
            hint="use 1-63 letters, digits and hyphens, starting and ending with a letter or digit",
            field=field_name,
        )


def parse_duration(value: Any, field_name: str) -> int:
    """Seconds from an int or a string like '90', '90s', '15m', '2h', '1d'."""
    if isinstance(value, bool):
        raise _bad_duration(value, field_name)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", value)
        if match:
            unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
            return int(match.group(1)) * unit
    raise _bad_duration(value, field_name)


def _bad_duration(value: Any, field_name: str) -> SpecError:
    return SpecError(
        f"{field_name}: {value!r} is not a duration",
        hint="use seconds (3600) or a duration such as '90m', '2h', '1d'",
        field=field_name,
    )


def _seconds(value: Any, field_name: str, maximum: int, *, minimum: int = 1) -> int:
    seconds = parse_duration(value, field_name)
    if not minimum <= seconds <= maximum:
        raise SpecError(
            f"{field_name}: {seconds} s is outside {minimum}..{maximum} s",
            hint=f"pick a value between {minimum} and {maximum} seconds",
            field=field_name,
        )
    return seconds


def _entry_point(value: Any, source: str | None) -> EntryPoint:
    if value is None or value == "" or value == []:
        raise SpecError(
            "no entry point given",
            hint="pass one (sagelift run train.py) or set entry_point in sagelift.toml",
            field="entry_point",
        )
    if isinstance(value, list):
        argv = _str_list(value, "entry_point")
        if not argv:
            raise SpecError("entry_point: empty command", hint=None, field="entry_point")
        return EntryPoint(kind="command", argv=tuple(argv))
    if not isinstance(value, str):
        raise SpecError(
            f"entry_point: expected a string or a list, got {type(value).__name__}",
            hint='e.g. entry_point = "train.py", "-m pkg.train" or ["bash", "run.sh"]',
            field="entry_point",
        )
    text = value.strip()
    if text.startswith("-m "):
        module = text[3:].strip()
        if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", module):
            raise SpecError(
                f"entry_point: '{module}' is not a module name",
                hint="use dotted Python names, e.g. -m mypkg.train",
                field="entry_point",
            )
        return EntryPoint(kind="module", argv=(module,))
    try:
        parts = shlex.split(text)
    except ValueError as exc:
        raise SpecError(
            f"entry_point: cannot split {text!r} into words: {str(exc).lower()}",
            hint="close the quote, or give the command as a list: "
            'entry_point = ["python", "train.py"]',
            field="entry_point",
        ) from exc
    if not parts:
        raise SpecError(
            "entry_point: empty command", hint="give a script or a command", field="entry_point"
        )
    if len(parts) == 1 and not parts[0].startswith("-"):
        return EntryPoint(kind="script", argv=(parts[0],))
    return EntryPoint(kind="command", argv=tuple(parts))


def _relative_script(entry: EntryPoint, source_dir: Path) -> EntryPoint:
    """A script path normalised relative to the source dir, refused when it leaves it."""
    if entry.kind != "script":
        return entry
    program = entry.argv[0]
    full = Path(os.path.normpath(source_dir / program))
    if not full.is_relative_to(source_dir):
        raise SpecError(
            f"entry_point: '{program}' is outside the source dir '{source_dir}'",
            hint="move the script into the source dir or set source_dir to a parent of it",
            field="entry_point",
        )
    return EntryPoint(kind="script", argv=(full.relative_to(source_dir).as_posix(),))


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


_DISTRIBUTION_KEYS = {
    "torch_distributed": ("enabled", "processes_per_host"),
    "pytorchddp": ("enabled", "processes_per_host"),
    "mpi": ("enabled", "processes_per_host", "custom_mpi_options"),
}


def _distribution(table: Mapping[str, Any]) -> Distribution | None:
    """``distribution = {torch_distributed = {enabled = true}}`` and the like, as SDK v2's
    ``distribution=`` argument takes it; one strategy at most, the disabled ones ignored."""
    enabled: list[Distribution] = []
    for name, value in table.items():
        key = f"distribution.{name}"
        if name not in _DISTRIBUTION_KEYS:
            raise SpecError(
                f"{key}: unknown distribution strategy '{name}'",
                hint="use torch_distributed, pytorchddp or mpi",
                field=key,
            )
        if not isinstance(value, Mapping):
            raise SpecError(
                f"{key}: expected a table", hint=f"{name} = {{enabled = true}}", field=key
            )
        unknown = sorted(set(value) - set(_DISTRIBUTION_KEYS[name]))
        if unknown:
            raise SpecError(
                f"{key}: unknown setting '{unknown[0]}'",
                hint="settings here: " + ", ".join(_DISTRIBUTION_KEYS[name]),
                field=key,
            )
        if not _bool(value.get("enabled", False), f"{key}.enabled"):
            continue
        per_host = value.get("processes_per_host")
        options = value.get("custom_mpi_options", "")
        if not isinstance(options, str):
            raise SpecError(
                f"{key}.custom_mpi_options: expected a string",
                hint='custom_mpi_options = "-x NCCL_DEBUG=INFO"',
                field=f"{key}.custom_mpi_options",
            )
        enabled.append(
            Distribution(
                kind=_choice(name, key, tuple(_DISTRIBUTION_KEYS)),
                processes_per_host=None
                if per_host is None
                else _int(per_host, f"{key}.processes_per_host", 1, 1024),
                custom_mpi_options=options,
            )
        )
    if len(enabled) > 1:
        raise SpecError(
            "distribution: more than one strategy is enabled "
            f"({', '.join(d.kind for d in enabled)})",
            hint="enable one of torch_distributed, pytorchddp and mpi",
            field="distribution",
        )
    return enabled[0] if enabled else None


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


def _environment(table: Mapping[str, Any]) -> dict[str, str]:
    if len(table) > MAX_ENV_ENTRIES:
        raise SpecError(
            f"environment: {len(table)} variables, SageMaker allows at most {MAX_ENV_ENTRIES}",
            hint="move configuration into a config file shipped with the code",
            field="environment",
        )
    env: dict[str, str] = {}
    for key, value in table.items():
        where = f"environment.{key}"
        if not ENV_KEY_RE.match(key):
            raise SpecError(
                f"{where}: invalid variable name", hint="use [A-Za-z_][A-Za-z0-9_]*", field=where
            )
        if key in SECRET_NAMES or SECRET_NAME_RE.search(key):
            raise SpecError(
                f"{where}: looks like a secret; job environments are visible in the job's "
                "description and records",
                hint="give the job an IAM role or read the secret at run time from a secrets store",
                field=where,
            )
        if isinstance(value, (dict, list)) or value is None:
            raise SpecError(f"{where}: must be a string", hint="quote the value", field=where)
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if len(text) > MAX_ENV_VALUE:
            raise SpecError(
                f"{where}: value is {len(text)} characters, at most {MAX_ENV_VALUE} are allowed",
                hint="ship long values in a file with the code",
                field=where,
            )
        env[key] = text
    return env


def _location(value: Any, project_dir: Path, field_name: str) -> str:
    """A URI (``s3://…``) unchanged, or a local path made absolute against the project."""
    text = _str(value, field_name)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        if scheme != "s3":
            raise SpecError(
                f"{field_name}: unsupported scheme '{scheme}://'",
                hint="use a local path or s3://bucket/prefix",
                field=field_name,
            )
        bucket = text[len("s3://") :].split("/", 1)[0]
        if not S3_BUCKET_RE.match(bucket):
            raise SpecError(
                f"{field_name}: {text!r} does not name a valid S3 bucket",
                hint="use s3://bucket/prefix with a bucket of 3-63 lowercase letters, digits, "
                "'.' and '-'",
                field=field_name,
            )
        return text
    return str((project_dir / Path(text).expanduser()).absolute())


def _path(value: Any, project_dir: Path, field_name: str) -> Path:
    return (project_dir / Path(_str(value, field_name)).expanduser()).absolute()


def _str(value: Any, field_name: str) -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(
            f"{field_name}: expected a non-empty string, got {value!r}",
            hint="quote it in TOML",
            field=field_name,
        )
    return value


def _instance_type(value: Any) -> str:
    """'local', 'local_gpu' or an ml.* type (checked against SageMaker's list by its backend)."""
    text = _str(value, "instance_type")
    if text in LOCAL_INSTANCE_TYPES or text.startswith("ml."):
        return text
    close = difflib.get_close_matches(text.lower(), sorted(LOCAL_INSTANCE_TYPES), n=1, cutoff=0.6)
    guess = close[0] if close else None
    raise SpecError(
        f"instance_type: {text!r} is neither 'local', 'local_gpu' nor an ml.* instance type",
        hint=(f"did you mean '{guess}'? " if guess else "")
        + "use local (this machine) or e.g. ml.m5.xlarge (SageMaker)",
        field="instance_type",
    )


def _regex(value: Any, field_name: str) -> str:
    """A metric regex: it must compile, since each output line is matched against it."""
    text = _str(value, field_name)
    try:
        re.compile(text)
    except re.error as exc:
        raise SpecError(
            f"{field_name}: {text!r} is not a valid regular expression ({exc})",
            hint="fix the pattern; its first group captures the value, e.g. 'loss=([0-9.]+)'",
            field=field_name,
        ) from exc
    return text


def _str_list(value: Any, field_name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpecError(
            f"{field_name}: expected a list of strings",
            hint='e.g. ["a", "b"]',
            field=field_name,
        )
    return list(value)


def _int(value: Any, field_name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SpecError(
            f"{field_name}: expected an integer in {low}..{high}, got {value!r}",
            hint=None,
            field=field_name,
        )
    return value


#: Seconds into each attempt when no times are given.
DEFAULT_INTERVAL = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptionPlan:
    """Interrupt each attempt ``after[i]`` seconds after it starts training, then let it finish."""

    after: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.after)


def parse_interrupt_times(count: int, at: str | None, default_interval: float) -> InterruptionPlan:
    """``--simulate-interruptions N`` with ``--interrupt-at 5,12`` (seconds into each attempt).

    Without ``at`` every attempt is interrupted ``default_interval`` seconds in.
    Raises ValueError on a malformed or mismatched list.
    """
    if count < 0:
        raise ValueError("the number of interruptions cannot be negative")
    if at is None:
        return InterruptionPlan(after=(default_interval,) * count)
    times = tuple(float(part) for part in at.split(",") if part.strip())
    if any(t <= 0 for t in times):
        raise ValueError("interruption times must be positive seconds")
    if count and len(times) != count:
        raise ValueError(f"{count} interruptions but {len(times)} times given")
    return InterruptionPlan(after=times)


def _interruptions(count: Any, at: Any) -> tuple[float, ...]:
    if count in (None, 0) and at in (None, ""):
        return ()
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        raise SpecError(
            f"simulate_interruptions: expected a number of interruptions, got {count!r}",
            hint="e.g. --simulate-interruptions 2",
            field="simulate_interruptions",
        )
    text = ",".join(str(v) for v in at) if isinstance(at, list) else at
    try:
        plan = parse_interrupt_times(
            count or 0, None if text in (None, "") else str(text), DEFAULT_INTERVAL
        )
    except ValueError as exc:
        raise SpecError(
            f"interrupt_at: {exc}",
            hint="give one time in seconds per interruption, e.g. --interrupt-at 5,12",
            field="interrupt_at",
        ) from exc
    return plan.after


def _bool(value: Any, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise SpecError(
            f"{field_name}: expected true or false, got {value!r}", hint=None, field=field_name
        )
    return value


def _cost(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise SpecError(
            f"max_cost: expected a finite, positive amount in USD, got {value!r}",
            hint="e.g. max_cost = 25",
            field="max_cost",
        )
    return float(value)


def _framework_by_default(config: Resolved, kind: Any, entry: EntryPoint) -> Any:
    """``framework`` when ``image.framework`` names a prebuilt image and ``kind`` is left at its
    default with a script entry point (the toolkit runs scripts); else ``kind`` as given.
    Raises SpecError for ``kind = "framework"`` with a module or command entry point."""
    default = config.source("kind") in (None, "default")
    if default and config.get("image.framework") and entry.kind == "script":
        return "framework"
    if kind == "framework" and entry.kind != "script":
        raise SpecError(
            f"kind = 'framework' runs a script (sagemaker_program), not '{entry.describe()}'",
            hint="give entry_point as a .py script under source_dir, or set kind = 'script'",
            field="entry_point",
        )
    return kind


def _dependencies(config: Resolved, kind: str) -> Any:
    if kind == "framework" and config.source("dependencies") in (None, "default"):
        return "auto"
    return _choice(config.get("dependencies"), "dependencies", ("current", "isolated", "auto"))


def _choice(value: Any, field_name: str, choices: tuple[str, ...]) -> Any:
    if value not in choices:
        raise SpecError(
            f"{field_name}: {value!r} is not one of {', '.join(choices)}",
            hint=f"set {field_name} to one of: {', '.join(choices)}",
            field=field_name,
        )
    return value


def _default_base_name(project_dir: Path) -> str:
    return _base_name(project_dir.name or "job", strict=False)


def _base_name(name: str, *, strict: bool = True) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40].strip("-")
    if strict and cleaned != name:
        raise SpecError(
            f"base_job_name: '{name}' may only use letters, digits and hyphens",
            hint=f"use '{cleaned or 'job'}'",
            field="base_job_name",
        )
    return cleaned or "job"
